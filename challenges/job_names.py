"""Names of the challenges app's Celery jobs. Services queue them by name through `kernel.jobs`
(challenges.tasks imports the services, so the services never import it back)."""

RUN_GENERATION = "challenges.run_generation"
UNDERSTAND_TASK = "challenges.understand_task"
EXPIRE_OVERDUE = "challenges.expire_overdue_challenges"
REQUEUE_UNDERSTANDING = "challenges.requeue_understanding"
