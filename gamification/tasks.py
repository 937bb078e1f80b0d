"""Celery tasks: thin wrappers over services."""

from celery import shared_task

from gamification import services


@shared_task(name="gamification.refresh_streaks")
def refresh_streaks() -> int:
    """Beat job: spend freezes and break streaks that nobody has read, in each user's time zone."""
    return services.refresh_all_streaks()


@shared_task(name="gamification.streak_at_risk")
def streak_at_risk_reminders() -> int:
    """Beat job (hourly): remind users in their local evening that their daily streak is at risk."""
    from gamification import reminders

    return reminders.send_streak_at_risk_reminders()
