"""kernel.db: timestamps are parsed by psycopg's C loader, with the values Django's loader gives."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _loader():
    return connection.connection.adapters.get_loader(1184, 0)  # timestamptz, text


def test_timestamps_read_back_in_utc_to_the_microsecond(user):
    from tasks.models import Task

    due = datetime.datetime(2026, 6, 30, 23, 25, 15, 902851, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)))
    task = Task.objects.create(user=user, title="t", due_date=due)
    read = Task.objects.values_list("due_date", "created_at").get(pk=task.pk)
    assert read[0] == due and read[0].tzinfo is datetime.UTC
    assert read[0].isoformat() == "2026-06-30T17:55:15.902851+00:00"
    assert read[1].tzinfo is datetime.UTC and abs(read[1] - task.created_at) < datetime.timedelta(microseconds=1)
    with connection.cursor() as cursor:  # a raw cursor too, and Django keeps the loader (no per-cursor copy)
        cursor.execute("SELECT '2026-01-01 00:00:00-08'::timestamptz")
        assert cursor.fetchone()[0] == datetime.datetime(2026, 1, 1, 8, tzinfo=datetime.UTC)
    assert _loader().__name__ == "UtcTimestamptzLoader"


def test_the_parsing_is_psycopgs_c_loader():
    pytest.importorskip("psycopg_binary")
    from psycopg.pq import Format

    with connection.cursor():
        pass
    loader = _loader()(1184, connection.connection)
    assert type(loader.load).__module__ is None or "psycopg_binary" in repr(type(loader.load.__self__))
    assert connection.connection.adapters.get_loader(1184, Format.TEXT).timezone is datetime.UTC
