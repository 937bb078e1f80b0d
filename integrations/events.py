"""Domain events emitted by integrations (see deepiri.events).

integration.synced  (user, connection, run)
    A sync run finished (inside its final transaction; after-commit subscribers such as
    notifications run once it committed). `run` is an `integrations.models.SyncRun` with its
    counts (`created_count`, `updated_count`, `completed_count`, `deleted_count`, ...).
integration.failed  (user, connection, run, error)
    A sync failed, or the grant died (`error` starts with "needs_reauth:"; `run` may be None).
    Notifications tells the user; the connection's `status` says what to do.
"""

INTEGRATION_SYNCED = "integration.synced"
INTEGRATION_FAILED = "integration.failed"
