"""Parallel awards to one user on PostgreSQL: totals exact, one award per key (real row locks,
real Redis leaderboards). Runs committed transactions in threads, each with its own connection."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from gamification import leaderboards, services
from gamification.models import GamificationProfile, LedgerEntry

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def run_parallel(n, fn):
    barrier = threading.Barrier(n)
    errors = []

    def worker(i):
        try:
            barrier.wait()
            fn(i)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors


def test_parallel_awards_and_duplicate_deliveries(user):
    def award(i):
        services.award(user, points=10, xp=10, reason="p", source="admin", idempotency_key=f"par:{i % 6}")

    run_parallel(12, award)  # 12 calls, 6 distinct keys
    profile = GamificationProfile.objects.get(user=user)
    assert LedgerEntry.objects.filter(user=user).count() == 6
    assert (profile.points, profile.xp) == (60, 60)
    assert leaderboards.read_board("all", "full") == {user.pk: 60}
    assert services.rebuild_all(write=False) == []


def test_same_completion_event_delivered_in_parallel_awards_once(user, task_stub):
    task = task_stub(priority="urgent")
    completed_at = datetime.now(UTC)

    def deliver(_i):
        services.record_task_completion(user, task, completed_at=completed_at)

    run_parallel(6, deliver)
    entries = LedgerEntry.objects.filter(user=user, source="task")
    assert entries.count() == 1
    profile = GamificationProfile.objects.get(user=user)
    assert profile.tasks_completed == 1 and profile.points == 200 + 50  # urgent + first-steps
    assert services.rebuild_all(write=False) == []
