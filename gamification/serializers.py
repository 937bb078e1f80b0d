"""Wire shapes of the Gamification endpoints (API.md). Inputs are validated here; outputs are
built as dicts by `selectors` and described by the response serializers for the OpenAPI schema."""

from __future__ import annotations

from rest_framework import serializers

from gamification.leaderboards import PERIODS
from gamification.models import GamificationProfile
from kernel.api.choices import ChoiceField
from kernel.api.fields import DateTimeField
from kernel.api.pagination import MAX_LIMIT, MAX_SKIP
from kernel.api.strict import StrictSerializer

SCOPES = ("global", "friends")


class LeaderboardQuerySerializer(serializers.Serializer):
    period = ChoiceField(choices=PERIODS, default="all")
    scope = ChoiceField(choices=SCOPES, default="global")
    limit = serializers.IntegerField(min_value=1, default=50)  # above MAX_LIMIT: capped, like every list
    skip = serializers.IntegerField(min_value=0, max_value=MAX_SKIP, default=0)

    def validate_limit(self, value):
        return min(value, MAX_LIMIT)


class RankQuerySerializer(serializers.Serializer):
    period = ChoiceField(choices=PERIODS, default="all")


class PreferencesSerializer(StrictSerializer):
    show_leaderboard = serializers.BooleanField(required=False)
    enable_notifications = serializers.BooleanField(required=False)
    challenge_difficulty = ChoiceField(choices=GamificationProfile.Difficulty.choices, required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": ["Give at least one of showLeaderboard, enableNotifications, challengeDifficulty."]}
            )
        return attrs


# --- responses (schema) -----------------------------------------------------------------------
class BreakdownSerializer(serializers.Serializer):
    reason = serializers.CharField()
    amount = serializers.IntegerField()


class LedgerRowSerializer(serializers.Serializer):
    _id = serializers.CharField()
    id = serializers.CharField()
    points = serializers.IntegerField()
    xp = serializers.IntegerField()
    reason = serializers.CharField()
    source = serializers.CharField()
    source_id = serializers.CharField()
    breakdown = BreakdownSerializer(many=True)
    reverses = serializers.CharField(allow_null=True)
    occurred_at = DateTimeField()
    created_at = DateTimeField()


class PointsSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    xp = serializers.IntegerField(help_text="XP inside the current level.")
    total_xp = serializers.IntegerField()
    level = serializers.IntegerField()
    xp_to_next_level = serializers.IntegerField(help_text="The size of the current level.")
    recent = LedgerRowSerializer(many=True)


class ProgressSerializer(serializers.Serializer):
    current = serializers.IntegerField()
    target = serializers.IntegerField()


class BadgeSerializer(serializers.Serializer):
    _id = serializers.CharField()
    id = serializers.CharField()
    slug = serializers.CharField()
    name = serializers.CharField()
    icon = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    rarity = serializers.CharField()
    points = serializers.IntegerField()
    criteria = serializers.JSONField()
    earned = serializers.BooleanField()
    earned_at = DateTimeField(allow_null=True)
    revoked = serializers.BooleanField()
    progress = ProgressSerializer()


class EarnedBadgeSerializer(serializers.Serializer):
    _id = serializers.CharField()
    id = serializers.CharField()
    slug = serializers.CharField()
    name = serializers.CharField()
    icon = serializers.CharField()
    rarity = serializers.CharField()
    points = serializers.IntegerField()
    earned_at = DateTimeField()


class RankSerializer(serializers.Serializer):
    rank = serializers.IntegerField(allow_null=True)
    points = serializers.IntegerField()


class DailyStreakSerializer(serializers.Serializer):
    current = serializers.IntegerField()
    longest = serializers.IntegerField()
    last_date = serializers.DateField(allow_null=True)


class WeeklyStreakSerializer(serializers.Serializer):
    current = serializers.IntegerField()
    longest = serializers.IntegerField()
    last_week = serializers.CharField(allow_null=True)


class StreaksSerializer(serializers.Serializer):
    daily = DailyStreakSerializer()
    weekly = WeeklyStreakSerializer()
    freezes = serializers.IntegerField()


class ProfileStatsSerializer(serializers.Serializer):
    tasks_completed = serializers.IntegerField()
    challenges_completed = serializers.IntegerField()
    total_time_spent = serializers.IntegerField(help_text="Minutes.")
    average_efficiency = serializers.FloatField()


class AchievementSerializer(serializers.Serializer):
    achievement_id = serializers.CharField()
    achievement_name = serializers.CharField()
    unlocked_at = DateTimeField()
    progress = serializers.IntegerField()


class PreferencesOutSerializer(serializers.Serializer):
    show_leaderboard = serializers.BooleanField()
    enable_notifications = serializers.BooleanField()
    challenge_difficulty = serializers.CharField()


class ProfileSerializer(serializers.Serializer):
    _id = serializers.CharField()
    id = serializers.CharField()
    user_id = serializers.CharField()
    points = serializers.IntegerField()
    level = serializers.IntegerField()
    xp = serializers.IntegerField()
    total_xp = serializers.IntegerField()
    xp_to_next_level = serializers.IntegerField()
    rank = serializers.IntegerField(allow_null=True)
    streaks = StreaksSerializer()
    stats = ProfileStatsSerializer()
    badges = EarnedBadgeSerializer(many=True)
    achievements = AchievementSerializer(many=True)
    preferences = PreferencesOutSerializer()
    created_at = DateTimeField()
    updated_at = DateTimeField()


class BadgeCheckSerializer(serializers.Serializer):
    awarded_badges = EarnedBadgeSerializer(many=True)


class EffectsBreakdownSerializer(serializers.Serializer):
    reason = serializers.CharField()
    amount = serializers.IntegerField()


class EffectsLevelChangeSerializer(serializers.Serializer):
    to = serializers.IntegerField()
    vars()["from"] = serializers.IntegerField()


class EffectsStreakSerializer(serializers.Serializer):
    daily = serializers.IntegerField()
    weekly = serializers.IntegerField()


class EffectsSerializer(serializers.Serializer):
    """What a completion earned (API.md `effects`): `gamification.effects.Effects.as_dict()`."""

    points_awarded = serializers.IntegerField()
    xp_awarded = serializers.IntegerField()
    breakdown = EffectsBreakdownSerializer(many=True)
    level_up = EffectsLevelChangeSerializer(required=False)
    badges_awarded = serializers.ListField(child=serializers.DictField())
    streak = EffectsStreakSerializer(allow_null=True)
