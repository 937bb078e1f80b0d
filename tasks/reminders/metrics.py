"""Reminder figures for `/metrics`: the lag histogram (sent − due) and the age of the oldest
due reminder not sent yet.

The lag is observed in the Celery worker that sends, while `/metrics` is answered by the web
processes; the histogram's buckets are therefore counters in Redis (shared by every process,
cumulative like any Prometheus histogram), and the oldest-due age is read from the database
at scrape time (one query on a partial index)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from kernel.redis import get_redis, key

from .models import Reminder, ReminderStatus

logger = logging.getLogger(__name__)

BUCKETS = (1.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 21600.0)


def _key() -> str:
    return key("reminders", "lag")


def _label(bound: float) -> str:
    return repr(float(bound))


def observe_lags(lags: list[float]) -> None:
    """Add sent reminders' lags (seconds) to the histogram; a Redis outage loses figures, never a reminder."""
    if not lags:
        return
    try:
        pipe = get_redis().pipeline(transaction=False)
        for lag in lags:
            for bound in BUCKETS:
                if lag <= bound:
                    pipe.hincrby(_key(), _label(bound), 1)
            pipe.hincrby(_key(), "count", 1)
            pipe.hincrbyfloat(_key(), "sum", max(lag, 0.0))
        pipe.execute()
    except Exception:
        logger.warning("reminder lag not recorded (Redis unavailable)", exc_info=True)


def collect():
    """The kernel.metrics collector."""
    stored = get_redis().hgetall(_key())
    count = int(stored.get("count", 0))
    histogram = HistogramMetricFamily(
        "deepiri_reminder_lag_seconds", "Delay between a reminder's due time and its sending, seconds."
    )
    histogram.add_metric(
        [],
        buckets=[(_label(b), int(stored.get(_label(b), 0))) for b in BUCKETS] + [("+Inf", count)],
        sum_value=float(stored.get("sum", 0.0)),
    )
    yield histogram
    now = timezone.now()
    oldest = Reminder.objects.filter(status=ReminderStatus.PENDING, fire_at__lte=now).aggregate(m=Min("fire_at"))["m"]
    yield GaugeMetricFamily(
        "deepiri_reminder_oldest_unsent_due_seconds",
        "Age of the oldest reminder that fell due and is not sent yet (0 when none), seconds.",
        value=(now - oldest).total_seconds() if oldest else 0.0,
    )


def dashboard_figures(today, day_ago) -> dict:
    """The admin dashboard's reminders card: sent and stale in 24 h, the oldest unsent due
    reminder, and whether web push is on (VAPID keys set)."""
    now = timezone.now()
    counts = Reminder.objects.filter(fired_at__gte=day_ago, status=ReminderStatus.SENT).count()
    oldest = Reminder.objects.filter(status=ReminderStatus.PENDING, fire_at__lte=now).aggregate(m=Min("fire_at"))["m"]
    return {
        "reminders_24h": {
            "sent": counts,
            "oldest_due_seconds": int((now - oldest).total_seconds()) if oldest else None,
            "web_push": settings.WEBPUSH_ENABLED,
        }
    }
