from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self):
        from deepiri import events, exports

        from . import handlers, metrics

        handlers.subscribe_all()
        events.subscribe("user.deleted", handlers.on_user_deleted, after_commit=True)
        events.subscribe("user.activation_changed", handlers.on_user_activation_changed, after_commit=True)
        exports.register("notifications", handlers.export_user)
        exports.register("challenge_sessions", handlers.export_sessions)
        metrics.register()
