"""One way out for date-times: UTC, ISO 8601, with `Z` (REST and socket alike); one way in:
naive input is read in the requesting user's zone (`UserTimeZoneMixin`).

Whatever time zone is active while a payload is built (requests read naive input in the user's
zone), what leaves the server names the same instant the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone


def iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # stored values are UTC; a naive one can only mean UTC here
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class UTCDateTimeField:
    """Mixed into DRF's DateTimeField (see `kernel.api.fields`): DRF renders in the *active*
    time zone, which is the user's while a request reads their naive input."""

    def to_representation(self, value):
        if not value or isinstance(value, str):
            return value
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
