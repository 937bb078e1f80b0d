"""`Idempotency-Key` on POST creates (API.md): the first answer is replayed for 24 h.

    class TaskViewSet(...):
        @idempotent
        def create(self, request): ...

A request carrying `Idempotency-Key: <1-255 visible characters>` is recorded per user, endpoint
and key before the view runs (a unique row, committed at once), and the view's answer is
stored on it. The same user sending the same key to the same endpoint within 24 h gets that
answer back, with `Idempotent-Replayed: true`, and nothing runs again. While the first request
is still running, a second one waits for it (a few seconds) and then replays it, or answers
409 `idempotency_in_progress`. The same key with a different body is refused with 422
`idempotency_key_reused`. A request that failed (an exception, a 5xx) leaves no record, so the
client may retry with the same key. Requests without the header are untouched.
"""

from __future__ import annotations

import functools
import hashlib
import time
from datetime import timedelta

import orjson
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.response import Response

from kernel.api.errors import ErrorCode
from kernel.api.exceptions import Conflict
from kernel.api.renderers import dumps
from kernel.models import IdempotencyRecord

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
WAIT_SECONDS = 8.0  # a concurrent duplicate waits this long for the first request's answer
MAX_KEY_LENGTH = 255


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used with a different request body."
    default_code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class InProgress(Conflict):
    default_detail = "A request with this Idempotency-Key is still being processed; retry shortly."
    default_code = ErrorCode.IDEMPOTENCY_IN_PROGRESS


def _key(request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise exceptions.ValidationError({"idempotencyKey": [f"{HEADER} must be 1-{MAX_KEY_LENGTH} visible characters."]})
    return key


def _scope(request) -> str:
    match = getattr(request, "resolver_match", None)
    return f"{request.method} {match.view_name if match and match.view_name else request.path}"[:200]


def _replay(record) -> Response:
    response = Response(record.body, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def _claim(user_id: str, scope: str, key: str, fingerprint: str):
    """Insert the in-progress record; returns (record, created)."""
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    user_id=user_id, scope=scope, key=key, fingerprint=fingerprint
                ), True
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(user_id=user_id, scope=scope, key=key).first()
            if existing is None:
                continue  # it was just deleted (a failed first request): claim again
            if existing.created_at <= timezone.now() - TTL:
                IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
                continue
            return existing, False
    raise InProgress()


def _wait_for(record):
    deadline = time.monotonic() + WAIT_SECONDS
    while record.status_code is None:
        if time.monotonic() > deadline:
            raise InProgress()
        time.sleep(0.1)
        record = IdempotencyRecord.objects.filter(pk=record.pk).first()
        if record is None:  # the first request failed and let go of the key
            return None
    return record


def _fingerprint(request) -> str:
    try:
        canonical = orjson.dumps(request.data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:
        canonical = repr(request.data).encode()
    return hashlib.sha256(canonical).hexdigest()


def idempotent(view_method):
    """Decorate a DRF view method (self, request, *args, **kwargs) that creates something."""

    view_method.idempotent = True  # read by the schema hook: documents the header and the 422

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = _key(request)
        user = getattr(request, "user", None)
        if key is None or user is None or not user.is_authenticated:
            return view_method(self, request, *args, **kwargs)

        fingerprint = _fingerprint(request)
        scope = _scope(request)
        for _ in range(3):
            record, created = _claim(str(user.pk), scope, key, fingerprint)
            if created:
                break
            if record.fingerprint != fingerprint:
                raise KeyReused()
            done = _wait_for(record)
            if done is not None:
                return _replay(done)
        else:
            raise InProgress()
        try:
            response = view_method(self, request, *args, **kwargs)
        except BaseException:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if response.status_code >= 500:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        # JSON primitives (dates as ISO strings): the replay renders exactly what was sent
        body = orjson.loads(dumps(response.data)) if response.data is not None else None
        IdempotencyRecord.objects.filter(pk=record.pk).update(status_code=response.status_code, body=body)
        return response

    return wrapper


def purge_expired(now=None) -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=(now or timezone.now()) - TTL).delete()
    return deleted
