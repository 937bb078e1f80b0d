from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        from analytics import handlers  # noqa: PLC0415 - handlers load models: registry not ready in apps.py

        handlers.register()
