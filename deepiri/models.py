from django.db import models

from deepiri.ids import new_id


class BaseModel(models.Model):
    """Every domain table: a 24-hex string id, and UTC creation/update times."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
