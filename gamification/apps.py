from django.apps import AppConfig


class GamificationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "gamification"
    verbose_name = "Gamification"

    def ready(self):
        import gamification.tasks  # noqa: F401  (its jobs are registered in every process: leaderboards queue the rebuild by name)
        from deepiri import exports
        from gamification import handlers

        handlers.register()
        exports.register("gamification", handlers.export_user)
