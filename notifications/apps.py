from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self):
        from deepiri import exports
        from realtime import publisher

        from . import selectors, services

        exports.register("notifications", selectors.export_user)
        publisher.register_sequence_floor(services.highest_pushed_id)
