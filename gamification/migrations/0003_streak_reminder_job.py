"""The streak-at-risk reminder moved from notifications to gamification (task
`gamification.streak_at_risk`, schedule `gamification-streak-at-risk`). Beat copies the new entry
into the database on start but never deletes one, so the old row (which names a task that no
longer exists) is renamed here, keeping any change staff made to its schedule."""

from django.db import migrations

OLD_NAME, OLD_TASK = "notifications-streak-at-risk", "notifications.streak_at_risk"
NEW_NAME, NEW_TASK = "gamification-streak-at-risk", "gamification.streak_at_risk"


def forwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NEW_NAME).exists():
        PeriodicTask.objects.filter(name=OLD_NAME).delete()
    else:
        PeriodicTask.objects.filter(name=OLD_NAME).update(name=NEW_NAME, task=NEW_TASK)


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NEW_NAME).update(name=OLD_NAME, task=OLD_TASK)


class Migration(migrations.Migration):
    dependencies = [
        ("gamification", "0002_seed_badges"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
