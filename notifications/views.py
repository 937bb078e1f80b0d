"""Notifications endpoints (API.md "Notifications"): parse, authorize, call a service, respond."""

from __future__ import annotations

from django.conf import settings
from django.db.models import F, Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api.casing import to_snake
from kernel.api.conditional import precondition
from kernel.api.pagination import LimitSkipPagination, limit_parameter, skip_parameter
from kernel.ids import is_valid_id
from kernel.versioning import refresh_version

from . import selectors, services
from .models import Notification, NotificationType
from .serializers import (
    CountSerializer,
    MarkAllReadSerializer,
    NotificationListQuerySerializer,
    NotificationSerializer,
    NotificationSettingsSerializer,
    PushSubscriptionDeleteSerializer,
    PushSubscriptionInSerializer,
    PushSubscriptionSerializer,
    VapidKeySerializer,
)

MessageSerializer = inline_serializer("NotificationMessage", {"message": serializers.CharField()})


def get_notification_for_user(user, notification_id: str) -> Notification:
    if not is_valid_id(notification_id):
        raise NotFound("Notification not found")
    notification = Notification.objects.filter(user=user, pk=notification_id).first()
    if notification is None:
        raise NotFound("Notification not found")
    return notification


def _after(user, since) -> Q:
    """What came after a point in the user's stream: an event id, or a notification of theirs
    (by its event id when it was pushed, else by when it was stored). Not-yet-pushed ones always
    count, so a reconnecting client misses nothing."""
    if isinstance(since, str):
        mark = Notification.objects.filter(user=user, pk=since).values("event_id", "created_at", "id").first()
        if mark is None:
            raise NotFound("Notification not found.")
        if mark["event_id"] is None:
            return Q(event_id__isnull=True) & (
                Q(created_at__gt=mark["created_at"]) | Q(created_at=mark["created_at"], id__gt=mark["id"])
            )
        since = mark["event_id"]
    return Q(event_id__gt=since) | Q(event_id__isnull=True)


def guarded(request, notification: Notification):
    """The write runs only if the request's `If-Match` is still current (412 else)."""
    return precondition(
        request,
        Notification.objects.filter(pk=notification.pk, user=request.user),
        lambda: NotificationSerializer(get_notification_for_user(request.user, notification.pk)).data,
    )


class NotificationListView(APIView):
    pagination_class = LimitSkipPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("unreadOnly", bool, description="Only unread notifications."),
            OpenApiParameter(
                "since",
                str,
                description="A socket event id (`eventId`) or a notification `id`: return the notifications "
                "pushed after it (and any not pushed yet), oldest first, so a reconnecting client misses nothing.",
            ),
            OpenApiParameter("type", str, enum=NotificationType.values),
            limit_parameter(),
            skip_parameter(),
        ],
        responses=NotificationSerializer(many=True),
    )
    def get(self, request):
        query = NotificationListQuerySerializer(data={to_snake(k): v for k, v in request.query_params.items()})
        query.is_valid(raise_exception=True)
        params = query.validated_data
        qs = Notification.objects.filter(user=request.user)
        if params.get("unread_only"):
            qs = qs.filter(read_at__isnull=True)
        if params.get("type"):
            qs = qs.filter(type=params["type"])
        if "since" in params:
            qs = qs.filter(_after(request.user, params["since"])).order_by(
                F("event_id").asc(nulls_last=True), "created_at", "id"
            )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(NotificationSerializer(page, many=True).data)


class UnreadCountView(APIView):
    @extend_schema(responses=CountSerializer)
    def get(self, request):
        return Response({"count": Notification.objects.filter(user=request.user, read_at__isnull=True).count()})


class MarkReadView(APIView):
    versioned = True  # If-Match (kernel.api.conditional)
    @extend_schema(request=None, responses=NotificationSerializer)
    def put(self, request, notification_id: str):
        notification = get_notification_for_user(request.user, notification_id)
        with guarded(request, notification):
            notification = services.mark_read(notification)
        refresh_version(notification)
        return Response(
            {
                "success": True,
                "message": "Notification marked as read",
                "data": NotificationSerializer(notification).data,
            }
        )

    @extend_schema(request=None, responses=NotificationSerializer)
    def patch(self, request, notification_id: str):
        return self.put(request, notification_id)


class MarkAllReadView(APIView):
    """`PUT read-all` and `PATCH mark-all-read` (both spellings of the original client)."""

    @extend_schema(request=None, responses=MarkAllReadSerializer)
    def put(self, request):
        updated = services.mark_all_read(request.user)
        return Response({"success": True, "message": "All notifications marked as read", "data": {"updated": updated}})

    @extend_schema(request=None, responses=MarkAllReadSerializer)
    def patch(self, request):
        return self.put(request)

    @extend_schema(request=None, responses=MarkAllReadSerializer)
    def post(self, request):
        return self.put(request)


class NotificationDetailView(APIView):
    versioned = True  # If-Match (kernel.api.conditional)
    @extend_schema(responses=NotificationSerializer)
    def get(self, request, notification_id: str):
        return Response(NotificationSerializer(get_notification_for_user(request.user, notification_id)).data)

    @extend_schema(responses={200: MessageSerializer})
    def delete(self, request, notification_id: str):
        notification = get_notification_for_user(request.user, notification_id)
        with guarded(request, notification):
            services.delete_notification(notification)
        return Response({"success": True, "message": "Notification deleted successfully"})


class NotificationSettingsView(APIView):
    @extend_schema(responses=NotificationSettingsSerializer)
    def get(self, request):
        return Response(NotificationSettingsSerializer(selectors.settings_of(request.user)).data)

    def _update(self, request, *, replace: bool):
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        serializer = NotificationSettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        prefs = services.update_settings(
            request.user,
            in_app_enabled=data.get("in_app_enabled"),
            email_enabled=data.get("email_enabled"),
            types=data.get("types"),
            replace=replace,
            web_push_enabled=data.get("web_push_enabled"),
            default_reminders=data.get("default_reminders"),
        )
        return Response(
            {
                "success": True,
                "message": "Notification settings saved",
                "data": NotificationSettingsSerializer(prefs).data,
            }
        )

    @extend_schema(request=NotificationSettingsSerializer, responses=NotificationSettingsSerializer)
    def put(self, request):
        return self._update(request, replace=True)

    @extend_schema(request=NotificationSettingsSerializer, responses=NotificationSettingsSerializer)
    def patch(self, request):
        return self._update(request, replace=False)


# ------------------------------------------------------------------------------ web push
class VapidPublicKeyView(APIView):
    """`GET /api/push/vapid-public-key`: what the browser's `pushManager.subscribe` takes as
    `applicationServerKey`; 404 while web push is off (no VAPID keys)."""

    @extend_schema(responses=VapidKeySerializer, tags=["push"])
    def get(self, request):
        if not settings.WEBPUSH_ENABLED:
            raise NotFound("Web push is not enabled on this server.")
        return Response({"public_key": settings.VAPID_PUBLIC_KEY})


class PushSubscriptionsView(APIView):
    """`POST /api/push/subscriptions` stores `PushSubscription.toJSON()`; `DELETE` with
    `{endpoint}` removes it."""

    @extend_schema(request=PushSubscriptionInSerializer, responses={201: PushSubscriptionSerializer}, tags=["push"])
    def post(self, request):
        if not settings.WEBPUSH_ENABLED:
            raise NotFound("Web push is not enabled on this server.")
        serializer = PushSubscriptionInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscription = services.subscribe_push(
            request.user,
            endpoint=data["endpoint"],
            p256dh=data["keys"]["p256dh"],
            auth=data["keys"]["auth"],
            user_agent=data.get("user_agent") or request.headers.get("User-Agent", ""),
        )
        return Response(PushSubscriptionSerializer(subscription).data, status=201)

    @extend_schema(request=PushSubscriptionDeleteSerializer, responses={200: MessageSerializer}, tags=["push"])
    def delete(self, request):
        serializer = PushSubscriptionDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not services.unsubscribe_push(request.user, serializer.validated_data["endpoint"]):
            raise NotFound("Push subscription not found")
        return Response({"success": True, "message": "Push subscription removed"})
