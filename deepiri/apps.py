from django.apps import AppConfig
from django.db.backends.signals import connection_created


class DeepiriConfig(AppConfig):
    name = "deepiri"

    def ready(self):
        from deepiri.db import use_c_timestamptz_loader

        connection_created.connect(use_c_timestamptz_loader, dispatch_uid="deepiri.db.use_c_timestamptz_loader")
        # The jobs' screens (outbox, failed jobs). Not in deepiri/admin.py: that module defines
        # the admin site itself, and registering while the site is being built would be lost.
        from deepiri import admin_jobs  # noqa: F401
