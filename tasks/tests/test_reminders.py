"""Task reminders: the API, following the task, and the due scan (time-controlled)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from notifications.models import Notification
from notifications.services import update_settings
from tasks import services as task_services
from tasks.models import Reminder, ReminderStatus
from tasks.reminders import metrics
from tasks.reminders import services as reminders
from tasks.services import create_task

pytestmark = [pytest.mark.services, pytest.mark.django_db]

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def body(response):
    return response.json()


def task_due(user, due=T0 + timedelta(hours=1), **fields):
    return create_task(user, title="Write the report", due_date=due, understand=False, **fields)


def notifications_of(user):
    return list(Notification.objects.filter(user=user, type="task_reminder").order_by("created_at"))


# ------------------------------------------------------------------------------ API
def test_create_list_delete(auth_client, user):
    # Real time: the client's token is issued now.
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    task = task_due(user, due=due)
    response = auth_client.post(f"/api/tasks/{task.pk}/reminders", {"offsetSeconds": -900}, format="json")
    assert response.status_code == 201, body(response)
    data = body(response)["data"]
    assert data["fireAt"] == (due - timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
    assert data["status"] == "pending" and data["taskId"] == task.pk and data["offsetSeconds"] == -900
    assert data["channels"] == ["in_app", "push"]  # the user's settings for task_reminder
    assert response["Location"] == f"/api/tasks/{task.pk}/reminders/{data['id']}"
    when = (due + timedelta(hours=1)).astimezone(ZoneInfo("Europe/Paris"))
    absolute = auth_client.post(
        f"/api/tasks/{task.pk}/reminders", {"at": when.isoformat(), "channels": ["email"]}, format="json"
    )
    assert absolute.status_code == 201, body(absolute)
    assert body(absolute)["data"]["fireAt"] == (due + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert body(absolute)["data"]["channels"] == ["email"]
    local = auth_client.post(f"/api/tasks/{task.pk}/reminders", {"localTime": "08:30"}, format="json")
    assert local.status_code == 201 and body(local)["data"]["localTime"] == "08:30"
    listed = body(auth_client.get(f"/api/tasks/{task.pk}/reminders"))["data"]
    assert [r["id"] for r in listed] == [data["id"], body(absolute)["data"]["id"], body(local)["data"]["id"]]
    gone = auth_client.delete(f"/api/tasks/{task.pk}/reminders/{data['id']}")
    assert gone.status_code == 200
    assert auth_client.get(f"/api/tasks/{task.pk}/reminders/{data['id']}").status_code == 404
    assert Reminder.objects.filter(task=task).count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "nonFieldErrors"),
        ({"offsetSeconds": -900, "at": "2030-01-01T00:00:00Z"}, "nonFieldErrors"),
        ({"offsetSeconds": -10**9}, "offsetSeconds"),
        ({"offsetSeconds": "soon"}, "offsetSeconds"),
        ({"at": "2020-01-01T00:00:00Z"}, "at"),
        ({"localTime": "25:00"}, "localTime"),
        ({"offsetSeconds": -60, "channels": ["sms"]}, "channels"),
        ({"offsetSeconds": -60, "channels": []}, "channels"),
        ({"offsetSeconds": -60, "channels": ["email", "email"]}, "channels"),
        ({"offsetSeconds": -60, "fireAt": "2030-01-01T00:00:00Z"}, "fireAt"),
    ],
)
def test_bad_input_is_a_400_with_the_field(auth_client, user, payload, field):
    task = task_due(user)
    response = auth_client.post(f"/api/tasks/{task.pk}/reminders", payload, format="json")
    assert response.status_code == 400, body(response)
    assert field in body(response)["errors"]
    assert not Reminder.objects.exists()


def test_at_most_ten_per_task(auth_client, user):
    task = task_due(user)
    for n in range(10):
        assert auth_client.post(f"/api/tasks/{task.pk}/reminders", {"offsetSeconds": -60 * n}, format="json").status_code == 201
    response = auth_client.post(f"/api/tasks/{task.pk}/reminders", {"offsetSeconds": -7}, format="json")
    assert response.status_code == 400 and "nonFieldErrors" in body(response)["errors"]
    assert Reminder.objects.filter(task=task).count() == 10


def test_a_foreign_task_or_reminder_is_a_404(auth_client, other_user, user):
    theirs = task_due(other_user)
    reminder = reminders.create_reminder(other_user, theirs, offset_seconds=-60)
    mine = task_due(user)
    assert auth_client.get(f"/api/tasks/{theirs.pk}/reminders").status_code == 404
    assert auth_client.post(f"/api/tasks/{theirs.pk}/reminders", {"offsetSeconds": -60}, format="json").status_code == 404
    assert auth_client.delete(f"/api/tasks/{theirs.pk}/reminders/{reminder.pk}").status_code == 404
    # Their reminder through my task: still not found, and still there.
    assert auth_client.delete(f"/api/tasks/{mine.pk}/reminders/{reminder.pk}").status_code == 404
    assert auth_client.delete(f"/api/tasks/{mine.pk}/reminders/not-an-id").status_code == 404
    assert Reminder.objects.filter(pk=reminder.pk).exists()


@pytest.mark.parametrize("count", [1, 10])
def test_list_query_count_is_constant(auth_client, user, django_assert_num_queries, count):
    task = task_due(user)
    for n in range(count):
        reminders.create_reminder(user, task, offset_seconds=-60 * n)
    auth_client.get(f"/api/tasks/{task.pk}/reminders")  # warms the auth cache
    with django_assert_num_queries(2):  # the task, its reminders
        response = auth_client.get(f"/api/tasks/{task.pk}/reminders")
    assert len(body(response)["data"]) == count


# ------------------------------------------------------------------------------ firing
def test_fires_in_the_first_scan_after_its_time_and_never_twice(user, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        task = task_due(user)
        reminder = reminders.create_reminder(user, task, offset_seconds=-900)
    with time_machine.travel(T0 + timedelta(minutes=44, seconds=59), tick=False):
        assert reminders.fire_due() == {}
    with time_machine.travel(T0 + timedelta(minutes=45, seconds=5), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert reminders.fire_due() == {"sent": 1}
        assert reminders.fire_due() == {}
    with time_machine.travel(T0 + timedelta(minutes=46), tick=False):
        assert reminders.fire_due() == {}
    [notification] = notifications_of(user)
    assert notification.title == "Reminder: Write the report"
    assert notification.data["task_id"] == task.pk and notification.data["reminder_id"] == reminder.pk
    assert notification.pushed_at is not None  # stored and pushed on the socket
    reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.SENT and reminder.fired_at == T0 + timedelta(minutes=45, seconds=5)
    # The same firing again (a redelivered job) stores nothing new: the dedupe key.
    Reminder.objects.filter(pk=reminder.pk).update(status=ReminderStatus.PENDING, fire_count=0)
    with time_machine.travel(T0 + timedelta(minutes=47), tick=False):
        reminders.fire_due()
    assert len(notifications_of(user)) == 1


def test_a_scan_missed_for_ten_minutes_still_fires(user):
    with time_machine.travel(T0, tick=False):
        task = task_due(user)
        reminders.create_reminder(user, task, offset_seconds=-900)
    with time_machine.travel(T0 + timedelta(minutes=55), tick=False):
        assert reminders.fire_due() == {"sent": 1}
    assert len(notifications_of(user)) == 1
    stored = metrics.get_redis().hgetall(metrics._key())
    assert stored["count"] == "1" and float(stored["sum"]) == 600.0
    assert stored["900.0"] == "1" and "300.0" not in stored


def test_more_than_six_hours_late_is_stale_not_sent(user):
    with time_machine.travel(T0, tick=False):
        task = task_due(user)
        reminder = reminders.create_reminder(user, task, offset_seconds=-900)
    with time_machine.travel(T0 + timedelta(hours=7), tick=False):
        assert reminders.fire_due() == {"stale": 1}
    reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.STALE and notifications_of(user) == []


def test_moving_the_due_date_recomputes_and_re_arms(user):
    with time_machine.travel(T0, tick=False):
        task = task_due(user)
        relative = reminders.create_reminder(user, task, offset_seconds=-900)
        absolute = reminders.create_reminder(user, task, at=T0 + timedelta(minutes=30))
    with time_machine.travel(T0 + timedelta(minutes=50), tick=False):
        assert reminders.fire_due() == {"sent": 2}
        task_services.update_task(user, task, {"due_date": T0 + timedelta(hours=3)})
    relative.refresh_from_db()
    absolute.refresh_from_db()
    assert relative.status == ReminderStatus.PENDING and relative.fire_at == T0 + timedelta(hours=2, minutes=45)
    assert absolute.status == ReminderStatus.SENT  # its time did not move
    with time_machine.travel(T0 + timedelta(hours=2, minutes=45, seconds=10), tick=False):
        assert reminders.fire_due() == {"sent": 1}
    assert len(notifications_of(user)) == 3  # the re-armed one fired again
    # Moved into the past: recomputed, not re-armed.
    with time_machine.travel(T0 + timedelta(hours=4), tick=False):
        task_services.update_task(user, task, {"due_date": T0 + timedelta(hours=3, minutes=30)})
    relative.refresh_from_db()
    assert relative.status == ReminderStatus.SENT and relative.fire_at == T0 + timedelta(hours=3, minutes=15)


def test_completing_or_cancelling_cancels_and_reopening_re_arms(user):
    with time_machine.travel(T0, tick=False):
        task = task_due(user)
        reminder = reminders.create_reminder(user, task, offset_seconds=-900)
        task_services.complete_task(user, task)
        reminder.refresh_from_db()
        assert reminder.status == ReminderStatus.CANCELLED
        task_services.reopen_task(user, task)
        reminder.refresh_from_db()
        assert reminder.status == ReminderStatus.PENDING
        task_services.update_task(user, task, {"status": "cancelled"})
        reminder.refresh_from_db()
        assert reminder.status == ReminderStatus.CANCELLED
    with time_machine.travel(T0 + timedelta(minutes=50), tick=False):
        assert reminders.fire_due() == {}
    assert notifications_of(user) == []


def test_deleting_the_task_deletes_its_reminders(auth_client, user):
    task = task_due(user)
    reminders.create_reminder(user, task, offset_seconds=-900)
    assert auth_client.delete(f"/api/tasks/{task.pk}").status_code == 200
    assert not Reminder.objects.exists()


def test_dst_nine_local_on_spring_forward_day_fires_at_13z(make_user):
    new_yorker = make_user(timezone="America/New_York")
    update_settings(new_yorker, default_reminders=True)
    # A date-only task due on 8 March 2026 (clocks go 02:00 -> 03:00 that morning): its due
    # date is the end of that day in New York.
    end_of_day = datetime.combine(date(2026, 3, 8), datetime.max.time(), tzinfo=ZoneInfo("America/New_York"))
    with time_machine.travel(at(2026, 3, 7, 12), tick=False):
        task = create_task(new_yorker, title="Taxes", due_date=end_of_day, due_date_only=True, understand=False)
    [reminder] = Reminder.objects.filter(task=task)
    assert reminder.is_default and str(reminder.local_time) == "09:00:00"
    assert reminder.fire_at == at(2026, 3, 8, 13)  # EDT, UTC-4; the day before it would be 14:00Z
    with time_machine.travel(at(2026, 3, 8, 12, 59, 50), tick=False):
        assert reminders.fire_due() == {}
    with time_machine.travel(at(2026, 3, 8, 13, 0, 10), tick=False):
        assert reminders.fire_due() == {"sent": 1}


def test_default_reminder_is_off_until_turned_on(user):
    assert Reminder.objects.filter(task=task_due(user)).count() == 0
    update_settings(user, default_reminders=True)
    with time_machine.travel(T0, tick=False):
        task = task_due(user)
    [reminder] = Reminder.objects.filter(task=task)
    assert reminder.offset_seconds == -900 and reminder.fire_at == T0 + timedelta(minutes=45)
    undated = create_task(user, title="Someday", understand=False)
    assert not Reminder.objects.filter(task=undated).exists()
    task_services.update_task(user, undated, {"due_date": T0 + timedelta(days=1)})
    assert Reminder.objects.filter(task=undated, is_default=True).count() == 1


def test_copy_reminders_to_the_next_occurrence(user):
    with time_machine.travel(T0, tick=False):
        first = task_due(user, due=T0 + timedelta(days=1))
        reminders.create_reminder(user, first, offset_seconds=-900, channels=["email"])
        reminders.create_reminder(user, first, at=T0 + timedelta(hours=20))
        nxt = task_due(user, due=T0 + timedelta(days=8))
        copies = reminders.copy_reminders(first, nxt)
    assert [(c.offset_seconds, c.at, c.channels, c.fire_at) for c in copies] == [
        (-900, None, ["email"], T0 + timedelta(days=8, minutes=-15)),
        (None, T0 + timedelta(days=7, hours=20), ["in_app", "push"], T0 + timedelta(days=7, hours=20)),
    ]
    assert Reminder.objects.filter(task=nxt, status="pending").count() == 2
    assert Reminder.objects.filter(task=first).count() == 2


def test_a_claim_whose_worker_died_is_released_after_the_lease(user, settings):
    with time_machine.travel(T0, tick=False):
        task = task_due(user)
        reminders.create_reminder(user, task, offset_seconds=-900)
    with time_machine.travel(T0 + timedelta(minutes=45, seconds=1), tick=False):
        assert len(reminders.claim(T0 + timedelta(minutes=45, seconds=1), 10)) == 1  # then the worker died
        assert reminders.fire_due() == {}  # leased
    with time_machine.travel(T0 + timedelta(minutes=45, seconds=2 + settings.REMINDERS_LEASE_SECONDS), tick=False):
        assert reminders.fire_due() == {"sent": 1}
    assert len(notifications_of(user)) == 1


def test_metrics_show_the_lag_histogram_and_oldest_due(user, staff_user):
    with time_machine.travel(T0, tick=False):
        task = task_due(user)
        reminders.create_reminder(user, task, offset_seconds=-900)
        reminders.create_reminder(user, task, offset_seconds=-1200)
    with time_machine.travel(T0 + timedelta(minutes=46), tick=False):
        reminders.claim(T0 + timedelta(minutes=46), 1)  # the older one, claimed and stuck
        families = {f.name: f for f in metrics.collect()}
    assert families["deepiri_reminder_oldest_unsent_due_seconds"].samples[0].value == 360.0
    assert families["deepiri_reminder_lag_seconds"].type == "histogram"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_scans_send_each_reminder_once(user):
    with time_machine.travel(T0, tick=False):
        for n in range(40):
            reminders.create_reminder(user, task_due(user), offset_seconds=-900 - n)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def scan():
        try:
            barrier.wait(timeout=10)
            results.append(reminders.fire_due(batch=5))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    with time_machine.travel(T0 + timedelta(minutes=50), tick=True):
        threads = [threading.Thread(target=scan) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors
    assert sum(r.get("sent", 0) for r in results) == 40
    assert len(notifications_of(user)) == 40
    assert Reminder.objects.filter(status="sent", fire_count=1).count() == 40
