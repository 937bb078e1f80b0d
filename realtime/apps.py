from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "realtime"
    verbose_name = "Real time"

    def ready(self):
        from deepiri import events

        from . import handlers, metrics

        events.subscribe("user.deleted", handlers.on_user_deleted, after_commit=True)
        events.subscribe("user.activation_changed", handlers.on_user_activation_changed, after_commit=True)
        metrics.register()
