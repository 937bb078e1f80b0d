"""Calendar feeds: create, rotate and delete a user's subscription URLs, find a feed by the token
in its URL, and the per-token and per-address limits of `GET /cal/{token}.ics`.

    create_feed(user, name) -> (CalendarFeed, token)     the token is returned once, stored hashed
    rotate_feed(user, feed_id) -> (CalendarFeed, token)  the old URL answers 404 from now on
    delete_feed(user, feed_id)                           the URL answers 404 from now on
    live_feed(token, start, end) -> LiveFeed | None       what serving it needs (None: unknown or revoked)
    allowed((kind, ident, per_minute), ...) -> (bool, retry_after)
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError

from integrations.calendar.models import CalendarFeed
from integrations.errors import IntegrationReason
from integrations.services.webhooks import public_base_url
from kernel.ids import is_valid_id
from kernel.redis import get_redis, key
from tasks import selectors as task_selectors

MAX_FEEDS_PER_USER = 10
# secrets.token_urlsafe(32): 43 characters of the URL-safe alphabet, 256 bits.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _hash(token: str) -> str:
    # A 256-bit random token needs no slow hash: nothing to guess, only a lookup to keep secret.
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, _hash(token)


def feed_url(token: str, request=None) -> str:
    return f"{public_base_url(request)}/cal/{token}.ics"


def webcal_url(url: str) -> str:
    """The same address for calendar apps that subscribe on a `webcal://` link (webcal is
    http(s) by another name; the client picks TLS from the server, as with any webcal link)."""
    parts = urlsplit(url)
    return urlunsplit(("webcal", parts.netloc, parts.path, parts.query, ""))


def feeds_of(user):
    return CalendarFeed.objects.filter(user=user)


def feed_of(user, feed_id: str, *, for_update: bool = False) -> CalendarFeed:
    if not is_valid_id(feed_id):
        raise Http404("Calendar feed not found.")
    qs = feeds_of(user)
    if for_update:
        qs = qs.select_for_update()
    feed = qs.filter(pk=feed_id).first()
    if feed is None:
        raise Http404("Calendar feed not found.")
    return feed


def create_feed(user, name: str = "") -> tuple[CalendarFeed, str]:
    with transaction.atomic():
        # The user's row serialises concurrent creates, so the cap holds under a race.
        type(user).objects.select_for_update().filter(pk=user.pk).first()
        if feeds_of(user).count() >= MAX_FEEDS_PER_USER:
            raise ValidationError(
                {"non_field_errors": [f"At most {MAX_FEEDS_PER_USER} calendar feeds; delete one first."]},
                code=IntegrationReason.LIMIT_REACHED,
            )
        token, digest = _new_token()
        feed = CalendarFeed.objects.create(user=user, name=name, token_hash=digest)
    return feed, token


def rotate_feed(user, feed_id: str) -> tuple[CalendarFeed, str]:
    with transaction.atomic():
        feed = feed_of(user, feed_id, for_update=True)
        token, feed.token_hash = _new_token()
        feed.rotated_at = timezone.now()
        feed.save(update_fields=["token_hash", "rotated_at", "updated_at"])
    return feed, token


def delete_feed(user, feed_id: str) -> None:
    feed_of(user, feed_id).delete()


@dataclass(frozen=True)
class LiveFeed:
    """What serving a feed needs, read in one query (`live_feed`)."""

    id: str
    name: str
    token_hash: str
    updated_at: datetime
    user: object  # an unsaved User carrying its id and time zone (`.tzinfo`)
    due_version: str | None


def _aware(value) -> datetime:
    when = value if isinstance(value, datetime) else parse_datetime(str(value))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def live_feed(token: str, start, end) -> LiveFeed | None:
    """The live feed the token opens, its user's time zone and the version of its task list
    (tasks.selectors.due_between_version_sql) in one query; None for a malformed, unknown,
    rotated-away or deleted token and for an inactive user."""
    if not TOKEN_RE.match(token):
        return None
    qn = connection.ops.quote_name
    user_model = get_user_model()
    version, params = task_selectors.due_between_version_sql("u.id", start, end)
    # S608: table and column names only; every value is a parameter
    sql = (
        f"SELECT f.id, f.name, f.token_hash, f.updated_at, u.id, u.timezone, u.is_active, {version} "  # noqa: S608
        f"FROM {qn(CalendarFeed._meta.db_table)} f JOIN {qn(user_model._meta.db_table)} u ON u.id = f.user_id "
        "WHERE f.token_hash = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, _hash(token)])
        row = cursor.fetchone()
    if row is None or not row[6]:
        return None
    feed_id, name, token_hash, updated_at, user_id, tz_name, _, due_version = row
    return LiveFeed(feed_id, name, token_hash, _aware(updated_at), user_model(id=user_id, timezone=tz_name),
                    due_version)


def allowed(*windows: tuple[str, str, int]) -> tuple[bool, int]:
    """Fixed one-minute windows in Redis, one per (kind, ident, per_minute), all counted in one
    round trip: (every one allows, seconds until the window ends). `ident` is never the token
    itself (a key is as visible as a log line). Redis down: allowed, as the API's throttles do."""
    now = time.time()
    window = int(now // 60)
    try:
        pipe = get_redis().pipeline(transaction=False)
        for kind, ident, _ in windows:
            name = key("calendar", "rate", kind, ident, window)
            pipe.incr(name)
            pipe.expire(name, 61)
        counts = pipe.execute()[::2]
    except Exception:  # noqa: BLE001 - Redis down: do not turn every poll into an error
        return True, 0
    ok = all(count <= limit for count, (_, _, limit) in zip(counts, windows, strict=True))
    return ok, max(1, int((window + 1) * 60 - now) + 1)


def refresh_interval_seconds() -> int:
    return settings.CALENDAR_FEED_REFRESH_MINUTES * 60
