"""Celery beat's scheduler: django-celery-beat's DatabaseScheduler (staff edit schedules in the
admin) that never sends the same periodic job twice in a row.

DatabaseScheduler stores `last_run_at` lazily (every few minutes, and on a clean shutdown): a beat
killed and restarted, or a second beat started by mistake, finds its jobs due again and sends
them at once, so the 30 s and 60 s jobs ran twice in quick succession. Each send first claims
the job's name in Redis for half its interval (SET NX EX): a send the previous beat made less
than that ago is skipped, the regular cadence is untouched. With Redis down nothing can be sent
anyway (it is the broker); the claim then lets the send through rather than stall beat.

Every job is also safe to run twice on its own (docs/CONVENTIONS.md, "Celery jobs"): this keeps
restarts from doing the work twice, it is not what makes the jobs correct.
"""

from __future__ import annotations

import logging
import signal
import threading

from celery.schedules import schedule as interval_schedule
from django_celery_beat.schedulers import DatabaseScheduler as StockDatabaseScheduler

from kernel.redis import get_redis, key

logger = logging.getLogger("celery.beat")

# A crontab, solar or clocked job runs at most once a minute.
DEFAULT_GAP = 30.0


def claim_gap(entry) -> float:
    """Seconds during which a second send of `entry` is a duplicate: half its interval."""
    sched = entry.schedule
    if isinstance(sched, interval_schedule) and type(sched) is interval_schedule:
        return max(1.0, sched.run_every.total_seconds() / 2)
    return DEFAULT_GAP


def claim(name: str, seconds: float) -> bool:
    try:
        return bool(get_redis().set(key("beat", "sent", name), "1", nx=True, px=int(seconds * 1000)))
    except Exception:  # noqa: BLE001 - Redis (also the broker) down: let the send try, never stall beat
        logger.warning("beat: could not claim %s; sending it anyway", name, exc_info=True)
        return True


def _exit(signum, frame):
    raise SystemExit(0)


class DatabaseScheduler(StockDatabaseScheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Celery's own SIGTERM/SIGINT handler syncs the schedule and closes the producer inside the
        # signal handler. A signal that lands while a send is blocked (the broker slow or frozen)
        # closes the socket under that send: the send fails with an ordinary error, beat logs it,
        # the SystemExit never comes, and beat runs on after being told to stop. Raising SystemExit
        # alone unwinds the send; beat's own `finally` then syncs and closes, outside the handler.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _exit)
            signal.signal(signal.SIGINT, _exit)

    def apply_entry(self, entry, producer=None):
        if not claim(entry.name, claim_gap(entry)):
            logger.info("Scheduler: %s was sent less than %.0f s ago (a restarted beat?); skipped",
                        entry.name, claim_gap(entry))
            return
        super().apply_entry(entry, producer=producer)
