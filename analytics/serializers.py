"""Wire shapes of API.md "Analytics" (snake_case here; the renderer camelizes)."""

from __future__ import annotations

from rest_framework import serializers

from analytics import rules
from analytics.selectors import PERFORMANCE_DEFAULT_DAYS

# ---- query parameters ---------------------------------------------------------------------


class DaysQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        required=False,
        default=rules.DEFAULT_DAYS,
        min_value=1,
        max_value=rules.MAX_DAYS,
        help_text="How many local days, ending today in the user's time zone.",
    )


class PeriodQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(
        choices=rules.PERIODS,
        required=False,
        default="week",
        help_text="day = today; week = the 7 days ending today; month = since this date last month.",
    )


class PerformanceQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        required=False, default=PERFORMANCE_DEFAULT_DAYS, min_value=1, max_value=rules.MAX_DAYS
    )


# ---- responses ----------------------------------------------------------------------------


class InsightSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=rules.INSIGHT_TYPES)
    message = serializers.CharField()
    data = serializers.DictField()
    priority = serializers.ChoiceField(choices=("low", "medium", "high"))
    generated_at = serializers.CharField(required=False)


class CountMapField(serializers.DictField):
    child = serializers.IntegerField()


class DayMetricsSerializer(serializers.Serializer):
    tasks_completed = serializers.IntegerField()
    tasks_created = serializers.IntegerField()
    challenges_completed = serializers.IntegerField()
    time_spent = serializers.IntegerField(help_text="minutes")
    average_efficiency = serializers.FloatField(allow_null=True)
    points_earned = serializers.IntegerField()
    xp_earned = serializers.IntegerField()
    badges_earned = serializers.IntegerField()
    peak_productivity_hour = serializers.IntegerField(allow_null=True, help_text="local hour 0-23")
    tasks_by_type = CountMapField()
    challenges_by_type = CountMapField()


class DailyRowSerializer(serializers.Serializer):
    _id = serializers.CharField(source="id")
    id = serializers.CharField()
    day = serializers.CharField(help_text="the local date, YYYY-MM-DD")
    date = serializers.CharField(help_text="local midnight of `day`, ISO 8601 with the user's offset")
    timezone = serializers.CharField()
    metrics = DayMetricsSerializer()
    insights = InsightSerializer(many=True)
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class StatsSerializer(serializers.Serializer):
    period = serializers.CharField()
    start = serializers.CharField()
    end = serializers.CharField()
    total_tasks_completed = serializers.IntegerField()
    total_tasks_created = serializers.IntegerField()
    total_challenges_completed = serializers.IntegerField()
    total_time_spent = serializers.IntegerField()
    total_points_earned = serializers.IntegerField()
    total_badges_earned = serializers.IntegerField()
    average_efficiency = serializers.FloatField(allow_null=True)
    tasks_by_type = CountMapField()
    challenges_by_type = CountMapField()


class SummarySerializer(serializers.Serializer):
    tasks_completed = serializers.IntegerField()
    challenges_completed = serializers.IntegerField()
    time_spent = serializers.IntegerField()
    points_earned = serializers.IntegerField()
    average_efficiency = serializers.FloatField(allow_null=True)


class WeekSummarySerializer(SummarySerializer):
    week = serializers.CharField()


class WindowSummarySerializer(SummarySerializer):
    start = serializers.CharField()
    end = serializers.CharField()


class ChangeSerializer(serializers.Serializer):
    tasks_completed = serializers.FloatField(allow_null=True, help_text="percent")
    challenges_completed = serializers.FloatField(allow_null=True)
    time_spent = serializers.FloatField(allow_null=True)
    points_earned = serializers.FloatField(allow_null=True)
    average_efficiency = serializers.FloatField(allow_null=True)


class TrendsSerializer(serializers.Serializer):
    weekly = WeekSummarySerializer(many=True)
    recent = WindowSummarySerializer()
    previous = WindowSummarySerializer()
    change = ChangeSerializer()


class HeatmapSerializer(serializers.Serializer):
    weekdays = serializers.ListField(child=serializers.CharField())
    hours = serializers.ListField(child=serializers.IntegerField())
    values = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="values[weekday][hour]: completions, Monday first, local hours",
    )
    total = serializers.IntegerField()


class PerformanceSerializer(serializers.Serializer):
    start = serializers.CharField()
    end = serializers.CharField()
    days = serializers.IntegerField()
    timezone = serializers.CharField()
    trends = TrendsSerializer()
    heatmap = HeatmapSerializer()
    hourly_totals = serializers.ListField(child=serializers.IntegerField())
    weekday_totals = CountMapField()
    peak_hour = serializers.IntegerField(allow_null=True)
    best_weekday = serializers.CharField(allow_null=True)
