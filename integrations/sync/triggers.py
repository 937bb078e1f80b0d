"""The trigger that writes `integrations_syncchange` (see integrations.sync.models).

AFTER each INSERT, UPDATE that changed the row, and DELETE of a synced table, in the writing
transaction. TG_ARGV: the kind, and the column naming the owner (`id` for the user itself).
A user's own deletion purges their log: their objects' tombstones, written moments earlier by
the cascade, have nobody left to read them.
"""

from __future__ import annotations

from django.db import migrations

FUNCTION = "deepiri_sync_change"

CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := to_jsonb(OLD);
        IF TG_ARGV[1] = 'id' THEN
            DELETE FROM integrations_syncchange WHERE user_id = r->>'id';
            RETURN OLD;
        END IF;
    ELSE
        r := to_jsonb(NEW);
    END IF;
    INSERT INTO integrations_syncchange (user_id, kind, object_id, deleted, xid, created_at)
    VALUES (r->>TG_ARGV[1], TG_ARGV[0], r->>'id', TG_OP = 'DELETE',
            pg_current_xact_id()::text::bigint, clock_timestamp());
    RETURN NULL;
END
$$;
"""  # noqa: S608 - a constant statement, no input in it

# (table, kind, owner column, what makes an UPDATE a change). Versioned tables compare `version`
# (the version trigger already ignores bookkeeping columns such as `last_login`).
TABLES = (
    ("tasks_task", "task", "user_id", "OLD.version IS DISTINCT FROM NEW.version"),
    ("challenges_challenge", "challenge", "user_id", "OLD.* IS DISTINCT FROM NEW.*"),
    ("notifications_notification", "notification", "user_id", "OLD.version IS DISTINCT FROM NEW.version"),
    ("accounts_user", "profile", "id", "OLD.version IS DISTINCT FROM NEW.version"),
)


def _statements(table: str, kind: str, owner: str, changed: str) -> list[str]:
    call = f"EXECUTE FUNCTION {FUNCTION}('{kind}', '{owner}')"
    return [
        f"CREATE TRIGGER {table}_sync_write AFTER INSERT OR DELETE ON {table} FOR EACH ROW {call};",
        f"CREATE TRIGGER {table}_sync_update AFTER UPDATE ON {table} FOR EACH ROW WHEN ({changed}) {call};",
    ]


def install():
    """The migration operation installing the function and the triggers (PostgreSQL only: the
    embedded SQLite setup has no sync)."""

    def forward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(CREATE_FUNCTION)
        for table, kind, owner, changed in TABLES:
            for statement in _statements(table, kind, owner, changed):
                schema_editor.execute(statement)

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, *_ in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_sync_write ON {table};")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_sync_update ON {table};")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}();")

    return migrations.RunPython(forward, backward, elidable=False)
