from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from deepiri import exports
        from integrations import export, handlers

        exports.register("integrations", export.export_user)
        handlers.register()
