from django.apps import AppConfig


class TasksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tasks"
    verbose_name = "Tasks"

    def ready(self):
        from deepiri import exports

        def export_tasks(user):
            from tasks import columns
            from tasks.serializers import tasks_to_dicts

            return tasks_to_dicts(columns.annotate(user.tasks.order_by("created_at")))

        exports.register("tasks", export_tasks)
