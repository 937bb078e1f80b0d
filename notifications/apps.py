from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self):
        from accounts.events import FriendRequested
        from deepiri import events, exports
        from realtime import publisher

        from . import selectors, services, subscribers

        exports.register("notifications", selectors.export_user)
        publisher.register_sequence_floor(services.highest_pushed_id)
        events.subscribe(FriendRequested, subscribers.on_friend_requested, after_commit=True)
