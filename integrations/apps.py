from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from integrations import handlers  # noqa: PLC0415 - handlers load models: registry not ready in apps.py

        handlers.register()
