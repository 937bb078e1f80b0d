"""Names of the integrations jobs that `integrations.tasks` registers with Celery.

Services queue these jobs by name through `kernel.jobs`, and never import the task module. That
module calls the services, so importing it back would close a circle. Going through
`kernel.jobs` also keeps a job the broker refused in the outbox, where `.delay()` lost it.
"""

SYNC_CONNECTION = "integrations.sync_connection"
REGISTER_WEBHOOKS = "integrations.register_webhooks"
