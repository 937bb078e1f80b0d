"""Gamification profiles: fetch or create one, row-lock it, the user's local today, preferences."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from gamification import leaderboards, rules
from gamification.models import GamificationProfile


def get_or_create_profile(user) -> GamificationProfile:
    try:
        return GamificationProfile.objects.get(user=user)
    except GamificationProfile.DoesNotExist:
        try:
            with transaction.atomic():
                return GamificationProfile.objects.create(user=user)
        except IntegrityError:
            return GamificationProfile.objects.get(user=user)


def lock_profile(user) -> GamificationProfile:
    """The user's profile, row-locked for the current transaction (created on first use)."""
    try:
        return GamificationProfile.objects.select_for_update().get(user=user)
    except GamificationProfile.DoesNotExist:
        get_or_create_profile(user)
        return GamificationProfile.objects.select_for_update().get(user=user)


def today_of(user, now: datetime | None = None):
    return rules.local_date(now or timezone.now(), user.tzinfo)


def update_preferences(user, **changes) -> GamificationProfile:
    with transaction.atomic():
        profile = lock_profile(user)
        was_visible = profile.show_leaderboard
        for name in ("show_leaderboard", "enable_notifications", "challenge_difficulty"):
            if name in changes:
                setattr(profile, name, changes[name])
        profile.save()
        if profile.show_leaderboard != was_visible:
            visible = profile.show_leaderboard
            transaction.on_commit(lambda: leaderboards.set_visibility(user.pk, visible), robust=True)
    return profile
