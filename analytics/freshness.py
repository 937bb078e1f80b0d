"""Is a user's MongoDB analytics caught up with PostgreSQL? If not, rebuild it without an operator.

MongoDB holds derived data (analytics/rebuild.py recomputes it from tasks, challenges, the
ledger and badge awards). It can be empty (a restore beside a new MongoDB, a lost volume) or
behind (a fold job lost with Redis, one that gave up). Serving it then would answer 200 with
zeros or with holes, so the analytics endpoints first ask `check(user)`:

- the watermark: per kind of source, how many rows PostgreSQL holds for the user that are older
  than ANALYTICS_FRESHNESS_GRACE_SECONDS (younger ones may still be on their way to the worker),
  against how many events MongoDB has recorded of that kind (completions net of reopens). Four
  indexed COUNT queries in PostgreSQL, cached a minute (`_expected`), and one indexed read of
  the user's `Watermark` document in MongoDB on every request (kept by every fold and set by
  every rebuild). Fewer events than rows means something was lost: the store is behind;
- behind: the `analytics.rebuild_user` job is queued by name (kernel.jobs), at most one per
  user at a time (a Redis claim the job releases when done, bounded by a TTL if it dies), and the
  caller answers 503 `rebuilding` with Retry-After. The rebuild makes the counts equal, so the
  next request is served.

Counts can hide a loss behind data PostgreSQL no longer has (a deleted task's events stay in
MongoDB); `manage.py rebuild_analytics --all` still covers that.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone
from pymongo.errors import PyMongoError

from analytics import job_names, services
from analytics.documents import EVENT_TYPES, DailyStat, Event, Watermark
from analytics.rebuild import rebuild_user
from challenges.models import Challenge
from gamification.models import LedgerEntry, UserBadge
from kernel import jobs
from kernel.redis import get_redis
from kernel.redis import key as redis_key
from tasks.models import Task

logger = logging.getLogger(__name__)

REBUILD_JOB = job_names.REBUILD_USER
EXPECTED_CACHE_SECONDS = 60


def expected_counts(user, now=None) -> dict[str, int]:
    """Per event kind, the rows PostgreSQL holds for `user` that are older than the grace: the
    events a caught-up MongoDB must have recorded (rebuild.records_for_user's sources)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.ANALYTICS_FRESHNESS_GRACE_SECONDS)
    tasks = Task.objects.filter(user=user).aggregate(
        created=Count("id", filter=Q(created_at__lt=cutoff)),
        completed=Count("id", filter=Q(status="completed", completed_at__lt=cutoff)),
    )
    return {
        "task.created": tasks["created"],
        "task.completed": tasks["completed"],
        "challenge.completed": Challenge.objects.filter(
            user=user, status="completed", completed_at__lt=cutoff
        ).count(),
        # a reversal counts on its original's `occurred_at` but exists from its `created_at`
        "points.awarded": LedgerEntry.objects.filter(user=user, created_at__lt=cutoff).count(),
        "badge.awarded": UserBadge.objects.filter(user=user, earned_at__lt=cutoff).count(),
    }


def recorded_counts(user) -> dict[str, int]:
    """Per event kind, what MongoDB has recorded for `user`; completions net of reopens. One
    indexed read of the user's Watermark; a store from before watermarks existed (no document
    for a user who has events) is counted once by a `$group` over the user's events."""
    doc = Watermark._get_collection().find_one({"user_id": str(user.id)}, {"_id": 0, "counts": 1})
    if doc is not None:
        stored = doc.get("counts") or {}
        counts = {kind: int(stored.get(services.watermark_key(kind)) or 0) for kind in EVENT_TYPES}
    else:
        counts = {
            row["_id"]: row["n"]
            for row in Event._get_collection().aggregate(
                [{"$match": {"user_id": str(user.id)}}, {"$group": {"_id": "$type", "n": {"$sum": 1}}}]
            )
        }
    counts["task.completed"] = counts.get("task.completed", 0) - counts.pop("task.reopened", 0)
    return counts


def _expected(user, now=None) -> dict[str, int]:
    """`expected_counts`, cached for EXPECTED_CACHE_SECONDS: a cached count is lower than the
    live one by at most what the user did since, which the check forgives anyway (the grace), so
    serving a request costs no SQL while MongoDB is still counted live on every request."""
    cache_key = f"analytics:expected:{user.id}"
    try:
        cached = cache.get(cache_key)
    except Exception:
        logger.warning("analytics: cache unavailable; expected counts read from PostgreSQL", exc_info=True)
        return expected_counts(user, now)
    if cached is not None and now is None:
        return cached
    expected = expected_counts(user, now)
    try:
        cache.set(cache_key, expected, EXPECTED_CACHE_SECONDS)
    except Exception:
        logger.warning("analytics: cache unavailable", exc_info=True)
    return expected


def missing(user, now=None) -> dict[str, int]:
    """Event kinds MongoDB is short of for `user`, and by how many ({} when caught up)."""
    expected = _expected(user, now)
    if not any(expected.values()):
        return {}
    recorded = recorded_counts(user)
    short = {kind: n - recorded.get(kind, 0) for kind, n in expected.items() if recorded.get(kind, 0) < n}
    if not short and not DailyStat._get_collection().find_one({"user_id": str(user.id)}, {"_id": 1}):
        # events without any rollup: a rebuild that died between its two writes
        short = {"daily": 1}
    return short


def _claim_key(user_id) -> str:
    return redis_key("analytics", "rebuilding", user_id)


def release(user_id) -> None:
    try:
        get_redis().delete(_claim_key(user_id))
    except Exception:
        # the claim's TTL ends it anyway
        logger.warning("analytics: could not release the rebuild claim of %s", user_id, exc_info=True)


def ensure_rebuilding(user) -> bool:
    """Queue the rebuild of `user`'s analytics unless one is already queued or running. Returns
    True when a rebuild is (now) under way, False when it could not be queued (the broker or
    Redis is down: the next request tries again). Never writes to the database, so a GET stays
    a read: a refused job is not kept in the outbox."""
    try:
        claimed = get_redis().set(
            _claim_key(user.id), "1", nx=True, ex=settings.ANALYTICS_REBUILD_CLAIM_SECONDS
        )
    except Exception:
        logger.warning("analytics: Redis unavailable; rebuild of %s not queued", user.id, exc_info=True)
        return False
    if not claimed:
        return True
    try:
        jobs.publish(REBUILD_JOB, [str(user.id)])
    except PyMongoError:
        # inline Celery ran the rebuild and MongoDB failed it: the store is down, say so
        release(user.id)
        raise
    except Exception:  # noqa: BLE001 - kombu/redis raise many types; all mean "not queued"
        logger.warning("analytics: broker unavailable; rebuild of %s not queued", user.id, exc_info=True)
        release(user.id)
        return False
    logger.info("analytics: store behind PostgreSQL for %s; rebuild queued", user.id)
    return True


def rebuild(user_id: str) -> dict | None:
    """The job: rebuild one user from PostgreSQL, then release the claim."""
    try:
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is None:
            return None
        return rebuild_user(user)
    finally:
        release(user_id)
