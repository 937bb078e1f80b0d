"""`GET /api/sync`: a user's changes since a cursor (integrations.sync.selectors). Reads only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.errors import IntegrationError
from integrations.sync import selectors
from integrations.sync.serializers import SyncPageSerializer, SyncQuerySerializer
from kernel.api.permissions import IsUser


class SyncCursorExpired(APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "This cursor can no longer be followed; start a full sync (no cursor)."
    default_code = IntegrationError.SYNC_CURSOR_EXPIRED


class SyncView(APIView):
    permission_classes = [IsUser]

    @extend_schema(
        operation_id="sync_read", summary="Changes since a cursor (full state without one)",
        description=(
            "Every change to my tasks, challenges, notifications and profile since `cursor`, each object once "
            "with its current state, deletions as tombstones (`deleted: true`), in pages: follow `cursor` "
            "while `hasMore`; the last page's `cursor` is the next sync's. Without a cursor: the full state. "
            "An unreadable cursor, or one older than the retention (`SYNC_RETENTION_DAYS`), is a 410 "
            "`sync_cursor_expired`: start again without a cursor."),
        parameters=[SyncQuerySerializer],
        responses={
            200: SyncPageSerializer,
            410: OpenApiResponse(description="`sync_cursor_expired`: do a full sync (no cursor)"),
        },
        examples=[OpenApiExample("A page of changes", response_only=True, status_codes=["200"], value={
            "success": True, "data": {"changes": [
                {"type": "task", "id": "6571f0c2a1b2c3d4e5f60718", "deleted": False, "data": {"title": "…"}},
                {"type": "task", "id": "6571f0c2a1b2c3d4e5f60719", "deleted": True, "data": None}],
                "cursor": ".eJyrVkpLzs8tKEotLk4tUrJSMjQ…", "hasMore": False, "full": False}})],
    )
    def get(self, request):
        query = SyncQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        raw = query.validated_data.get("cursor") or ""
        try:
            payload = selectors.read_cursor(request.user, raw) if raw else None
        except selectors.CursorExpired as exc:
            raise SyncCursorExpired(str(exc)) from None
        return Response(selectors.sync_page(request.user, payload, query.validated_data["limit"]))
