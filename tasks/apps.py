from django.apps import AppConfig


class TasksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tasks"
    verbose_name = "Tasks"

    def ready(self):
        from deepiri import exports

        def export_tasks(user):
            from tasks.serializers import task_to_dict

            return [task_to_dict(task) for task in user.tasks.order_by("created_at")]

        exports.register("tasks", export_tasks)
