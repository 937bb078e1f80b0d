from django.apps import AppConfig


class ChallengesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "challenges"
    verbose_name = "Challenges"

    def ready(self):
        from challenges import handlers  # noqa: PLC0415 - handlers load models: registry not ready in apps.py

        handlers.register()
