from django.apps import AppConfig


class TasksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tasks"
    verbose_name = "Tasks"

    def ready(self):
        from tasks import handlers  # noqa: PLC0415 - handlers load models: registry not ready in apps.py

        handlers.register()
