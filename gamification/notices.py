"""What gamification tells a user (deciding to notify is gamification's; notifications stores
and delivers). Called after the awarding transaction commits, so a rolled-back award tells no one."""

from __future__ import annotations

from notifications import services as notifications


def badge_earned(user, badge) -> None:
    notifications.notify(
        user,
        notifications.NotificationType.BADGE_EARNED,
        f"Badge earned: {badge.name}",
        badge.description or f"You earned the {badge.name} badge.",
        data={"badge_id": str(badge.pk), "slug": badge.slug, "icon": badge.icon, "rarity": badge.rarity},
        priority=notifications.Priority.MEDIUM,
        dedupe_key=f"badge:{badge.pk}",
    )


def level_reached(user, from_level: int, to_level: int) -> None:
    notifications.notify(
        user,
        notifications.NotificationType.LEVEL_UP,
        f"Level up! You reached level {to_level}",
        f"You went from level {from_level} to level {to_level}. Keep going!",
        data={"from": from_level, "to": to_level},
        priority=notifications.Priority.HIGH,
        dedupe_key=f"level:{to_level}",
    )
