"""Names of the notifications app's Celery jobs, queued by name through `kernel.jobs`."""

SEND_EMAIL = "notifications.send_email"
CLEANUP = "notifications.cleanup"
REPUSH_PENDING = "notifications.repush_pending"
PUSH = "notifications.push"
