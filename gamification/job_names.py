"""Names of the gamification app's Celery jobs. Services queue them by name through
`kernel.jobs` (gamification.tasks imports the services, so the services never import it back).
The beat rows in the database hold these names: renaming one needs a data migration."""

REFRESH_STREAKS = "gamification.refresh_streaks"
STREAK_AT_RISK = "gamification.streak_at_risk"
REBUILD_LEADERBOARDS = "gamification.rebuild_leaderboards"
RECONCILE_LEADERBOARDS = "gamification.reconcile_leaderboards"
