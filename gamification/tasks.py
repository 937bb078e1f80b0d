"""Celery tasks: thin wrappers over services."""

from celery import shared_task

from gamification import job_names, leaderboards, reminders, services


@shared_task(name=job_names.REFRESH_STREAKS)  # the name the beat rows hold; the function says what it does
def catch_up_all_streaks() -> int:
    """Beat job: store the streaks as they stand today (spend freezes, break streaks whose day
    passed), in each user's time zone. Reads only show them so; this stores it."""
    return services.catch_up_all_streaks()


@shared_task(name=job_names.STREAK_AT_RISK)
def streak_at_risk_reminders() -> int:
    """Beat job (hourly): remind users in their local evening that their daily streak is at risk."""
    return reminders.send_streak_at_risk_reminders()


@shared_task(name=job_names.REBUILD_LEADERBOARDS, soft_time_limit=100, time_limit=120)
def rebuild_leaderboards() -> int:
    """Rebuild every current leaderboard from the ledger (Redis lost them). Idempotent."""
    return len(leaderboards.heal())


@shared_task(name=job_names.RECONCILE_LEADERBOARDS, soft_time_limit=100, time_limit=120)
def reconcile_leaderboards() -> int:
    """Beat job: fix any drift between the leaderboards and the ledger (self-healing)."""
    return len(leaderboards.reconcile())
