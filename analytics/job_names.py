"""Names of the analytics app's Celery jobs, queued by name through `kernel.jobs`."""

APPLY_EVENT = "analytics.apply_event"
RECORD_REOPEN = "analytics.record_reopen"
DELETE_USER_DATA = "analytics.delete_user_data"
NIGHTLY_INSIGHTS = "analytics.nightly_insights"
REBUILD_USER = "analytics.rebuild_user"
