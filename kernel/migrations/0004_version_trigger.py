from django.db import migrations

from kernel.versioning import install_function


class Migration(migrations.Migration):
    """The trigger function that keeps every versioned table's `version` (kernel.versioning)."""

    dependencies = [
        ("deepiri", "0003_outbox_failures"),
    ]

    operations = [
        install_function(),
    ]
