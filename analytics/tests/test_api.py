"""REST end to end: tasks and challenges completed over the API show up in every analytics
endpoint, in the user's own days, on both MongoDB engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics import handlers, insights, rebuild
from analytics import mongo as analytics_mongo
from analytics.documents import DailyStat, Event
from conftest import client_for

UTC = UTC


@pytest.fixture
def kiri(make_user):
    return make_user(email="kiri@example.com", timezone="Pacific/Kiritimati")  # UTC+14


@pytest.fixture
def baker(make_user):
    return make_user(email="baker@example.com", timezone="Etc/GMT+12")  # UTC-12


def local_today(user) -> str:
    return timezone.now().astimezone(ZoneInfo(user.timezone)).date().isoformat()


def data(response, status=200):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    return body["data"]


def make_task(committed, client, **fields):
    body = {"title": "Write the report", "type": "code", "estimatedDuration": 30, **fields}
    return data(committed(client.post, "/api/tasks", body, format="json"), 201)


def complete_task(committed, client, task_id, minutes=30):
    return data(committed(client.post, f"/api/tasks/{task_id}/complete", {"actualDuration": minutes}, format="json"))


def complete_challenge(committed, client, task_id, score=90):
    response = committed(client.post, "/api/challenges/generate", {"taskId": task_id}, format="json")
    # 201 when ready within the request, else 202; either way generation has run once committed
    challenge = data(response, response.status_code if response.status_code in (201, 202) else 201)
    challenge = data(client.get(f"/api/challenges/{challenge['id']}"))
    assert challenge["status"] == "pending"
    done = committed(
        client.post,
        f"/api/challenges/{challenge['id']}/complete",
        {"score": score, "completionTime": 300},
        format="json",
    )
    return challenge, data(done)


@pytest.mark.parametrize("who", ["kiri", "baker"])
def test_rest_activity_shows_up_in_every_endpoint_in_the_users_days(mongo, db, committed, request, who):
    user = request.getfixturevalue(who)
    client = client_for(user)
    today = local_today(user)
    first = make_task(committed, client, type="code", estimatedDuration=30)
    second = make_task(committed, client, type="study", estimatedDuration=60)
    challenge, _ = complete_challenge(committed, client, first["id"], score=90)  # before: none for a done task
    complete_task(committed, client, first["id"], 30)  # efficiency 100
    complete_task(committed, client, second["id"], 120)  # efficiency 50

    rows = data(client.get("/api/analytics?days=7"))
    assert [r["day"] for r in rows] == [today]
    m = rows[0]["metrics"]
    assert (m["tasksCreated"], m["tasksCompleted"], m["challengesCompleted"]) == (2, 2, 1)
    assert m["tasksByType"] == {"code": 1, "study": 1}
    assert m["challengesByType"] == {challenge["type"]: 1}
    assert m["timeSpent"] == 30 + 120 + 5
    assert m["averageEfficiency"] == 75.0
    from gamification.models import UserBadge

    assert m["pointsEarned"] > 0
    assert m["badgesEarned"] == UserBadge.objects.filter(user=user).count()
    assert m["peakProductivityHour"] == timezone.now().astimezone(ZoneInfo(user.timezone)).hour
    assert rows[0]["_id"] == rows[0]["id"]
    # `day` is the user's calendar day; `date` the instant it began, in UTC like every date-time out
    from datetime import UTC, date, datetime, time

    local_midnight = datetime.combine(date.fromisoformat(today), time.min, tzinfo=ZoneInfo(user.timezone))
    assert rows[0]["date"] == local_midnight.astimezone(UTC).isoformat().replace("+00:00", "Z")

    stats = data(client.get("/api/analytics/stats?period=day"))
    assert stats["totalTasksCompleted"] == 2
    assert stats["totalChallengesCompleted"] == 1
    assert stats["totalPointsEarned"] == m["pointsEarned"]
    assert stats["averageEfficiency"] == 75.0
    assert stats["tasksByType"] == {"code": 1, "study": 1}
    assert data(client.get("/api/analytics/stats"))["period"] == "week"

    perf = data(client.get("/api/analytics/performance"))
    local_now = timezone.now().astimezone(ZoneInfo(user.timezone))
    assert perf["heatmap"]["values"][local_now.weekday()][local_now.hour] == 3
    assert perf["heatmap"]["total"] == 3
    assert perf["trends"]["recent"]["tasksCompleted"] == 2
    assert perf["timezone"] == user.timezone

    assert isinstance(data(client.get("/api/analytics/insights")), list)


def test_google_docs_keys_are_not_camelized(mongo, committed, user):
    client = client_for(user)
    task = make_task(committed, client, type="google_docs")
    complete_task(committed, client, task["id"])
    assert data(client.get("/api/analytics"))[0]["metrics"]["tasksByType"] == {"google_docs": 1}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?days=400", "days"),
        ("?days=0", "days"),
        ("?days=-3", "days"),
        ("?days=abc", "days"),
        ("/stats?period=year", "period"),
        ("/performance?days=366", "days"),
    ],
)
def test_bad_query_is_a_400_with_field_errors(mongo, auth_client, query, field):
    response = auth_client.get(f"/api/analytics{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert field in body["errors"]


def test_the_full_range_is_accepted(mongo, auth_client):
    assert data(auth_client.get("/api/analytics?days=365")) == []
    assert data(auth_client.get("/api/analytics/performance?days=365"))["days"] == 365


def test_an_empty_period(mongo, auth_client):
    assert data(auth_client.get("/api/analytics?days=30")) == []
    stats = data(auth_client.get("/api/analytics/stats?period=month"))
    assert stats["totalTasksCompleted"] == 0
    assert stats["averageEfficiency"] is None
    assert stats["tasksByType"] == {}
    perf = data(auth_client.get("/api/analytics/performance"))
    assert perf["heatmap"]["total"] == 0
    assert perf["peakHour"] is None
    assert data(auth_client.get("/api/analytics/insights")) == []


def test_anonymous_is_a_401(mongo, api_client):
    for path in ("", "/stats", "/insights", "/performance"):
        assert api_client.get(f"/api/analytics{path}").status_code == 401


def test_another_users_data_is_never_visible(mongo, committed, user, other_user):
    other = client_for(other_user)
    task = make_task(committed, other, type="research")
    complete_task(committed, other, task["id"])
    mine = client_for(user)
    assert data(mine.get("/api/analytics")) == []
    assert data(mine.get("/api/analytics/stats?period=day"))["totalTasksCompleted"] == 0
    assert data(mine.get("/api/analytics/performance"))["heatmap"]["total"] == 0
    assert data(other.get("/api/analytics/stats?period=day"))["tasksByType"] == {"research": 1}


def test_reopen_over_rest_takes_the_completion_back(mongo, committed, user):
    client = client_for(user)
    task = make_task(committed, client)
    complete_task(committed, client, task["id"], 45)
    assert data(client.get("/api/analytics/stats?period=day"))["totalTasksCompleted"] == 1
    data(committed(client.post, f"/api/tasks/{task['id']}/reopen"))
    stats = data(client.get("/api/analytics/stats?period=day"))
    assert stats["totalTasksCompleted"] == 0
    assert stats["totalTimeSpent"] == 0
    assert stats["tasksByType"] == {}
    # the completion's points were reversed on the day they were earned; what is left (a badge,
    # which a reopen does not take back) is exactly the ledger's total
    from django.db.models import Sum

    from gamification.models import LedgerEntry

    ledger = LedgerEntry.objects.filter(user=user).aggregate(total=Sum("points"))["total"]
    assert stats["totalPointsEarned"] == ledger
    assert LedgerEntry.objects.filter(user=user, source="task").exclude(reversal=None).exists()  # it was reversed
    assert data(client.get("/api/analytics"))[0]["metrics"]["peakProductivityHour"] is None


def test_a_redelivered_domain_event_changes_nothing(mongo, committed, user):
    """The after-commit subscriber run twice for one completion (a Celery retry racing a late
    success, a worker redelivery) counts it once."""
    from kernel import events
    from tasks.events import TaskCompleted

    client = client_for(user)
    task = make_task(committed, client)
    with events.capture() as seen:
        complete_task(committed, client, task["id"])
    [completed] = [e for e in seen if isinstance(e, TaskCompleted)]
    before = rebuild.snapshot(user.id)
    handlers.on_task_completed(completed)
    assert rebuild.snapshot(user.id) == before
    assert Event.objects(user_id=user.id, type="task.completed").count() == 1


def test_rebuild_equals_incremental(mongo, committed, kiri):
    client = client_for(kiri)
    tasks = [make_task(committed, client, type=t, estimatedDuration=40) for t in ("code", "study", "code", "admin")]
    complete_task(committed, client, tasks[0]["id"], 20)
    complete_task(committed, client, tasks[1]["id"], 80)
    complete_task(committed, client, tasks[2]["id"], 40)
    data(committed(client.post, f"/api/tasks/{tasks[2]['id']}/reopen"))
    complete_task(committed, client, tasks[2]["id"], 50)  # completed again, later
    data(committed(client.post, f"/api/tasks/{tasks[1]['id']}/reopen"))
    complete_challenge(committed, client, tasks[3]["id"], score=70)
    incremental = rebuild.snapshot(kiri.id)
    assert incremental  # something to compare
    stored = insights.refresh(kiri)

    call_command("rebuild_analytics", "--user", kiri.email)
    assert rebuild.snapshot(kiri.id) == incremental
    kept = data(client.get("/api/analytics"))[0]["insights"]  # insights survive a rebuild
    assert [(i["type"], i["message"], i["generatedAt"]) for i in kept] == [
        (i["type"], i["message"], i["generated_at"]) for i in stored
    ]
    call_command("rebuild_analytics", "--all")
    assert rebuild.snapshot(kiri.id) == incremental
    # and after a rebuild the stream is still idempotent: redelivering a rebuilt event changes nothing
    event = Event._get_collection().find_one({"user_id": kiri.id, "type": "task.completed"}, {"_id": 0})
    from analytics import services

    assert services.apply_record({**event, "occurred_at": event["occurred_at"].isoformat()}) is False


def test_rebuild_needs_a_target(mongo, db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("rebuild_analytics")
    with pytest.raises(CommandError):
        call_command("rebuild_analytics", "--user", "nobody@example.com")


def test_account_deletion_removes_mongo_data_and_export_includes_it(mongo, committed, user, other_user, password):
    client = client_for(user)
    task = make_task(committed, client)
    complete_task(committed, client, task["id"])
    other = client_for(other_user)
    complete_task(committed, other, make_task(committed, other)["id"])

    export = data(client.get("/api/users/export"))["analytics"]
    assert {e["type"] for e in export["events"]} >= {"task.created", "task.completed"}
    assert all(e["userId"] == user.id for e in export["events"])
    assert export["daily"][0]["metrics"]["tasksCompleted"] == 1

    response = committed(client.delete, "/api/users/account", {"password": password}, format="json")
    assert response.status_code in (200, 204), response.content
    assert Event.objects(user_id=user.id).count() == 0
    assert DailyStat.objects(user_id=user.id).count() == 0
    assert Event.objects(user_id=other_user.id).count() > 0


def test_mongo_down_is_a_503_not_a_500(auth_client):
    analytics_mongo.connect("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100", "down")
    try:
        response = auth_client.get("/api/analytics")
        assert response.status_code == 503
        assert response.json()["success"] is False
    finally:
        analytics_mongo.connect()


def test_query_count_does_not_grow_with_the_range(mongo, committed, user, django_assert_num_queries):
    """No SQL per request, whatever the range (the bearer comes from the auth cache and the
    expected counts of the freshness check from theirs, both warmed by the requests above); the rest is MongoDB."""
    client = client_for(user)
    for n in range(3):
        complete_task(committed, client, make_task(committed, client, title=f"t{n}")["id"])
    data(client.get("/api/analytics/stats?period=day"))
    for small, large in [
        ("/api/analytics?days=1", "/api/analytics?days=365"),
        ("/api/analytics/stats?period=day", "/api/analytics/stats?period=month"),
        ("/api/analytics/performance?days=1", "/api/analytics/performance?days=365"),
    ]:
        with django_assert_num_queries(0):
            data(client.get(small))
        with django_assert_num_queries(0):
            data(client.get(large))


def test_the_weekly_insight_arrives_as_a_notification_once(mongo, committed, user):
    from notifications.models import Notification

    client = client_for(user)
    complete_task(committed, client, make_task(committed, client)["id"])
    # next Monday, 02:30 in the user's zone (UTC here): the nightly job's slot
    now = timezone.now()
    monday = (now + timedelta(days=(7 - now.weekday()) % 7 or 7)).replace(hour=2, minute=30)
    result = committed(insights.run_nightly, monday)
    assert result == {"users": 1, "weekly_notifications": 1, "failed": 0}
    assert committed(insights.run_nightly, monday)["weekly_notifications"] == 0
    notes = Notification.objects.filter(user=user, title="Your week in review")
    assert notes.count() == 1
    note = notes.get()
    assert note.message.startswith("Last week: 1 tasks, 0 challenges")
    assert note.data["summary"]["tasks_completed"] == 1
    tuesday = monday + timedelta(days=1)
    assert committed(insights.run_nightly, tuesday)["weekly_notifications"] == 0
    # at another local hour nobody is due
    assert insights.run_nightly(datetime(2030, 1, 7, 12, 0, tzinfo=UTC))["users"] == 0


def test_mongo_down_never_fails_the_write_and_rebuild_recovers(mongo, committed, user):
    """Completing a task while MongoDB is unreachable still succeeds (analytics is derived, its
    writes run after commit); once MongoDB is back, the rebuild restores what was missed."""
    client = client_for(user)
    task = make_task(committed, client)
    uri = analytics_mongo._state["uri"]
    name = analytics_mongo._state["db"]
    analytics_mongo.connect("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=50", "down")
    try:
        done = complete_task(committed, client, task["id"], 25)
        assert done["status"] == "completed"
    finally:
        analytics_mongo.connect(uri, name)
    assert data(client.get("/api/analytics/stats?period=day"))["totalTasksCompleted"] == 0
    call_command("rebuild_analytics", "--user", user.id)
    stats = data(client.get("/api/analytics/stats?period=day"))
    assert stats["totalTasksCompleted"] == 1
    assert stats["totalTimeSpent"] == 25


def test_the_retry_tasks_are_idempotent(mongo, committed, user):
    """The Celery tasks used when an inline write failed: applying twice folds once, and a
    queued reopen builds its reversal from the stored completion."""
    from analytics import services
    from analytics import tasks as analytics_tasks
    from tasks.models import Task

    client = client_for(user)
    task = make_task(committed, client)
    complete_task(committed, client, task["id"], 30)
    row = Task.objects.get(pk=task["id"])
    record = services.task_completed_record(user, row, row.completed_at, row.actual_duration, row.efficiency)
    assert analytics_tasks.apply_event.apply(args=(record,)).get() is False  # already folded inline
    previous = row.completed_at
    uri, name = analytics_mongo._state["uri"], analytics_mongo._state["db"]
    analytics_mongo.connect("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=50", "down")
    try:  # the reopen commits while MongoDB is down: its reversal is left to the worker task
        data(committed(client.post, f"/api/tasks/{task['id']}/reopen"))
    finally:
        analytics_mongo.connect(uri, name)
    assert data(client.get("/api/analytics/stats?period=day"))["totalTasksCompleted"] == 1
    assert analytics_tasks.record_reopen.apply(args=(user.id, task["id"], previous.isoformat())).get() is True
    assert analytics_tasks.record_reopen.apply(args=(user.id, task["id"], previous.isoformat())).get() is False
    assert data(client.get("/api/analytics/stats?period=day"))["totalTasksCompleted"] == 0
    assert analytics_tasks.delete_user_data.apply(args=(user.id,)).get()["events"] >= 3
    assert Event.objects(user_id=user.id).count() == 0
