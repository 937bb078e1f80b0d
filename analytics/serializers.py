"""Wire shapes of API.md "Analytics" (snake_case here; the renderer camelizes)."""

from __future__ import annotations

from rest_framework import serializers

from analytics import rules
from analytics.selectors import PERFORMANCE_DEFAULT_DAYS
from kernel.api.choices import ChoiceField

# ---- query parameters ---------------------------------------------------------------------


class AnalyticsDaysQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        required=False,
        default=rules.DEFAULT_DAYS,
        min_value=1,
        max_value=rules.MAX_DAYS,
        help_text="How many local days, ending today in the user's time zone.",
    )


class AnalyticsPeriodQuerySerializer(serializers.Serializer):
    period = ChoiceField(
        choices=rules.PERIODS,
        required=False,
        default="week",
        help_text="day = today; week = the 7 days ending today; month = since this date last month.",
    )


class AnalyticsPerformanceQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        required=False, default=PERFORMANCE_DEFAULT_DAYS, min_value=1, max_value=rules.MAX_DAYS
    )


# ---- responses ----------------------------------------------------------------------------


class AnalyticsInsightSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="one of: " + ", ".join(rules.INSIGHT_TYPES))
    message = serializers.CharField()
    data = serializers.DictField()
    priority = serializers.CharField(help_text="low | medium | high")
    generated_at = serializers.CharField(required=False)


class AnalyticsCountMapField(serializers.DictField):
    child = serializers.IntegerField()


class AnalyticsDayMetricsSerializer(serializers.Serializer):
    tasks_completed = serializers.IntegerField()
    tasks_created = serializers.IntegerField()
    challenges_completed = serializers.IntegerField()
    time_spent = serializers.IntegerField(help_text="minutes")
    average_efficiency = serializers.FloatField(allow_null=True)
    points_earned = serializers.IntegerField()
    xp_earned = serializers.IntegerField()
    badges_earned = serializers.IntegerField()
    peak_productivity_hour = serializers.IntegerField(allow_null=True, help_text="local hour 0-23")
    tasks_by_type = AnalyticsCountMapField()
    challenges_by_type = AnalyticsCountMapField()


class AnalyticsDailyRowSerializer(serializers.Serializer):
    _id = serializers.CharField(source="id")
    id = serializers.CharField()
    day = serializers.CharField(help_text="the local date, YYYY-MM-DD")
    date = serializers.CharField(help_text="local midnight of `day`, ISO 8601 with the user's offset")
    timezone = serializers.CharField()
    metrics = AnalyticsDayMetricsSerializer()
    insights = AnalyticsInsightSerializer(many=True)
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class AnalyticsStatsSerializer(serializers.Serializer):
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
    tasks_by_type = AnalyticsCountMapField()
    challenges_by_type = AnalyticsCountMapField()


class AnalyticsSummarySerializer(serializers.Serializer):
    tasks_completed = serializers.IntegerField()
    challenges_completed = serializers.IntegerField()
    time_spent = serializers.IntegerField()
    points_earned = serializers.IntegerField()
    average_efficiency = serializers.FloatField(allow_null=True)


class AnalyticsWeekSummarySerializer(AnalyticsSummarySerializer):
    week = serializers.CharField()


class AnalyticsWindowSummarySerializer(AnalyticsSummarySerializer):
    start = serializers.CharField()
    end = serializers.CharField()


class AnalyticsChangeSerializer(serializers.Serializer):
    tasks_completed = serializers.FloatField(allow_null=True, help_text="percent")
    challenges_completed = serializers.FloatField(allow_null=True)
    time_spent = serializers.FloatField(allow_null=True)
    points_earned = serializers.FloatField(allow_null=True)
    average_efficiency = serializers.FloatField(allow_null=True)


class AnalyticsTrendsSerializer(serializers.Serializer):
    weekly = AnalyticsWeekSummarySerializer(many=True)
    recent = AnalyticsWindowSummarySerializer()
    previous = AnalyticsWindowSummarySerializer()
    change = AnalyticsChangeSerializer()


class AnalyticsHeatmapSerializer(serializers.Serializer):
    weekdays = serializers.ListField(child=serializers.CharField())
    hours = serializers.ListField(child=serializers.IntegerField())
    values = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="values[weekday][hour]: completions, Monday first, local hours",
    )
    total = serializers.IntegerField()


class AnalyticsPerformanceSerializer(serializers.Serializer):
    start = serializers.CharField()
    end = serializers.CharField()
    days = serializers.IntegerField()
    timezone = serializers.CharField()
    trends = AnalyticsTrendsSerializer()
    heatmap = AnalyticsHeatmapSerializer()
    hourly_totals = serializers.ListField(child=serializers.IntegerField())
    weekday_totals = AnalyticsCountMapField()
    peak_hour = serializers.IntegerField(allow_null=True)
    best_weekday = serializers.CharField(allow_null=True)
