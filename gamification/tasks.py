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


@shared_task(name="gamification.rebuild_leaderboards", soft_time_limit=100, time_limit=120)
def rebuild_leaderboards() -> int:
    """Rebuild every current leaderboard from the ledger (Redis lost them). Idempotent."""
    from gamification import leaderboards

    return len(leaderboards.heal())


@shared_task(name="gamification.reconcile_leaderboards", soft_time_limit=100, time_limit=120)
def reconcile_leaderboards() -> int:
    """Beat job: fix any drift between the leaderboards and the ledger (self-healing)."""
    from gamification import leaderboards

    return len(leaderboards.reconcile())
