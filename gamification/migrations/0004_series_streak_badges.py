"""Badges for a repeating task's series streak (occurrences completed on time in a row), counted
from the `series_streak` fact of each recorded completion. Written out, not imported, like the
rest of the catalogue (0002)."""

from django.db import migrations

BADGES = [
    # slug, name, icon, category, rarity, points, criteria, description
    ("ten-in-a-row", "Ten in a Row", "🔁", "streak", "rare", 200,
     {"type": "event_count", "event": "task.completed", "filters": {"series_streak__gte": 10}, "value": 1},
     "Complete 10 occurrences of a repeating task in a row, each before the next fell due."),
    ("habit-formed", "Habit Formed", "🌱", "streak", "epic", 500,
     {"type": "event_count", "event": "task.completed", "filters": {"series_streak__gte": 30}, "value": 1},
     "Complete 30 occurrences of a repeating task in a row, each before the next fell due."),
]


def seed(apps, schema_editor):
    Badge = apps.get_model("gamification", "Badge")
    last = Badge.objects.order_by("-sort_order").values_list("sort_order", flat=True).first() or 0
    for offset, (slug, name, icon, category, rarity, points, criteria, description) in enumerate(BADGES, start=1):
        Badge.objects.get_or_create(
            slug=slug,
            defaults={"name": name, "icon": icon, "category": category, "rarity": rarity, "criteria": criteria,
                      "points": points, "description": description, "active": True, "sort_order": last + offset},
        )


class Migration(migrations.Migration):
    dependencies = [("gamification", "0003_streak_reminder_job")]

    # Unapplying leaves the two badges in the catalogue: the previous release runs with them (the
    # upgrade test runs its smoke on this schema), nobody can earn them there, and applying again
    # finds them instead of making new rows that would orphan any award.
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
