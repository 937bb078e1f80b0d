from django.apps import AppConfig


class ChallengesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "challenges"
    verbose_name = "Challenges"

    def ready(self):
        import challenges.tasks  # noqa: F401  (its jobs are registered in every process: services queue them by name)
        from deepiri import exports

        def export_challenges(user):
            from challenges.serializers import challenge_to_dict

            return [challenge_to_dict(c) for c in user.challenges.select_related("task").order_by("created_at")]

        exports.register("challenges", export_challenges)

        from challenges import handlers, selectors
        from challenges.sessions import services as sessions
        from challenges.sessions import socket

        exports.register("challenge_sessions", sessions.export_user)
        socket.register()

        from challenges.events import ChallengeCompleted
        from deepiri import events

        # A session is finished by the server-checked completion, never by a socket message.
        events.subscribe(ChallengeCompleted, sessions.on_challenge_completed, after_commit=True)
        handlers.register()
        selectors.register_task_columns()
