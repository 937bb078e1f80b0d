"""The durable half of the per-user socket event ids (realtime.publisher)."""

from django.db import models


class EventSequence(models.Model):
    """Ids are drawn in Redis (fast, shared by every process) but only inside a block reserved
    here first: `reserved` is at least every id ever handed out to this user. When Redis loses
    the sequence, the next block starts above `reserved`, so ids never go backwards."""

    user_id = models.CharField(primary_key=True, max_length=64)
    reserved = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.user_id}: {self.reserved}"
