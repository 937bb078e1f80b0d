"""Every state change of notifications: create (notify), read, delete, settings, cleanup."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from kernel import events, jobs
from kernel.redis import get_redis, key
from realtime import presence, publisher

from . import job_names, selectors, webpush
from .events import NotificationCreated
from .models import Channel, Notification, NotificationSettings, NotificationType, Priority, PushSubscription
from .serializers import NotificationSerializer

logger = logging.getLogger(__name__)

READ_RETENTION_DAYS = 30
UNREAD_RETENTION_DAYS = 180


def notify(
    user,
    type: str,  # noqa: A002 - the contract's name
    title: str,
    message: str = "",
    data: dict | None = None,
    priority: str = Priority.MEDIUM,
    *,
    dedupe_key: str | None = None,
    channels: Iterable[str] | None = None,
) -> Notification | None:
    """Store a notification, push it over the socket after commit, email it and send it by web
    push when enabled.

    Respects the user's settings per type and channel: with the in-app channel off nothing is
    stored or pushed; with email off no email goes out. `channels` (a subset of in_app, email,
    push) replaces the per-type choice for this one notification (a reminder names its own);
    the master switches still apply. Returns the stored notification, or None when the in-app
    channel is off. `dedupe_key` makes the call idempotent per user.
    """
    if type not in NotificationType.values:
        raise ValueError(f"unknown notification type {type!r}")
    if priority not in Priority.values:
        raise ValueError(f"unknown priority {priority!r}")
    prefs = selectors.settings_of(user)
    if channels is None:
        wanted = {ch for ch in Channel.values if prefs.channel_enabled(type, ch)}
    else:
        wanted = {ch for ch in channels if ch in Channel.values and prefs.master_enabled(ch)}
    in_app = Channel.IN_APP in wanted
    email = Channel.EMAIL in wanted and bool(getattr(user, "email", ""))
    push = Channel.PUSH in wanted and settings.WEBPUSH_ENABLED
    notification = None
    if in_app:
        if dedupe_key:
            existing = Notification.objects.filter(user=user, dedupe_key=dedupe_key).first()
            if existing is not None:
                existing.created_now = False
                return existing
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    user=user,
                    type=type,
                    title=title[:200],
                    message=(message or "")[:2000],
                    data=data or {},
                    priority=priority,
                    dedupe_key=dedupe_key,
                )
        except IntegrityError:
            # A concurrent call with the same dedupe key won.
            existing = Notification.objects.filter(user=user, dedupe_key=dedupe_key).first()
            if existing is not None:
                existing.created_now = False
            return existing
        notification.created_now = True
        events.emit(NotificationCreated(user=user, notification=notification))
        _push_after_commit(notification)
    elif dedupe_key and not _first_email_for(user, dedupe_key):
        return None
    if email:
        payload = {"user_id": str(user.pk), "title": title, "message": message or "", "type": type}
        if notification is not None:
            payload["notification_id"] = notification.pk
        # Through the outbox: the email is queued with the notification, in its transaction.
        jobs.enqueue_on_commit(job_names.SEND_EMAIL, payload)
    if push:
        _queue_pushes(user, type, title, message, data or {}, notification)
    return notification


def _queue_pushes(user, type_: str, title: str, message: str, data: dict, notification: Notification | None) -> None:
    """One job per browser subscription (each retries on its own), through the outbox."""
    subscription_ids = list(
        PushSubscription.objects.filter(user=user, expired_at__isnull=True).values_list("pk", flat=True)
    )
    if not subscription_ids:
        return
    payload = webpush.payload_of(type_, title, message, data, notification.pk if notification is not None else None)
    for pk in subscription_ids:
        jobs.enqueue_on_commit(job_names.PUSH, pk, payload)


def _first_email_for(user, dedupe_key: str) -> bool:
    """Email-only notifications (in-app off) are deduplicated in Redis for a week."""
    return bool(get_redis().set(key("notif", "email-dedupe", user.pk, dedupe_key), 1, nx=True, ex=7 * 86400))


def _push_after_commit(notification: Notification) -> None:
    payload = {"notification": NotificationSerializer(notification).data}
    pk = notification.pk

    def record(event_id: int) -> None:
        now = timezone.now()
        Notification.objects.filter(pk=pk).update(event_id=event_id, pushed_at=now)
        payload["notification"]["event_id"] = event_id
        payload["notification"]["status"] = "delivered"

    publisher.publish_to_user(notification.user_id, "notification", payload, on_event_id=record)


# A notification is pushed right after its transaction commits; one still unpushed after
# REPUSH_AFTER lost its push (the process died between commit and push, or Redis was down).
# Older than REPUSH_WITHIN it is left to `GET /api/notifications?since=`, which returns it anyway.
REPUSH_AFTER = timedelta(seconds=60)
REPUSH_WITHIN = timedelta(days=1)
REPUSH_BATCH = 500


def repush_pending(now=None) -> int:
    """The beat job (every minute): push the notifications that were committed but never pushed.
    Returns how many it handed to the publisher (a failed push leaves them for the next run)."""
    now = now or timezone.now()
    pending = list(
        Notification.objects.filter(
            event_id__isnull=True, created_at__lte=now - REPUSH_AFTER, created_at__gte=now - REPUSH_WITHIN
        ).order_by("created_at", "id")[:REPUSH_BATCH]
    )
    for notification in pending:
        _push_after_commit(notification)
    return len(pending)


# ------------------------------------------------------------------------------ reads and updates
def mark_read(notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=notification.read_at)
    return notification


def mark_all_read(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


def delete_notification(notification: Notification) -> None:
    notification.delete()


def update_settings(
    user, *, in_app_enabled=None, email_enabled=None, types=None, replace=False, web_push_enabled=None,
    default_reminders=None,
) -> NotificationSettings:
    """`types` is {type: {channel: bool}}; with replace=True (PUT) unspecified types and switches
    go back to defaults."""
    with transaction.atomic():
        prefs, _ = NotificationSettings.objects.select_for_update().get_or_create(user=user)
        if replace:
            prefs.in_app_enabled = True if in_app_enabled is None else in_app_enabled
            prefs.email_enabled = True if email_enabled is None else email_enabled
            prefs.web_push_enabled = True if web_push_enabled is None else web_push_enabled
            prefs.default_reminders = False if default_reminders is None else default_reminders
            prefs.types = {}
        else:
            if in_app_enabled is not None:
                prefs.in_app_enabled = in_app_enabled
            if email_enabled is not None:
                prefs.email_enabled = email_enabled
            if web_push_enabled is not None:
                prefs.web_push_enabled = web_push_enabled
            if default_reminders is not None:
                prefs.default_reminders = default_reminders
        merged = dict(prefs.types)
        for type_, channels in (types or {}).items():
            merged[type_] = {**merged.get(type_, {}), **channels}
        prefs.types = merged
        prefs.save()
    user.notification_settings = prefs
    return prefs


def cleanup(now=None) -> dict:
    """Delete read notifications older than READ_RETENTION_DAYS and any older than UNREAD_RETENTION_DAYS."""
    now = now or timezone.now()
    read_deleted, _ = Notification.objects.filter(
        read_at__isnull=False, read_at__lt=now - timedelta(days=READ_RETENTION_DAYS)
    ).delete()
    old_deleted, _ = Notification.objects.filter(created_at__lt=now - timedelta(days=UNREAD_RETENTION_DAYS)).delete()
    try:
        sockets = presence.purge_expired()
    except Exception:
        logger.warning("notifications cleanup: Redis unavailable", exc_info=True)
        sockets = 0
    return {"read_deleted": read_deleted, "old_deleted": old_deleted, "stale_sockets": sockets}


def highest_pushed_id(user_id: str) -> int | None:
    """The highest socket event id a notification of this user was pushed with: the publisher's
    first id reservation for the user starts above it, so `since` never skips one."""
    return Notification.objects.filter(user_id=user_id).aggregate(m=Max("event_id"))["m"]


# ------------------------------------------------------------------------------ web push subscriptions
def subscribe_push(user, *, endpoint: str, p256dh: str, auth: str, user_agent: str = "") -> PushSubscription:
    """Store (or refresh) a browser's subscription. An endpoint is one browser profile: when
    another account signed in there subscribed it before, it moves to this user. Past
    WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER the user's oldest subscriptions are dropped."""
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # one subscribe at a time per user
        subscription, _ = PushSubscription.objects.update_or_create(
            endpoint=endpoint,
            defaults={
                "user": user, "p256dh": p256dh, "auth": auth, "user_agent": user_agent[:300],
                "expired_at": None, "failures": 0,
            },
        )
        keep = list(
            PushSubscription.objects.filter(user=user).order_by("-updated_at", "-id")
            .values_list("pk", flat=True)[: settings.WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER]
        )
        PushSubscription.objects.filter(user=user).exclude(pk__in=keep).delete()
    return subscription


def unsubscribe_push(user, endpoint: str) -> bool:
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return bool(deleted)
