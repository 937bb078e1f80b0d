"""`/api/analytics`: parse the query, call a selector, respond (API.md "Analytics")."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from drf_spectacular.utils import extend_schema
from pymongo.errors import PyMongoError
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import freshness, insights, rules, selectors
from analytics.errors import AnalyticsError
from analytics.serializers import (
    AnalyticsDailyRowSerializer,
    AnalyticsDaysQuerySerializer,
    AnalyticsInsightSerializer,
    AnalyticsPerformanceQuerySerializer,
    AnalyticsPerformanceSerializer,
    AnalyticsPeriodQuerySerializer,
    AnalyticsStatsSerializer,
)
from kernel.api.exceptions import ServiceUnavailable
from kernel.api.pagination import limit_parameter, paginate_list, paginated_schema, skip_parameter

logger = logging.getLogger(__name__)


class Rebuilding(ServiceUnavailable):
    default_detail = "Your analytics are being rebuilt from your history; try again shortly."
    default_code = AnalyticsError.REBUILDING

    def __init__(self):
        super().__init__()
        self.wait = settings.ANALYTICS_REBUILD_RETRY_AFTER  # DRF turns it into Retry-After


class AnalyticsView(APIView):
    """Base: validated query params; 503 `rebuilding` (never 200 with zeros) while the user's
    MongoDB data is behind PostgreSQL (analytics.freshness); 503 (not 500) when MongoDB is down."""

    query_serializer = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        user = request.user
        if not freshness.missing(user):
            return
        queued = freshness.ensure_rebuilding(user)
        # Inline Celery (the embedded setup) has rebuilt already: serve the result.
        if queued and current_app.conf.task_always_eager and not freshness.missing(user):
            return
        raise Rebuilding()

    def query(self, request) -> dict:
        serializer = self.query_serializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def handle_exception(self, exc):
        if isinstance(exc, PyMongoError):
            logger.warning("analytics: MongoDB unavailable: %s", exc)
            exc = ServiceUnavailable("Analytics storage is unavailable; try again shortly.")
        return super().handle_exception(exc)


class DailyView(AnalyticsView):
    query_serializer = AnalyticsDaysQuerySerializer

    @extend_schema(
        operation_id="analytics_daily",
        summary="Daily rollups of the last N local days, newest first",
        parameters=[
            AnalyticsDaysQuerySerializer,
            limit_parameter(rules.MAX_DAYS, rules.MAX_DAYS),
            skip_parameter(),
        ],
        responses=paginated_schema(AnalyticsDailyRowSerializer),
        tags=["analytics"],
    )
    def get(self, request):
        rows = selectors.daily_rows(request.user, self.query(request)["days"])
        return paginate_list(request, AnalyticsDailyRowSerializer(rows, many=True).data, default_limit=rules.MAX_DAYS, max_limit=rules.MAX_DAYS)


class StatsView(AnalyticsView):
    query_serializer = AnalyticsPeriodQuerySerializer

    @extend_schema(
        operation_id="analytics_stats",
        summary="Totals over today, the last 7 days or the last month (the user's local days)",
        parameters=[AnalyticsPeriodQuerySerializer],
        responses=AnalyticsStatsSerializer,
        tags=["analytics"],
    )
    def get(self, request):
        return Response(AnalyticsStatsSerializer(selectors.stats(request.user, self.query(request)["period"])).data)


class InsightsView(AnalyticsView):
    @extend_schema(
        operation_id="analytics_insights",
        summary="The user's current insights (computed now and stored on today's rollup)",
        responses=AnalyticsInsightSerializer(many=True),
        tags=["analytics"],
    )
    def get(self, request):
        return Response(AnalyticsInsightSerializer(insights.refresh(request.user), many=True).data)


class PerformanceView(AnalyticsView):
    query_serializer = AnalyticsPerformanceQuerySerializer

    @extend_schema(
        operation_id="analytics_performance",
        summary="Weekly trends, last-7-days vs the 7 before, and an hour x weekday heatmap",
        parameters=[AnalyticsPerformanceQuerySerializer],
        responses=AnalyticsPerformanceSerializer,
        tags=["analytics"],
    )
    def get(self, request):
        data = selectors.performance(request.user, self.query(request)["days"])
        return Response(AnalyticsPerformanceSerializer(data).data)
