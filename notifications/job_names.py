"""Names of the notifications app's Celery jobs, queued by name through `deepiri.jobs`."""

SEND_EMAIL = "notifications.send_email"
CLEANUP = "notifications.cleanup"
REPUSH_PENDING = "notifications.repush_pending"
