"""One way out for date-times: UTC, ISO 8601, with `Z` (REST and socket alike); one way in:
naive input is read in the requesting user's zone (`UserTimeZoneMixin`).

Whatever time zone is active while a payload is built (requests read naive input in the user's
zone), what leaves the server names the same instant the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.utils import timezone


def iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # stored values are UTC; a naive one can only mean UTC here
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# An ISO date-time string written with a zero offset instead of `Z` (what `isoformat()` gave
# stored documents before they were written with `iso_utc`).
_ZERO_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?\+00:00$")


def utc_z(value):
    """`value` (a stored document: dicts, lists, datetimes, strings) with every date-time as
    `iso_utc` writes it, including ISO strings stored with `+00:00`."""
    if isinstance(value, dict):
        return {k: utc_z(v) for k, v in value.items()}
    if isinstance(value, list):
        return [utc_z(v) for v in value]
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, str) and _ZERO_OFFSET.match(value):
        return value[:-6] + "Z"
    return value


class UTCDateTimeField:
    """Mixed into DRF's DateTimeField (see `kernel.api.fields`): DRF renders in the *active*
    time zone, which is the user's while a request reads their naive input."""

    def to_representation(self, value):
        if not value:
            return value
        if isinstance(value, str):
            return utc_z(value)
        return iso_utc(value)


class UserTimeZoneMixin:
    """Naive dates in the request (filters, due dates) are read in the user's time zone."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        tz = getattr(request.user, "tzinfo", None)
        if tz is not None:
            timezone.activate(tz)

    def finalize_response(self, request, response, *args, **kwargs):
        timezone.deactivate()
        return super().finalize_response(request, response, *args, **kwargs)
