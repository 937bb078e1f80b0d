from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self):
        from accounts import handlers  # noqa: PLC0415 - handlers load models: registry not ready in apps.py

        handlers.register()
