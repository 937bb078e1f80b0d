from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        from analytics import mongo, receivers
        from deepiri import exports, health

        mongo.connect()  # registers only; the client is created on first use (fork-safe)
        receivers.subscribe_all()
        health.register_check("mongo", mongo.health_check)

        exports.register("analytics", receivers.export_section)
