"""Names of the sync jobs `integrations.sync.tasks` registers (queued by name through kernel.jobs)."""

CLEANUP = "integrations.sync.cleanup"
