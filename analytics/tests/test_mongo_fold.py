"""Recording domain events and folding them into daily rollups, on both MongoDB engines."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from analytics import mongo as analytics_mongo
from analytics import rules, services
from analytics.documents import DailyStat, Event

UTC = UTC


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def completion(user_id="u" * 24, tz="UTC", when=None, task_id="t1", task_type="code", duration=30, efficiency=80.0):
    when = when or at(2026, 3, 10, 12, 0)
    return services.make_record(
        "task.completed",
        user_id,
        ZoneInfo(tz),
        when,
        event_id=f"task.completed:{task_id}:{services.stamp(when)}",
        subject_id=task_id,
        data={"task_id": task_id, "task_type": task_type, "actual_duration": duration, "efficiency": efficiency},
    )


def metrics(user_id, day):
    doc = DailyStat.objects(user_id=user_id, day=day).first()
    return doc.metrics if doc else None


def test_ping_answers_on_both_engines(mongo):
    assert analytics_mongo.ping() is True


def test_ping_is_false_when_the_server_is_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    analytics_mongo.connect(f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=200", "unreachable")
    try:
        assert analytics_mongo.ping() is False
    finally:
        analytics_mongo.connect()


def test_connection_defaults_yield_to_options_in_the_uri():
    options = analytics_mongo.connection_options("mongodb://db:27017/x?maxPoolSize=7&serverSelectionTimeoutMS=100")
    assert "maxPoolSize" not in options
    assert "serverSelectionTimeoutMS" not in options
    assert options["connectTimeoutMS"] == 1000
    assert options["socketTimeoutMS"] == 10000


def test_a_completion_is_recorded_and_folded(mongo):
    record = completion()
    assert services.apply_record(record) is True
    event = Event.objects.get(event_id=record["event_id"])
    assert (event.type, event.day, event.hour, event.weekday) == ("task.completed", "2026-03-10", 12, 1)
    assert event.occurred_at.astimezone(UTC) == at(2026, 3, 10, 12, 0)
    m = metrics(record["user_id"], "2026-03-10")
    assert m["tasks_completed"] == 1
    assert m["time_spent"] == 30
    assert m["efficiency_sum"] == 80.0
    assert m["efficiency_count"] == 1
    assert m["tasks_by_type"] == {"code": 1}
    assert m["hours"] == {"12": 1}


def test_a_redelivered_event_changes_nothing(mongo):
    record = completion()
    assert services.apply_record(record) is True
    before = metrics(record["user_id"], "2026-03-10")
    assert services.apply_record(record) is False
    assert services.apply_record(dict(record)) is False
    assert metrics(record["user_id"], "2026-03-10") == before
    assert Event.objects(event_id=record["event_id"]).count() == 1
    assert DailyStat.objects(user_id=record["user_id"]).count() == 1


def test_an_event_stored_but_never_folded_is_folded_once_on_redelivery(mongo):
    """A crash between the Event insert and the $inc: redelivery completes the work exactly once."""
    record = completion()
    Event._get_collection().insert_one({**record, "occurred_at": at(2026, 3, 10, 12, 0)})
    assert services.apply_record(record) is True
    assert services.apply_record(record) is False
    assert metrics(record["user_id"], "2026-03-10")["tasks_completed"] == 1


def test_concurrent_redeliveries_fold_once(wire_only):
    record = completion()
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: services.apply_record(record), range(12)))
    assert results.count(True) == 1
    assert metrics(record["user_id"], "2026-03-10")["tasks_completed"] == 1


def test_distinct_events_on_one_day_all_count(mongo):
    for n in range(5):
        services.apply_record(completion(task_id=f"t{n}", when=at(2026, 3, 10, 8 + n, 0), efficiency=60.0 + n * 10))
    m = metrics("u" * 24, "2026-03-10")
    assert m["tasks_completed"] == 5
    assert m["efficiency_count"] == 5
    assert m["efficiency_sum"] == 400.0
    assert rules.peak_hour(m["hours"]) == 8


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        # UTC+14: 09:30Z and 10:30Z straddle local midnight (23:30 on the 10th, 00:30 on the 11th)
        ("Pacific/Kiritimati", {"2026-03-10": [23], "2026-03-11": [0]}),
        # UTC-12: both are still the evening of the 9th (21:30 and 22:30)
        ("Etc/GMT+12", {"2026-03-09": [21, 22]}),
    ],
)
def test_days_are_the_users_own_near_midnight(mongo, tz, expected):
    user_id = "k" * 24
    for n, when in enumerate([at(2026, 3, 10, 9, 30), at(2026, 3, 10, 10, 30)]):
        services.apply_record(completion(user_id=user_id, tz=tz, task_id=f"t{n}", when=when))
    docs = {d.day: d for d in DailyStat.objects(user_id=user_id)}
    assert set(docs) == set(expected)
    for day, hours in expected.items():
        assert docs[day].metrics["tasks_completed"] == len(hours)
        assert sorted(int(h) for h, c in docs[day].metrics["hours"].items() if c) == hours
        local_midnight = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(tz))
        assert docs[day].date.astimezone(UTC) == local_midnight.astimezone(UTC)


def test_a_reopen_reverses_the_completion_on_its_own_day(mongo):
    record = completion(when=at(2026, 3, 10, 23, 50), duration=45, efficiency=70.0)
    services.apply_record(record)
    reopen = services.make_record(
        "task.reopened",
        record["user_id"],
        ZoneInfo("UTC"),
        at(2026, 3, 11, 9, 0),  # the next day: the reversal still lands on the 10th
        event_id="task.reopened:t1:x",
        subject_id="t1",
        data={"task_id": "t1", "reverses": {k: record[k] for k in ("event_id", "day", "hour", "data")}},
    )
    assert services.apply_record(reopen) is True
    assert services.apply_record(reopen) is False
    m = metrics(record["user_id"], "2026-03-10")
    assert m["tasks_completed"] == 0
    assert m["time_spent"] == 0
    assert m["efficiency_count"] == 0
    assert rules.public_map(m["tasks_by_type"]) == {}
    assert rules.peak_hour(m["hours"]) is None
    assert metrics(record["user_id"], "2026-03-11") is None


def test_deleting_a_user_removes_only_their_documents(mongo):
    services.apply_record(completion(user_id="a" * 24, task_id="ta"))
    services.apply_record(completion(user_id="b" * 24, task_id="tb"))
    assert services.delete_user_data("a" * 24) == {"events": 1, "days": 1}
    assert Event.objects(user_id="a" * 24).count() == 0
    assert DailyStat.objects(user_id="a" * 24).count() == 0
    assert Event.objects(user_id="b" * 24).count() == 1
    assert DailyStat.objects(user_id="b" * 24).count() == 1
