from django.db import models

from kernel.ids import new_id


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
    """A Celery job that must not be lost (kernel.jobs). Written in the business transaction,
    so it exists exactly when the change that asked for it committed; published after commit
    (`published_at`), or by the `deepiri.drain_outbox` sweep when the process died first or the
    broker refused it. The worker claims the row before running the job and deletes it once the
    job succeeded, so a job published twice (hook and sweep, a redelivery) runs once; a job that
    failed keeps its row with the error (`failed_at`) for staff to re-run from the admin.

    The columns after `last_error` are nullable: code of the previous release still inserts and
    deletes rows during a deploy."""

    id = models.BigAutoField(primary_key=True)
    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True, default="")
    published_at = models.DateTimeField(null=True, blank=True)
    # A worker running the job holds the row until then (a worker that died lets it go).
    claimed_until = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveIntegerField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    traceback = models.TextField(null=True, blank=True)
    # The request id and trace id of whoever queued the job, for the worker's log lines.
    headers = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "outbox job"

    def __str__(self):
        return f"{self.task} #{self.pk}"

    @property
    def state(self) -> str:
        if self.failed_at:
            return "failed"
        if self.published_at:
            return "published"
        return "waiting"


class JobFailure(models.Model):
    """A Celery job that failed or is being retried, recorded from the worker's signals
    (kernel.jobs.record_failure / record_retry): one row per job id, updated on each retry.
    Kept JOBS_FAILURE_RETENTION_DAYS days (`deepiri.cleanup_job_failures`)."""

    class State(models.TextChoices):
        RETRYING = "retrying", "retrying"
        FAILED = "failed", "failed"
        RERUN = "rerun", "re-run by staff"

    id = models.BigAutoField(primary_key=True)
    task_id = models.CharField(max_length=255, unique=True)
    task = models.CharField(max_length=200, db_index=True)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=State.choices)
    exception = models.CharField(max_length=200, blank=True, default="")
    error = models.CharField(max_length=1000, blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=1)
    outbox_id = models.BigIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-last_seen"]
        verbose_name = "failed job"

    def __str__(self):
        return f"{self.task} {self.task_id}"


class IdempotencyRecord(models.Model):
    """The first answer to a POST that carried an `Idempotency-Key`, replayed for 24 h to the
    same user sending the same key to the same endpoint (kernel.idempotency)."""

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
