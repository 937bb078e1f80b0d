"""Seed the badge catalogue (Habitica-style content keyed by slug; staff edit it in the admin).

The catalogue is written out here, not imported, so this migration keeps meaning the same thing
whatever the code becomes. Every criteria is checked with the rules' validator before insert.
"""

from django.db import migrations

R = {"common": 50, "uncommon": 100, "rare": 200, "epic": 500, "legendary": 1000}


def count(metric, value):
    return {"type": "count", "metric": metric, "value": value}


def threshold(metric, value):
    return {"type": "threshold", "metric": metric, "value": value}


def events(event, value, **filters):
    return {"type": "event_count", "event": event, "filters": filters, "value": value}


BADGES = [
    # slug, name, icon, category, rarity, criteria, description
    ("first-steps", "First Steps", "🎯", "completion", "common", count("tasks_completed", 1), "Complete your first task."),
    ("getting-things-done", "Getting Things Done", "✅", "completion", "common", count("tasks_completed", 10), "Complete 10 tasks."),
    ("task-master", "Task Master", "🏅", "completion", "rare", count("tasks_completed", 50), "Complete 50 tasks."),
    ("centurion", "Centurion", "💯", "completion", "epic", count("tasks_completed", 100), "Complete 100 tasks."),
    ("firefighter", "Firefighter", "🚒", "completion", "uncommon", events("task.completed", 5, priority="urgent"), "Complete 5 urgent tasks."),
    ("early-bird", "Early Bird", "🐦", "completion", "uncommon", events("task.completed", 5, local_hour__lt=8), "Complete 5 tasks before 8 am, your time."),
    ("ahead-of-schedule", "Ahead of Schedule", "⏰", "completion", "uncommon", events("task.completed", 10, early=True), "Finish 10 tasks before they are due."),
    ("challenger", "Challenger", "⚔️", "challenge", "common", count("challenges_completed", 1), "Complete your first challenge."),
    ("challenge-seeker", "Challenge Seeker", "🗡️", "challenge", "uncommon", count("challenges_completed", 10), "Complete 10 challenges."),
    ("perfectionist", "Perfectionist", "🌟", "challenge", "rare", events("challenge.completed", 1, score__gte=100), "Score 100% on a challenge."),
    ("no-hints-needed", "No Hints Needed", "🧠", "challenge", "uncommon", events("challenge.completed", 5, hints_used=0), "Complete 5 challenges without a hint."),
    ("quick-thinker", "Quick Thinker", "⚡", "challenge", "rare", events("challenge.completed", 3, time_ratio__lte=0.5), "Finish 3 challenges in half their time limit."),
    ("on-a-roll", "On a Roll", "🔥", "streak", "common", threshold("daily_streak", 3), "Keep a 3-day streak."),
    ("week-warrior", "Week Warrior", "📅", "streak", "uncommon", threshold("daily_streak", 7), "Keep a 7-day streak."),
    ("unstoppable", "Unstoppable", "🚀", "streak", "epic", threshold("daily_streak", 30), "Keep a 30-day streak."),
    ("steady-weeks", "Steady Weeks", "🗓️", "streak", "rare", threshold("weekly_streak", 4), "Be active 4 weeks in a row."),
    ("point-collector", "Point Collector", "💰", "milestone", "common", threshold("points", 1000), "Earn 1,000 points."),
    ("point-hoarder", "Point Hoarder", "💎", "milestone", "epic", threshold("points", 10000), "Earn 10,000 points."),
    ("rising-star", "Rising Star", "⭐", "milestone", "uncommon", threshold("level", 5), "Reach level 5."),
    ("veteran", "Veteran", "🎖️", "milestone", "legendary", threshold("level", 10), "Reach level 10."),
    ("efficient", "Efficient", "⚙️", "efficiency", "uncommon", events("task.completed", 10, efficiency__gte=90), "Complete 10 tasks at 90% efficiency or better."),
    ("efficiency-expert", "Efficiency Expert", "🛠️", "efficiency", "rare", events("task.completed", 25, efficiency__gte=95), "Complete 25 tasks at 95% efficiency or better."),
    ("connected", "Connected", "🔗", "integration", "common", events("integration.synced", 1), "Sync an integration for the first time."),
    ("importer", "Importer", "📥", "integration", "uncommon", events("task.completed", 10, source__in=["notion", "trello", "github", "google_docs"]), "Complete 10 imported tasks."),
    ("team-player", "Team Player", "🤝", "multiplayer", "common", events("challenge.completed", 1, type="multiplayer"), "Complete a multiplayer challenge."),
    ("squad-goals", "Squad Goals", "👥", "multiplayer", "rare", events("challenge.completed", 10, type="multiplayer"), "Complete 10 multiplayer challenges."),
]


def seed(apps, schema_editor):
    from gamification.rules import validate_criteria

    Badge = apps.get_model("gamification", "Badge")
    for order, (slug, name, icon, category, rarity, criteria, description) in enumerate(BADGES):
        errors = validate_criteria(criteria)
        if errors:
            raise ValueError(f"badge {slug}: {errors}")
        Badge.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "icon": icon,
                "category": category,
                "rarity": rarity,
                "criteria": criteria,
                "points": R[rarity],
                "description": description,
                "active": True,
                "sort_order": order,
            },
        )


def unseed(apps, schema_editor):
    Badge = apps.get_model("gamification", "Badge")
    Badge.objects.filter(slug__in=[b[0] for b in BADGES], awards__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("gamification", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
