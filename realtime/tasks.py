"""Celery tasks of the realtime layer."""

from celery import shared_task

from realtime import leaderboards


# Short limits: an update later than this is stale, and the next change sends a fresh one.
@shared_task(name="realtime.send_leaderboard_update", soft_time_limit=20, time_limit=30, ignore_result=True)
def send_leaderboard_update(period: str, trailing: bool) -> None:
    """Send the coalesced `leaderboard-update` of `period` (realtime.leaderboards.changed)."""
    if trailing:
        leaderboards.trailing_flush(period)
    else:
        leaderboards.flush(period)
