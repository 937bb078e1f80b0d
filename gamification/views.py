"""Gamification endpoints (API.md `/api/gamification/`): parse, call a selector or service, respond."""

from __future__ import annotations

import logging

from drf_spectacular.utils import OpenApiParameter, extend_schema
from redis.exceptions import RedisError
from rest_framework.response import Response
from rest_framework.views import APIView

from gamification import leaderboards, selectors, services
from gamification.errors import GamificationError
from gamification.serializers import (
    BadgeCheckSerializer,
    BadgeSerializer,
    LeaderboardQuerySerializer,
    LedgerRowSerializer,
    PointsSerializer,
    PreferencesSerializer,
    ProfileSerializer,
    RankQuerySerializer,
    RankSerializer,
)
from kernel.api.exceptions import ServiceUnavailable
from kernel.api.pagination import (
    LimitSkipPagination,
    limit_parameter,
    offset_of_cursor,
    offset_page_block,
    paginate_list,
    paginated_schema,
    parse_limit_skip,
    skip_parameter,
)
from kernel.api.scopes import read_write

logger = logging.getLogger(__name__)
TAGS = ["gamification"]
BOARDS_DOWN = "Leaderboards are unavailable right now; try again shortly."


class RebuildInProgress(ServiceUnavailable):
    default_detail = "The leaderboards are being rebuilt; try again in a few seconds."
    default_code = GamificationError.REBUILD_IN_PROGRESS
    wait = 2  # DRF answers it as Retry-After

_INT, _STR = {"type": "integer"}, {"type": "string"}
# The leaderboard puts `me` beside `data`, so its envelope is documented here, inline.
LEADERBOARD_RESPONSE = {
    "type": "object",
    "required": ["success", "data", "me", "pagination"],
    "properties": {
        "success": {"type": "boolean"},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "rank": _INT,
                    "userId": {
                        "type": "object",
                        "properties": {"_id": _STR, "id": _STR, "name": _STR, "profilePicture": _STR},
                    },
                    "points": _INT,
                    "level": _INT,
                    "stats": {"type": "object", "properties": {"tasksCompleted": _INT, "challengesCompleted": _INT}},
                    "streaks": {
                        "type": "object",
                        "properties": {"daily": {"type": "object", "properties": {"current": _INT}}},
                    },
                    "badges": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"_id": _STR, "slug": _STR, "name": _STR, "icon": _STR, "rarity": _STR,
                                           "points": _INT, "earnedAt": {"type": "string", "format": "date-time"}},
                        },
                    },
                },
            },
        },
        "me": {"type": "object", "properties": {"rank": {"type": "integer", "nullable": True}, "points": _INT}},
        "pagination": {"$ref": "#/components/schemas/Pagination"},
    },
}
PERIOD_PARAM = OpenApiParameter("period", str, enum=["all", "day", "week", "month"], required=False)


class PointsView(APIView):
    required_scopes = read_write("gamification:read")

    @extend_schema(responses=PointsSerializer, tags=TAGS, summary="Points, XP, level and recent ledger rows")
    def get(self, request):
        return Response(selectors.points(request.user))


class BadgesView(APIView):
    required_scopes = read_write("gamification:read")

    @extend_schema(
        parameters=[limit_parameter(), skip_parameter()],
        responses=paginated_schema(BadgeSerializer),
        operation_id="gamification_badges",
        tags=TAGS,
        summary="The badge catalogue with progress",
    )
    def get(self, request):
        return paginate_list(request, selectors.badges(request.user))


class LeaderboardView(APIView):
    required_scopes = read_write("gamification:read")

    @extend_schema(
        parameters=[
            PERIOD_PARAM,
            OpenApiParameter("scope", str, enum=["global", "friends"], required=False),
            limit_parameter(),
            skip_parameter(),
        ],
        responses={200: LEADERBOARD_RESPONSE},
        tags=TAGS,
        summary="Top users of a period, and the caller's own rank",
    )
    def get(self, request):
        parse_limit_skip(request.query_params)  # `cursor` and `skip` together: a 400
        query = LeaderboardQuerySerializer(data={k: v for k, v in request.query_params.items() if k != "cursor"})
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        offset = offset_of_cursor(request)  # ranks, not rows: a cursor is a signed offset
        if offset is not None:
            params["skip"] = offset
        try:
            board = selectors.leaderboard(request.user, **params)
            skip, limit = params["skip"], params["limit"]
            pagination = offset_page_block(request, skip, limit, len(board["data"]), board["total"])
            return Response({"success": True, "data": board["data"], "me": board["me"], "pagination": pagination})
        except leaderboards.BoardsRebuilding:
            raise RebuildInProgress() from None
        except RedisError:
            logger.exception("leaderboard read failed")
            raise ServiceUnavailable(BOARDS_DOWN)


class RankView(APIView):
    required_scopes = read_write("gamification:read")

    @extend_schema(parameters=[PERIOD_PARAM], responses=RankSerializer, tags=TAGS, summary="The caller's rank")
    def get(self, request):
        query = RankQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            return Response(selectors.rank(request.user, query.validated_data["period"]))
        except leaderboards.BoardsRebuilding:
            raise RebuildInProgress() from None
        except RedisError:
            logger.exception("rank read failed")
            raise ServiceUnavailable(BOARDS_DOWN)


class ProfileView(APIView):
    required_scopes = read_write("gamification:read")

    @extend_schema(responses=ProfileSerializer, tags=TAGS, summary="The gamification dashboard")
    def get(self, request):
        return Response(selectors.profile(request.user))


class BadgeCheckView(APIView):
    @extend_schema(request=None, responses=BadgeCheckSerializer, tags=TAGS, summary="Award any badge now earned")
    def post(self, request):
        awarded = services.evaluate_badges(request.user)
        return Response({"awarded_badges": [services.badge_summary(ub) for ub in awarded]})


class PreferencesView(APIView):
    @extend_schema(request=PreferencesSerializer, responses=ProfileSerializer, tags=TAGS, summary="Leaderboard and notification preferences")
    def patch(self, request):
        ser = PreferencesSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.update_preferences(request.user, **ser.validated_data)
        return Response(selectors.profile(request.user))


class HistoryView(APIView):
    required_scopes = read_write("gamification:read")

    pagination_class = LimitSkipPagination

    @extend_schema(
        parameters=[
            limit_parameter(),
            skip_parameter(),
        ],
        responses=LedgerRowSerializer(many=True),
        tags=TAGS,
        summary="The caller's ledger, newest first",
    )
    def get(self, request):
        paginator = LimitSkipPagination()
        page = paginator.paginate_queryset(selectors.history(request.user), request, view=self)
        return paginator.get_paginated_response([selectors.ledger_row(e) for e in page])
