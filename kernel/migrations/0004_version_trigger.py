from django.db import migrations


class Migration(migrations.Migration):
    """The trigger function that keeps every versioned table's `version` (kernel.versioning)."""

    dependencies = [
        ("deepiri", "0003_outbox_failures"),
    ]

    operations = [
        migrations.RunSQL(
            """CREATE OR REPLACE FUNCTION deepiri_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV: the columns whose change is not a new version of the resource.
    NEW.version := OLD.version;
    IF (to_jsonb(NEW) - TG_ARGV) IS DISTINCT FROM (to_jsonb(OLD) - TG_ARGV) THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END
$$;
""",
            "DROP FUNCTION IF EXISTS deepiri_bump_version();",
        ),
    ]
