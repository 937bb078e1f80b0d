"""Celery tasks: thin wrappers over services."""

from celery import shared_task

from gamification import services


@shared_task(name="gamification.refresh_streaks")
def refresh_streaks() -> int:
    """Beat job: spend freezes and break streaks that nobody has read, in each user's time zone."""
    return services.refresh_all_streaks()
