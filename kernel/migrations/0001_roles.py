"""Create the role groups `user`, `staff`, `admin`, `moderator` with the permissions that exist now.

Permissions of models added by later migrations are attached by `kernel.roles.post_migrate_sync`
after every `migrate`.
"""

from django.db import migrations


def create_roles(apps, schema_editor):
    from kernel.roles import sync_roles

    sync_roles(apps=apps, using=schema_editor.connection.alias)


def remove_roles(apps, schema_editor):
    from kernel.roles import ROLE_NAMES

    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name__in=ROLE_NAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
