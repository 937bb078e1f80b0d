"""`kernel.jobs.batched_outbox`: the outbox rows queued inside the block are one INSERT at its
end, in the caller's transaction; an exception in the block writes none."""

from __future__ import annotations

import pytest
from django.db import transaction

from kernel import jobs
from kernel.models import OutboxJob

pytestmark = pytest.mark.django_db

JOB = "deepiri.drain_outbox"  # any registered name: these rows are never published here


def test_rows_queued_in_the_block_are_written_in_one_insert(django_assert_num_queries):
    with transaction.atomic():
        with django_assert_num_queries(1), jobs.batched_outbox():
            rows = [jobs.enqueue_on_commit(JOB, i) for i in range(30)]
            assert all(row.pk is None for row in rows)
        assert all(row.pk is not None for row in rows)
    assert sorted(r.args[0] for r in OutboxJob.objects.filter(task=JOB)) == list(range(30))


def test_nested_blocks_write_once_at_the_outer_end():
    with transaction.atomic(), jobs.batched_outbox():
        with jobs.batched_outbox():
            jobs.enqueue_on_commit(JOB, 1)
        assert not OutboxJob.objects.exists()
        jobs.enqueue_on_commit(JOB, 2)
    assert OutboxJob.objects.filter(task=JOB).count() == 2


def test_an_exception_in_the_block_writes_nothing_and_outside_rows_are_written_at_once():
    def queue_then_fail():
        with transaction.atomic(), jobs.batched_outbox():
            jobs.enqueue_on_commit(JOB, 1)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        queue_then_fail()
    assert not OutboxJob.objects.exists()
    row = jobs.enqueue_on_commit(JOB, 3)
    assert row.pk is not None and OutboxJob.objects.filter(task=JOB).count() == 1
