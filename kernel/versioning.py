"""`version` of a mutable resource: an integer the database moves on at every write.

A trigger (`deepiri_bump_version`, kernel migration 0004) sets `version = OLD.version + 1` on
every UPDATE that changes the row: any write counts (a service's save, a queryset `update()`,
an admin edit, a sync), it is race-free (computed under the row lock of the UPDATE), and the
value a writer puts in the column is ignored. Columns named when the trigger is installed
(`updated_at` always) do not count: a sign-in touching `last_login` is not a new version of the
profile. New rows start at 1 (`db_default`, so the previous release's INSERTs get it too).

A model opts in with `version = version_field()` and, in the migration adding the column,
`*install_trigger("<table>", ignored=(...))`. Views check a client's `If-Match` with
`kernel.api.conditional.precondition` and answer the bumped value after `refresh_version`.
"""

from __future__ import annotations

from django.db import migrations, models

FUNCTION = "deepiri_bump_version"
ALWAYS_IGNORED = ("updated_at", "version")

CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV: the columns whose change is not a new version of the resource.
    NEW.version := OLD.version;
    IF (to_jsonb(NEW) - TG_ARGV) IS DISTINCT FROM (to_jsonb(OLD) - TG_ARGV) THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END
$$;
"""
DROP_FUNCTION = f"DROP FUNCTION IF EXISTS {FUNCTION}();"


def version_field():
    return models.PositiveIntegerField(
        default=1, db_default=1, editable=False, help_text="Moved on by the database at every write."
    )


def install_trigger(table: str, ignored: tuple[str, ...] = ()) -> list:
    """Migration operations that keep `table.version` (a column added before them)."""
    args = ", ".join(f"'{name}'" for name in (*ALWAYS_IGNORED, *ignored))
    name = f"{table}_bump_version"
    return [
        migrations.RunSQL(
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {FUNCTION}({args});",
            f"DROP TRIGGER IF EXISTS {name} ON {table};",
        )
    ]


def refresh_version(instance) -> None:
    """Read the version the database gave `instance` after a write (one query)."""
    instance.refresh_from_db(fields=["version"])
