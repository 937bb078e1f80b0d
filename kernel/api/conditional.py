"""Conditional requests and optimistic concurrency, for every `/api/` route.

- Every `200` answer to a `GET`/`HEAD` carries a strong `ETag` computed from the bytes of the
  answer, so it changes whenever any byte of the representation does. An answer whose resource
  has a `version` puts that version in front: `"7.3f2a9c0e1b7d4a36"`.
- `If-None-Match` naming the current tag turns the answer into a `304 Not Modified` without a
  body; its count in the fixed rate-limit windows is given back (`kernel.api.throttling.refund`),
  so polling for changes costs the client nothing while nothing changed.
- A write (`PUT`/`PATCH`/`DELETE`) may say which version it was based on, with `If-Match: <the
  ETag>` (or `*`) or `version` in the body. `precondition()` checks it under a row lock, in the
  transaction of the write, and refuses a stale write with `412 precondition_failed` and the
  current resource. The version itself is kept by the database (a trigger, `kernel.versioning`),
  so every write bumps it, whoever makes it.

The version part of a tag is what `If-Match` compares: it names the stored state of the
resource, while the hash also covers derived fields that a write cannot conflict with.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

from django.db import transaction
from django.http import HttpResponseNotModified
from rest_framework import exceptions, status
from rest_framework.exceptions import ValidationError

from kernel.api.casing import camelize
from kernel.api.errors import ErrorCode
from kernel.api.renderers import dumps, envelope
from kernel.api.throttling import refund

ANY = object()  # `If-Match: *`: any current version
CONDITIONAL_METHODS = frozenset({"GET", "HEAD"})
GUARDED_METHODS = frozenset({"PUT", "PATCH", "DELETE"})


class PreconditionFailed(exceptions.APIException):
    """412: the write was based on a version that is no longer current. `current` is the
    resource as it is now (the answer's `data`), so the client can merge and retry."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource changed since the version this request was based on."
    default_code = ErrorCode.PRECONDITION_FAILED

    def __init__(self, current=None, detail=None, version=None):
        super().__init__(detail)
        self.current = current
        self.version = version


def _version_of(data):
    """The `version` of the one resource an answer holds, or None (a list, a message)."""
    if isinstance(data, dict) and "success" in data:
        data = data.get("data")
    if isinstance(data, dict):
        value = data.get("version")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def etag(content: bytes, version: int | None = None) -> str:
    digest = hashlib.sha256(content).hexdigest()[:16]
    return f'"{version}.{digest}"' if version is not None else f'"{digest}"'


def etag_of(data, version: int | None = None) -> str:
    """The tag a `GET` of this resource answers with (its payload as the renderer writes it);
    `version` for an answer that does not carry its own (`resource_version` below)."""
    body = envelope(data)
    return etag(dumps(camelize(body)), version if version is not None else _version_of(body))


def _tags(header: str) -> list[str]:
    """The entity tags of an `If-None-Match`/`If-Match` header, without `W/` and quotes."""
    tags = []
    for part in header.split(","):
        part = part.strip()
        if part.startswith("W/"):
            part = part[2:]
        if part:
            tags.append(part.strip('"'))
    return tags


def _not_modified(response) -> HttpResponseNotModified:
    answer = HttpResponseNotModified()
    for name in ("ETag", "Cache-Control", "Vary", "Expires", "Content-Location"):
        if response.has_header(name):
            answer[name] = response[name]
    answer.cookies = response.cookies
    return answer


class ConditionalRequestMiddleware:
    """ETag on every successful API read; 304 on a matching `If-None-Match` (not counted)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.method not in CONDITIONAL_METHODS
            or not request.path_info.startswith("/api/")
            or response.status_code != 200
            or response.streaming
        ):
            return response
        if not response.has_header("ETag"):
            # A view whose answer does not hold the version (the preferences object) names it.
            version = getattr(response, "resource_version", None)
            if version is None:
                version = _version_of(getattr(response, "data", None))
            response["ETag"] = etag(response.content, version)
        wanted = request.headers.get("If-None-Match")
        if wanted is None:
            return response
        current = response["ETag"].strip('"')
        tags = _tags(wanted)
        if "*" in tags or current in tags:
            refund(request)
            return _not_modified(response)
        return response


def expected_version(request):
    """The version a write says it is based on: `If-Match` (an ETag of ours, or `*` for ANY),
    else `version` in the body; None when it says nothing. A body `version` that is not a
    positive integer is a 400; an `If-Match` that names no version of ours is simply stale."""
    header = request.headers.get("If-Match")
    if header is not None:
        tags = _tags(header)
        if "*" in tags:
            return ANY
        versions = set()
        for tag in tags:
            head = tag.split(".", 1)[0]
            if head.isdigit() and "." in tag:
                versions.add(int(head))
        return versions or {0}
    data = request.data if isinstance(getattr(request, "data", None), dict) else {}
    if "version" not in data:
        return None
    value = data["version"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError({"version": ["Must be the resource's version, a positive integer."]})
    return {value}


@contextmanager
def precondition(request, row, current, *, versioned_answer: bool = True):
    """Run the write in the block only if the version the request names is still current.

    `row` is a queryset of the one row the write changes (already known to be the user's);
    `current()` answers the resource as it is now, for the 412 (`versioned_answer=False` when
    that answer does not hold `version` itself: the 412's ETag then gets it from the row). Without a precondition in the
    request, nothing is added (no lock, no query). With one, the row is locked first (SELECT
    ... FOR UPDATE) and the block runs in the same transaction: a concurrent writer based on the
    same version waits for the lock, then finds the version moved on and gets the 412."""
    expected = expected_version(request) if request.method in GUARDED_METHODS else None
    if expected is None:
        yield
        return
    with transaction.atomic():
        version = row.select_for_update().values_list("version", flat=True).first()
        if version is None:
            raise exceptions.NotFound()
        if expected is not ANY and version not in expected:
            raise PreconditionFailed(current(), version=None if versioned_answer else version)
        yield
