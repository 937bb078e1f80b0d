from django.apps import AppConfig


class GamificationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "gamification"
    verbose_name = "Gamification"

    def ready(self):
        from gamification import handlers  # noqa: PLC0415 - handlers load models: registry not ready in apps.py

        handlers.register()
