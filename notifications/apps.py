from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self):
        from notifications import handlers  # noqa: PLC0415 - handlers load models: registry not ready in apps.py

        handlers.register()
