"""The admin app's config: Deepiri's admin site (dashboard on the index) and role upkeep.

Installed in place of `django.contrib.admin` (settings, admin section). Kept apart from
`kernel/admin.py` because INSTALLED_APPS imports this module before the app registry is ready.
"""

from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class DeepiriAdminConfig(AdminConfig):
    default_site = "kernel.admin.DeepiriAdminSite"

    def ready(self):
        super().ready()
        from kernel.roles import post_migrate_sync  # noqa: PLC0415 - imports auth models: registry not ready

        post_migrate.connect(post_migrate_sync, dispatch_uid="kernel.roles.post_migrate_sync")
