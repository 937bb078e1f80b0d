from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "realtime"
    verbose_name = "Real time"

    def ready(self):
        from realtime import handlers  # noqa: PLC0415 - handlers load models: registry not ready in apps.py

        handlers.register()
