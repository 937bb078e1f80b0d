"""Recurring tasks over REST: rule on create/update, one row per occurrence, skip, series
delete, reopen, COUNT, preview, series streak and its badge, bad input, scoping, query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from conftest import client_for
from gamification.models import LedgerEntry
from tasks.models import RecurrenceSeries, Task, TaskOccurrence

pytestmark = pytest.mark.django_db

DAILY = {"rule": "FREQ=DAILY", "anchor": "due"}


def body(response):
    return response.json()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def create(client, due: datetime | str | None, recurrence=DAILY, **fields):
    payload = {"title": "Water the plants", "tags": ["home"], "priority": "high", "estimatedDuration": 10, **fields}
    if due is not None:
        payload["dueDate"] = due if isinstance(due, str) else iso(due)
    if recurrence is not None:
        payload["recurrence"] = recurrence
    response = client.post("/api/tasks", payload, format="json")
    assert response.status_code == 201, body(response)
    return body(response)["data"]


def complete(client, task_id):
    response = client.post(f"/api/tasks/{task_id}/complete", {}, format="json")
    assert response.status_code == 200, body(response)
    return body(response)["data"]


def soon():
    return datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)


def test_create_with_a_rule_shows_the_series(auth_client, user):
    due = soon()
    data = create(auth_client, due, {"rule": "freq=weekly;byday=mo,we,fr"})
    assert data["recurrence"]["rule"] == "FREQ=WEEKLY;BYDAY=MO,WE,FR"
    assert data["recurrence"]["anchor"] == "due"
    assert data["recurrence"]["timezone"] == user.timezone
    assert data["recurrence"]["text"] == "Every week on Monday, Wednesday and Friday"
    assert len(data["recurrence"]["next"]) == 5 and all(v.endswith("Z") for v in data["recurrence"]["next"])
    assert data["recurrence"]["next"][0] > data["dueDate"]
    assert data["occurrenceIndex"] == 0 and len(data["seriesId"]) == 24
    assert data["seriesStreak"] == {"current": 0, "longest": 0}
    # the same shape on read and in the list
    assert body(auth_client.get(f"/api/tasks/{data['id']}"))["data"]["recurrence"] == data["recurrence"]
    listed = body(auth_client.get("/api/tasks"))["data"][0]
    assert {k: listed[k] for k in ("recurrence", "seriesId", "occurrenceIndex", "seriesStreak")} == {
        k: data[k] for k in ("recurrence", "seriesId", "occurrenceIndex", "seriesStreak")
    }


def test_a_plain_task_has_no_series(auth_client):
    data = create(auth_client, soon(), recurrence=None)
    assert (data["recurrence"], data["seriesId"], data["occurrenceIndex"], data["seriesStreak"]) == (None,) * 4


def test_completing_creates_the_next_occurrence_once(auth_client, user):
    due = soon()
    first = create(auth_client, due)
    done = complete(auth_client, first["id"])
    following = done["effects"]["nextOccurrence"]
    assert following["occurrenceIndex"] == 1 and following["seriesId"] == first["seriesId"]
    assert following["dueDate"] == iso(due + timedelta(days=1))
    assert following["status"] == "pending" and following["completionData"] is None
    assert (following["title"], following["tags"], following["priority"], following["estimatedDuration"]) == (
        "Water the plants", ["home"], "high", 10)
    assert done["effects"]["pointsAwarded"] > 0
    again = complete(auth_client, first["id"])  # a double tap: nothing new
    assert "nextOccurrence" not in again["effects"] and again["effects"]["pointsAwarded"] == 0
    assert Task.objects.filter(user=user).count() == 2


def test_a_status_change_to_completed_names_the_next_occurrence_too(auth_client, user):
    first = create(auth_client, soon())
    response = auth_client.patch(f"/api/tasks/{first['id']}", {"status": "completed"}, format="json")
    assert response.status_code == 200, body(response)
    following = body(response)["data"]["effects"]["nextOccurrence"]
    assert following["occurrenceIndex"] == 1 and following["seriesId"] == first["seriesId"]
    assert Task.objects.filter(user=user).count() == 2


def test_past_occurrences_are_skipped_and_counted(auth_client, user):
    due = soon() - timedelta(days=3)  # slots -3d, -2d, -1d are past; today's (+1h) is next
    first = create(auth_client, due)
    following = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    assert following["occurrenceIndex"] == 3
    assert following["dueDate"] == iso(due + timedelta(days=3))
    assert TaskOccurrence.objects.get(task_id=following["id"]).skipped_before == 2
    assert Task.objects.filter(user=user).count() == 2  # no backlog flood


def test_series_streak_three_on_time_then_one_missed(auth_client, user):
    current = create(auth_client, soon())
    for expected in (1, 2, 3):
        done = complete(auth_client, current["id"])
        current = done["effects"]["nextOccurrence"]
        assert current["seriesStreak"]["current"] == expected
    assert current["seriesStreak"] == {"current": 3, "longest": 3}
    due = datetime.fromisoformat(current["dueDate"])
    # Two days later the open occurrence's successor has fell due: the read shows the streak over,
    # and completing it late resets the stored one.
    with time_machine.travel(due + timedelta(days=1, hours=1), tick=True):
        client = client_for(user)  # a token issued then
        assert body(client.get(f"/api/tasks/{current['id']}"))["data"]["seriesStreak"] == {"current": 0, "longest": 3}
        late = complete(client, current["id"])["effects"]["nextOccurrence"]
    assert late["seriesStreak"] == {"current": 0, "longest": 3}


def test_ten_in_a_row_earns_the_series_badge_once(auth_client, user):
    current = create(auth_client, soon())
    earned = []
    for _ in range(11):
        done = complete(auth_client, current["id"])
        earned += [b["slug"] for b in done["effects"]["badgesAwarded"]]
        current = done["effects"]["nextOccurrence"]
    assert earned.count("ten-in-a-row") == 1
    assert LedgerEntry.objects.filter(user=user, reason="badge:ten-in-a-row").count() == 1


def test_completion_anchor_counts_from_the_completion_and_keeps_no_streak(auth_client, user):
    due = soon() - timedelta(days=10)
    first = create(auth_client, due, {"rule": "FREQ=DAILY;INTERVAL=3", "anchor": "completion"})
    assert first["seriesStreak"] is None
    assert first["recurrence"]["text"] == "Every 3 days after completion"
    following = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    assert following["occurrenceIndex"] == 1 and following["seriesStreak"] is None
    expected = datetime.fromisoformat(following["dueDate"]) - datetime.now(UTC)
    assert timedelta(days=2) < expected < timedelta(days=4)


def test_reopen_removes_the_untouched_next_occurrence_and_restores_the_streak(auth_client, user):
    first = create(auth_client, soon())
    following = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    reopened = body(auth_client.post(f"/api/tasks/{first['id']}/reopen", {}, format="json"))["data"]
    assert reopened["status"] == "pending" and reopened["seriesStreak"]["current"] == 0
    assert not Task.objects.filter(pk=following["id"]).exists()
    # completing again makes it again, once
    again = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    assert again["occurrenceIndex"] == 1


def test_reopen_keeps_a_next_occurrence_the_user_touched(auth_client, user):
    first = create(auth_client, soon())
    following = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    assert auth_client.patch(f"/api/tasks/{following['id']}", {"title": "Water the big plant"},
                             format="json").status_code == 200
    auth_client.post(f"/api/tasks/{first['id']}/reopen", {}, format="json")
    assert Task.objects.filter(pk=following["id"]).exists()
    # completing the first again finds the kept one: still exactly one occurrence 1
    again = complete(auth_client, first["id"])
    assert again["effects"]["nextOccurrence"]["id"] == following["id"]
    assert TaskOccurrence.objects.filter(series_id=first["seriesId"], index=1).count() == 1


def test_skip_advances_without_points(auth_client, user):
    first = create(auth_client, soon())
    before = LedgerEntry.objects.filter(user=user).count()
    response = auth_client.post(f"/api/tasks/{first['id']}/skip", {}, format="json")
    assert response.status_code == 200, body(response)
    data = body(response)["data"]
    assert data["status"] == "cancelled"
    assert data["nextOccurrence"]["occurrenceIndex"] == 1
    assert data["nextOccurrence"]["seriesStreak"]["current"] == 0
    assert LedgerEntry.objects.filter(user=user).count() == before
    # skipping it again, or skipping a task that does not repeat, is a conflict
    assert auth_client.post(f"/api/tasks/{first['id']}/skip", {}, format="json").status_code == 409
    plain = create(auth_client, soon(), recurrence=None)
    response = auth_client.post(f"/api/tasks/{plain['id']}/skip", {}, format="json")
    assert response.status_code == 409 and body(response)["code"] == "conflict"


def test_delete_series_future_stops_it_and_keeps_history(auth_client, user):
    first = create(auth_client, soon())
    following = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    response = auth_client.delete(f"/api/tasks/{following['id']}?series=future")
    assert response.status_code == 200, body(response)
    series = RecurrenceSeries.objects.get(pk=first["seriesId"])
    assert series.state == "stopped"
    assert list(Task.objects.filter(user=user).values_list("pk", flat=True)) == [first["id"]]
    kept = body(auth_client.get(f"/api/tasks/{first['id']}"))["data"]
    assert kept["status"] == "completed" and kept["seriesId"] == first["seriesId"] and kept["recurrence"] is None
    assert auth_client.delete(f"/api/tasks/{first['id']}?series=all").status_code == 400


def test_plain_delete_of_an_occurrence_moves_the_series_on(auth_client, user):
    first = create(auth_client, soon())
    assert auth_client.delete(f"/api/tasks/{first['id']}").status_code == 200
    [left] = Task.objects.filter(user=user)
    assert left.occurrence.index == 1 and left.occurrence.series.state == "active"


def test_count_ends_the_series(auth_client, user):
    first = create(auth_client, soon(), {"rule": "FREQ=DAILY;COUNT=2"})
    second = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    done = complete(auth_client, second["id"])
    assert "nextOccurrence" not in done["effects"] and done["recurrence"] is None
    assert RecurrenceSeries.objects.get(pk=first["seriesId"]).state == "ended"


def test_until_ends_the_series(auth_client, user):
    due = soon()
    until = (due + timedelta(days=1)).strftime("%Y%m%d")
    first = create(auth_client, due, {"rule": f"FREQ=DAILY;UNTIL={until}"})
    second = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    assert "nextOccurrence" not in complete(auth_client, second["id"])["effects"]


def test_date_only_stays_date_only(auth_client, user):
    user.timezone = "Europe/Berlin"
    user.save(update_fields=["timezone"])
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    first = create(auth_client, day.isoformat())
    assert first["dueDateOnly"] is True
    following = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    assert following["dueDateOnly"] is True
    local = datetime.fromisoformat(following["dueDate"]).astimezone(user.tzinfo)
    assert (local.date(), local.hour, local.minute, local.second) == (day + timedelta(days=1), 23, 59, 59)


def test_the_series_keeps_the_zone_it_was_set_in(auth_client, user):
    user.timezone = "America/New_York"
    user.save(update_fields=["timezone"])
    first = create(auth_client, "2099-03-07T09:00:00")
    user.timezone = "Asia/Tokyo"
    user.save(update_fields=["timezone"])
    following = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    assert following["recurrence"]["timezone"] == "America/New_York"
    assert following["dueDate"] == "2099-03-08T13:00:00Z"  # 09:00 New York time, after the DST change


def test_a_stored_rule_that_no_longer_parses_stops_the_series_but_completion_succeeds(auth_client, user):
    first = create(auth_client, soon())
    RecurrenceSeries.objects.filter(pk=first["seriesId"]).update(rule="FREQ=SECONDLY")
    done = complete(auth_client, first["id"])
    assert done["status"] == "completed" and "nextOccurrence" not in done["effects"]
    series = RecurrenceSeries.objects.get(pk=first["seriesId"])
    assert series.state == "broken" and "no longer parses" in series.stop_reason


def test_patch_sets_replaces_and_removes_the_rule(auth_client, user):
    plain = create(auth_client, soon(), recurrence=None)
    url = f"/api/tasks/{plain['id']}"
    data = body(auth_client.patch(url, {"recurrence": DAILY}, format="json"))["data"]
    first_series = data["seriesId"]
    assert data["recurrence"]["rule"] == "FREQ=DAILY"
    # sending back what was read changes nothing
    same = body(auth_client.patch(url, {"recurrence": data["recurrence"]}, format="json"))["data"]
    assert same["seriesId"] == first_series
    data = body(auth_client.patch(url, {"recurrence": {"rule": "FREQ=WEEKLY"}}, format="json"))["data"]
    assert data["seriesId"] != first_series and data["occurrenceIndex"] == 0
    assert RecurrenceSeries.objects.get(pk=first_series).state == "stopped"
    response = auth_client.patch(url, {"recurrence": {"anchor": "due"}}, format="json")  # a PATCH still needs a rule
    assert response.status_code == 400 and body(response)["errorCodes"]["recurrence"]["rule"] == ["missing_field"]
    data = body(auth_client.patch(url, {"recurrence": None}, format="json"))["data"]
    assert data["recurrence"] is None
    assert "nextOccurrence" not in complete(auth_client, plain["id"])["effects"]


@pytest.mark.parametrize(
    ("recurrence", "path", "code"),
    [
        ({"rule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, ("recurrence", "rule"), "rule_never_occurs"),
        ({"rule": "FREQ=HOURLY"}, ("recurrence", "rule"), "invalid_rule"),
        ({"rule": "FREQ=DAILY;BYDAY=XX"}, ("recurrence", "rule"), "invalid_rule"),
        ({"rule": "FREQ=DAILY;" + "INTERVAL=1;" * 60}, ("recurrence", "rule"), "too_long"),
        ({"rule": 5}, ("recurrence", "rule"), "invalid_rule"),
        ({"rule": "FREQ=DAILY", "anchor": "sometimes"}, ("recurrence", "anchor"), "invalid_choice"),
        ({"rule": "FREQ=DAILY", "extra": 1}, ("recurrence", "extra"), "unknown_field"),
        ("FREQ=DAILY", ("recurrence", "nonFieldErrors"), "invalid"),
    ],
)
def test_bad_rules_are_400_field_errors_and_write_nothing(auth_client, user, recurrence, path, code):
    response = auth_client.post("/api/tasks", {"title": "x", "dueDate": iso(soon()), "recurrence": recurrence},
                                format="json")
    assert response.status_code == 400, body(response)
    codes = body(response)["errorCodes"]
    for key in path:
        codes = codes[key]
    assert codes == [code]
    assert not Task.objects.filter(user=user).exists() and not RecurrenceSeries.objects.exists()


def test_a_rule_needs_a_due_date(auth_client, user):
    response = auth_client.post("/api/tasks", {"title": "x", "recurrence": DAILY}, format="json")
    assert response.status_code == 400
    assert body(response)["errorCodes"] == {"recurrence": ["recurrence_needs_due_date"]}
    assert not Task.objects.filter(user=user).exists()


def test_preview_lists_ten_due_times_and_writes_nothing(auth_client, user):
    user.timezone = "Europe/Berlin"
    user.save(update_fields=["timezone"])
    response = auth_client.post("/api/tasks/recurrence/preview",
                                {"rule": "FREQ=WEEKLY;BYDAY=MO,WE,FR", "dueDate": "2026-03-27T09:00:00"}, format="json")
    assert response.status_code == 200, body(response)
    data = body(response)["data"]
    assert data["text"] == "Every week on Monday, Wednesday and Friday" and data["timezone"] == "Europe/Berlin"
    assert data["occurrences"][:3] == ["2026-03-27T08:00:00Z", "2026-03-30T07:00:00Z", "2026-04-01T07:00:00Z"]
    assert len(data["occurrences"]) == 10
    assert not RecurrenceSeries.objects.exists() and not Task.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"rule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rule", "rule_never_occurs"),
        ({"rule": "FREQ=MINUTELY"}, "rule", "invalid_rule"),
        ({"rule": "FREQ=DAILY;COUNT=x"}, "rule", "invalid_rule"),
        ({"rule": "FREQ=DAILY", "dueDate": "tomorrow"}, "dueDate", "invalid"),
        ({}, "rule", "missing_field"),
    ],
)
def test_preview_refuses_bad_rules(auth_client, payload, field, code):
    response = auth_client.post("/api/tasks/recurrence/preview", payload, format="json")
    assert response.status_code == 400, body(response)
    assert body(response)["errorCodes"][field] == [code]


def test_another_users_occurrence_is_404(auth_client, other_client):
    theirs = create(other_client, soon())
    base = f"/api/tasks/{theirs['id']}"
    assert auth_client.post(f"{base}/skip", {}, format="json").status_code == 404
    assert auth_client.post(f"{base}/complete", {}, format="json").status_code == 404
    assert auth_client.delete(f"{base}?series=future").status_code == 404
    assert auth_client.patch(base, {"recurrence": None}, format="json").status_code == 404
    assert RecurrenceSeries.objects.get(pk=theirs["seriesId"]).state == "active"
    assert Task.objects.filter(pk=theirs["id"], status="pending").exists()


@pytest.mark.parametrize("limit", [5, 40])
def test_list_with_recurring_tasks_costs_one_query(auth_client, user, django_assert_num_queries, limit):
    for _ in range(20):
        first = create(auth_client, soon())
        complete(auth_client, first["id"])
    auth_client.get("/api/tasks?limit=1")
    with django_assert_num_queries(1):
        response = auth_client.get(f"/api/tasks?limit={limit}")
    assert len(body(response)["data"]) == limit


def test_the_next_occurrence_gets_copies_of_the_reminders(auth_client, user):
    from tasks.models import Reminder

    due = soon()
    first = create(auth_client, due)
    made = auth_client.post(f"/api/tasks/{first['id']}/reminders", {"offsetSeconds": -900, "channels": ["in_app"]},
                            format="json")
    assert made.status_code == 201, body(made)
    following = complete(auth_client, first["id"])["effects"]["nextOccurrence"]
    copies = list(Reminder.objects.filter(task_id=following["id"]))
    assert [(r.offset_seconds, r.channels, r.status, r.fire_at) for r in copies] == [
        (-900, ["in_app"], "pending", due + timedelta(days=1, minutes=-15))]
    assert Reminder.objects.get(task_id=first["id"]).status == "cancelled"  # the completed one's
