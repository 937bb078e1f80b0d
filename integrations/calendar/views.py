"""`/api/calendar/feeds` (a user's subscription URLs) and `GET /cal/{token}.ics` (the feed itself,
for calendar apps: the token in the path is the only credential)."""

from __future__ import annotations

from datetime import UTC, timedelta
from email.utils import format_datetime

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotModified
from django.utils import timezone
from django.views.decorators.http import require_safe
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.calendar import ics, services
from integrations.calendar.serializers import FeedCreateSerializer, FeedSerializer, FeedWithUrlSerializer
from kernel.api.pagination import LimitSkipPagination, limit_parameter, skip_parameter
from kernel.api.permissions import IsUser
from kernel.api.throttling import client_ip
from tasks import selectors as task_selectors

MAX_EVENTS = 2000
PAST_DAYS, FUTURE_DAYS = 14, 365


def _with_url(feed, token: str, request, status_code: int = 200) -> Response:
    """The one kind of answer that holds a feed's URL: never stored by a cache on the way."""
    feed.url = services.feed_url(token, request)
    feed.webcal_url = services.webcal_url(feed.url)
    return Response(FeedWithUrlSerializer(feed).data, status=status_code, headers={"Cache-Control": "no-store"})


class FeedListView(APIView):
    """No `required_scopes`: a personal access token cannot mint calendar URLs (default deny)."""

    permission_classes = [IsUser]
    created_location = "/api/calendar/feeds/{id}"  # kernel.api.renderers.set_location

    @extend_schema(
        summary="My calendar feeds (never their URLs)",
        responses=FeedSerializer(many=True),
        operation_id="calendar_feeds_list",
        parameters=[limit_parameter(), skip_parameter()],
    )
    def get(self, request):
        paginator = LimitSkipPagination()
        page = paginator.paginate_queryset(services.feeds_of(request.user), request, view=self)
        return paginator.get_paginated_response(FeedSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a calendar feed; its secret URL is in this answer only",
        request=FeedCreateSerializer,
        responses={201: FeedWithUrlSerializer},
        operation_id="calendar_feeds_create",
    )
    def post(self, request):
        body = FeedCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        feed, token = services.create_feed(request.user, body.validated_data["name"])
        return _with_url(feed, token, request, status.HTTP_201_CREATED)


class FeedRotateView(APIView):
    permission_classes = [IsUser]

    @extend_schema(
        summary="Replace a feed's URL; the old one stops working at once",
        request=None,
        responses={200: FeedWithUrlSerializer},
    )
    def post(self, request, feed_id):
        feed, token = services.rotate_feed(request.user, feed_id)
        return _with_url(feed, token, request)


class FeedDetailView(APIView):
    permission_classes = [IsUser]

    @extend_schema(summary="A calendar feed (never its URL)", responses=FeedSerializer)
    def get(self, request, feed_id):
        return Response(FeedSerializer(services.feed_of(request.user, feed_id)).data)

    @extend_schema(summary="Delete a calendar feed (its URL answers 404 from now on)", request=None,
                   responses={200: OpenApiResponse(description="deleted")})
    def delete(self, request, feed_id):
        services.delete_feed(request.user, feed_id)
        return Response({"success": True, "message": "Calendar feed deleted"})


def _plain(status_code: int, text: str, **headers) -> HttpResponse:
    response = HttpResponse(text, status=status_code, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    response["Cache-Control"] = "no-store"
    return response


def _too_many(retry_after: int) -> HttpResponse:
    return _plain(429, "Too many requests\n", Retry_After=str(retry_after))


@require_safe
def ics_feed(request, token: str):
    """The feed (GET and HEAD). One query finds the feed, its user and the version of its task
    list; one Redis round trip counts the poll against the address and the feed (an unknown
    token counts against the address alone, so guessing is limited too); a 304 when the
    client's copy is current, without reading the rows."""
    start, end = ics.window(timezone.now(), PAST_DAYS, FUTURE_DAYS)
    feed = services.live_feed(token, start, end)
    address = ("ip", client_ip(request), settings.CALENDAR_FEED_IP_PER_MINUTE)
    if feed is None:
        ok, retry = services.allowed(address)
        return _plain(404, "Not found\n") if ok else _too_many(retry)
    ok, retry = services.allowed(address, ("feed", feed.id, settings.CALENDAR_FEED_PER_MINUTE))
    if not ok:
        return _too_many(retry)

    user = feed.user
    tz = user.tzinfo
    count, last, revisions = task_selectors.parse_due_version(feed.due_version)
    name = feed.name or "Deepiri tasks"
    etag = ics.version_tag(feed.id, feed.token_hash, name, str(tz), start.isoformat(), count,
                           last.isoformat() if last else "", revisions)
    modified = max(filter(None, [last, feed.updated_at]))
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(modified.astimezone(UTC), usegmt=True),
        "Cache-Control": f"private, max-age={min(services.refresh_interval_seconds(), 300)}",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
    }
    presented = {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}
    if etag in presented or "*" in presented:
        response = HttpResponseNotModified()
    else:
        rows = task_selectors.due_between(user.pk, start, end, limit=MAX_EVENTS)
        body = ics.render(rows, tz=tz, name=name, refresh=timedelta(seconds=services.refresh_interval_seconds()))
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="deepiri.ics"'
    for header, value in headers.items():
        response[header] = value
    return response
