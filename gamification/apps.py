from django.apps import AppConfig


class GamificationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "gamification"
    verbose_name = "Gamification"

    def ready(self):
        from deepiri import events, exports
        from gamification import handlers

        events.subscribe("task.completed", handlers.on_task_completed)
        events.subscribe("task.reopened", handlers.on_task_reopened)
        events.subscribe("challenge.completed", handlers.on_challenge_completed)
        events.subscribe("integration.synced", handlers.on_integration_synced, after_commit=True)
        events.subscribe("leaderboard.changed", handlers.on_leaderboard_changed, after_commit=True)
        events.subscribe("user.deleted", handlers.on_user_deleted, after_commit=True)
        handlers.register_socket()
        exports.register("gamification", handlers.export_user)
