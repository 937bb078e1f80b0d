"""`version` of a mutable resource: an integer the database moves on at every write.

A trigger (`deepiri_bump_version`, kernel migration 0004) sets `version = OLD.version + 1` on
every UPDATE that changes the row: any write counts (a service's save, a queryset `update()`,
an admin edit, a sync), it is race-free (computed under the row lock of the UPDATE), and the
value a writer puts in the column is ignored. Columns named when the trigger is installed
(`updated_at` always) do not count: a sign-in touching `last_login` is not a new version of the
profile. New rows start at 1 (`db_default`, so the previous release's INSERTs get it too).

A model opts in with `version = version_field()` and, in the migration adding the column,
`install_trigger("<table>", ignored=(...))` (PostgreSQL: the trigger function; SQLite, the
embedded setup: an AFTER UPDATE trigger doing the same). Views check a client's `If-Match` with
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


def _postgresql_trigger(table: str, ignored: tuple[str, ...]) -> str:
    args = ", ".join(f"'{name}'" for name in ignored)
    return (
        f"CREATE TRIGGER {table}_bump_version BEFORE UPDATE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}({args});"
    )


def _sqlite_trigger(table: str, columns: list[str], pk: str, ignored: tuple[str, ...]) -> str:
    """SQLite (the embedded setup) has no BEFORE-UPDATE assignment: an AFTER trigger writes the
    version from OLD (recursive triggers are off, so its own UPDATE does not fire it again)."""
    watched = [c for c in columns if c not in ignored]
    changed = " OR ".join(f'NEW."{c}" IS NOT OLD."{c}"' for c in watched) or "0"
    return (
        f'CREATE TRIGGER "{table}_bump_version" AFTER UPDATE ON "{table}" FOR EACH ROW BEGIN '  # noqa: S608 - names from the migration and the table itself, never input
        f'UPDATE "{table}" SET "version" = OLD."version" + (CASE WHEN {changed} THEN 1 ELSE 0 END) '
        f'WHERE "{pk}" = NEW."{pk}"; END;'
    )


def install_trigger(table: str, ignored: tuple[str, ...] = ()):
    """The migration operation that keeps `table.version` (a column added before it), on
    PostgreSQL and on SQLite. Migrations call this: keep what it installs for a given
    (table, ignored) the same, or add a new function."""
    ignored = (*ALWAYS_IGNORED, *ignored)

    def forward(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor == "postgresql":
            schema_editor.execute(_postgresql_trigger(table, ignored))
        elif connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                description = connection.introspection.get_table_description(cursor, table)
                pk = connection.introspection.get_primary_key_column(cursor, table)
            schema_editor.execute(_sqlite_trigger(table, [c.name for c in description], pk, ignored))

    def backward(apps, schema_editor):
        quote = '"' if schema_editor.connection.vendor == "sqlite" else ""
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {quote}{table}_bump_version{quote}" + (
            f" ON {table};" if schema_editor.connection.vendor == "postgresql" else ";"
        ))

    return migrations.RunPython(forward, backward, elidable=False)


def install_function():
    """The migration operation that creates the trigger function (PostgreSQL only; SQLite's
    triggers carry their own body)."""

    def forward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(CREATE_FUNCTION)

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(DROP_FUNCTION)

    return migrations.RunPython(forward, backward, elidable=False)


def refresh_version(instance) -> None:
    """Read the version the database gave `instance` after a write (one query)."""
    instance.refresh_from_db(fields=["version"])
