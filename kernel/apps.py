from django.apps import AppConfig
from django.db.backends.signals import connection_created

from kernel.db import use_c_timestamptz_loader


class DeepiriConfig(AppConfig):
    name = "kernel"
    label = "deepiri"  # its tables and migrations keep their name

    def ready(self):
        connection_created.connect(use_c_timestamptz_loader, dispatch_uid="kernel.db.use_c_timestamptz_loader")
        # The jobs' screens (outbox, failed jobs). Not in kernel/admin.py: that module defines
        # the admin site itself, and registering while the site is being built would be lost.
        from kernel import admin_jobs  # noqa: F401, PLC0415 - models are not ready while apps.py loads
