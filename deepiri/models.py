from django.db import models

from deepiri.ids import new_id


def label_of(obj, field: str) -> str:
    """How `str(obj)` names a related row (an account by its email, a badge by its name) when it
    is already loaded, as the admin's pages select it; its id otherwise, so that a `str()` never
    costs a query of its own."""
    relation = obj._meta.get_field(field)
    if relation.is_cached(obj):
        related = getattr(obj, field)
        return "-" if related is None else str(related)
    return str(getattr(obj, relation.attname))


class BaseModel(models.Model):
    """Every domain table: a 24-hex string id, and UTC creation/update times."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class OutboxJob(models.Model):
    """A Celery job that could not be handed to the broker (it was down): kept here and
    published by the `deepiri.drain_outbox` beat job (or the next worker start) once it is back.
    Jobs are idempotent, so one published twice (a crash between publish and delete) is harmless."""

    id = models.BigAutoField(primary_key=True)
    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.task} #{self.pk}"


class IdempotencyRecord(models.Model):
    """The first answer to a POST that carried an `Idempotency-Key`, replayed for 24 h to the
    same user sending the same key to the same endpoint (deepiri.idempotency)."""

    id = models.BigAutoField(primary_key=True)
    user_id = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=200)  # the endpoint: method and route name
    fingerprint = models.CharField(max_length=64)  # a hash of the request body
    status_code = models.PositiveSmallIntegerField(null=True)  # null while the first request runs
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_id", "scope", "key"], name="idempotency_user_scope_key"),
        ]

    def __str__(self):
        return f"{self.scope} {self.key}"
