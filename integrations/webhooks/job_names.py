"""Names of the webhook jobs `integrations.webhooks.tasks` registers (queued by name through
kernel.jobs, never by importing the task module)."""

DELIVER_ENDPOINT = "integrations.webhooks.deliver_endpoint"
SCAN_DUE = "integrations.webhooks.scan_due"
