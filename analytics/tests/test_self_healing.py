"""MongoDB analytics heal themselves from PostgreSQL: when the store is empty or behind (a lost
volume, a restore beside a new MongoDB, a fold job lost with Redis) the endpoints answer 503
`rebuilding`, never 200 with zeros, and one rebuild job per user brings back the same numbers."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from analytics import freshness, rebuild
from analytics import mongo as analytics_mongo
from analytics.documents import DailyStat, Event, Watermark
from conftest import client_for
from deepiri.celery import app
from devtools.testing.celery import celery_worker  # noqa: F401 - fixture
from kernel.redis import get_redis

pytestmark = pytest.mark.services

ENDPOINTS = (
    "/api/analytics/stats?period=month",
    "/api/analytics?days=30",
    "/api/analytics/performance?days=30",
)


def _answers(client) -> dict:
    return {path: client.get(path) for path in ENDPOINTS}


def _numbers(served: dict) -> dict:
    """The answers without the rollup documents' own timestamps (a rebuilt document is new)."""
    daily = [{k: v for k, v in row.items() if k not in ("createdAt", "updatedAt")} for row in served[ENDPOINTS[1]]]
    return {**served, ENDPOINTS[1]: daily}


def _lose_mongodb():
    for document in (Event, DailyStat, Watermark):
        document._get_collection().drop()


def _served(client, timeout=60) -> dict:
    """Poll as a client honouring Retry-After would, until every endpoint answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        answers = _answers(client)
        if all(r.status_code == 200 for r in answers.values()):
            return {path: r.json()["data"] for path, r in answers.items()}
        for response in answers.values():
            assert response.status_code in (200, 503), response.content
        assert time.monotonic() < deadline, "analytics never healed"
        time.sleep(0.2)


def _assert_rebuilding(response):
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == "rebuilding" and body["requestId"]
    assert int(response["Retry-After"]) > 0


def _work(client, tasks=3, complete=2) -> list[str]:
    ids = []
    for n in range(tasks):
        r = client.post("/api/tasks", {"title": f"Task {n}", "type": "code", "estimatedDuration": 30}, format="json")
        assert r.status_code == 201, r.content
        ids.append(r.json()["data"]["id"])
    for task_id in ids[:complete]:
        r = client.post(f"/api/tasks/{task_id}/complete", {"actualDuration": 25}, format="json")
        assert r.status_code == 200, r.content
    return ids


def _wait_for_events(user, count, timeout=30):
    deadline = time.monotonic() + timeout
    while Event.objects(user_id=str(user.id)).count() < count:
        assert time.monotonic() < deadline, "the worker never folded the events"
        time.sleep(0.2)


def test_lost_store_and_lost_fold_heal_through_the_worker(wire_only, make_user, celery_worker, settings):  # noqa: F811
    uri, name = analytics_mongo._state["uri"], analytics_mongo._state["db"]
    worker = celery_worker(MONGODB_URI=uri, MONGODB_DB=name)
    user = make_user(email="healing@example.com", timezone="Asia/Kolkata")
    client = client_for(user)
    ids = _work(client)
    _wait_for_events(user, 3 + 2 + 2)  # created x3, completed x2, points x2
    # only rows older than the grace count: here every row does
    settings.ANALYTICS_FRESHNESS_GRACE_SECONDS = 0
    before = _served(client)
    assert before[ENDPOINTS[0]]["totalTasksCompleted"] == 2

    # A fold job lost with Redis: the worker is down when the task completes, and Redis then
    # loses everything it held (the queued job with it).
    worker.kill()
    r = client.post(f"/api/tasks/{ids[2]}/complete", {"actualDuration": 25}, format="json")
    assert r.status_code == 200
    get_redis().flushdb()
    cache.clear()
    celery_worker(MONGODB_URI=uri, MONGODB_DB=name)
    lost = freshness.missing(user)
    assert lost["task.completed"] == 1 and lost["points.awarded"] >= 1, lost
    _assert_rebuilding(client.get(ENDPOINTS[0]))
    healed = _served(client)
    assert healed[ENDPOINTS[0]]["totalTasksCompleted"] == 3
    assert healed[ENDPOINTS[0]]["totalPointsEarned"] > before[ENDPOINTS[0]]["totalPointsEarned"]

    # The whole store lost: never 200 with zeros, then exactly the numbers of before.
    snapshot = rebuild.snapshot(user.id)
    _lose_mongodb()
    answers = _answers(client)
    for response in answers.values():
        if response.status_code != 503:  # the rebuild may have finished already
            path = response.wsgi_request.get_full_path()
            assert _numbers({**healed, path: response.json()["data"]}) == _numbers(healed)
    _assert_rebuilding(answers[ENDPOINTS[0]])
    assert _numbers(_served(client)) == _numbers(healed)
    assert rebuild.snapshot(user.id) == snapshot


def test_one_rebuild_is_queued_however_many_requests_ask(wire_only, make_user, settings):
    """Without a worker the job stays on the broker: requests keep answering 503 and queue it once."""
    user = make_user(email="queued@example.com")
    client = client_for(user)
    _work(client, tasks=2, complete=1)  # folded inline (eager Celery)
    settings.ANALYTICS_FRESHNESS_GRACE_SECONDS = 0
    _lose_mongodb()
    queue = f"test-{user.id}"
    saved = app.conf.task_always_eager, app.conf.task_default_queue
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    try:
        for _ in range(3):
            for response in _answers(client).values():
                _assert_rebuilding(response)
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = saved
    broker = get_redis()
    queued = broker.llen(f"{settings.REDIS_KEY_PREFIX}:celery:{queue}")
    assert queued == 1
    # the job, run as the worker would, releases the claim and the store is caught up
    freshness.rebuild(str(user.id))
    assert freshness.missing(user) == {}
    assert client.get(ENDPOINTS[0]).json()["data"]["totalTasksCompleted"] == 1


def test_a_new_user_with_nothing_yet_gets_zeros_not_rebuilding(wire_only, make_user, settings):
    settings.ANALYTICS_FRESHNESS_GRACE_SECONDS = 0
    client = client_for(make_user(email="fresh@example.com"))
    response = client.get(ENDPOINTS[0])
    assert response.status_code == 200
    assert response.json()["data"]["totalTasksCompleted"] == 0


def test_work_younger_than_the_grace_is_not_a_loss(wire_only, make_user, settings):
    """A fold still on its way to the worker must not start a rebuild."""
    user = make_user(email="young@example.com")
    client = client_for(user)
    _work(client, tasks=1, complete=1)
    _lose_mongodb()
    settings.ANALYTICS_FRESHNESS_GRACE_SECONDS = 3600
    cache.clear()
    assert freshness.missing(user) == {}
    assert client.get(ENDPOINTS[0]).status_code == 200


def _watermark(user) -> dict:
    doc = Watermark._get_collection().find_one({"user_id": str(user.id)}) or {}
    return doc.get("counts") or {}


def _event_counts(user) -> dict:
    counts: dict = {}
    for doc in Event._get_collection().find({"user_id": str(user.id)}, {"type": 1}):
        key = doc["type"].replace(".", "_")
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_the_watermark_counts_each_stored_event_once(mongo, make_user, django_capture_on_commit_callbacks):
    from analytics import services

    user = make_user(email="counted@example.com")
    client = client_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        _work(client, tasks=3, complete=2)
    assert _watermark(user) == _event_counts(user) and _watermark(user)["task_completed"] == 2
    # a redelivered fold stores nothing and counts nothing
    event = Event._get_collection().find_one({"user_id": str(user.id), "type": "task.completed"}, {"_id": 0})
    event["occurred_at"] = event["occurred_at"].isoformat()
    services.apply_record(event)
    assert _watermark(user) == _event_counts(user)


def test_a_watermark_below_its_events_is_behind_and_the_rebuild_sets_it_exactly(
    mongo, make_user, settings, django_capture_on_commit_callbacks
):
    """A crash between storing an event and counting it leaves the count low: that reads as
    behind (never as caught up when it is not), and the rebuild makes it exact."""
    user = make_user(email="crashed@example.com")
    client = client_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        _work(client, tasks=2, complete=1)
    settings.ANALYTICS_FRESHNESS_GRACE_SECONDS = 0
    cache.clear()
    Watermark._get_collection().update_one({"user_id": str(user.id)}, {"$inc": {"counts.task_completed": -1}})
    assert freshness.missing(user) == {"task.completed": 1}
    # eager Celery (the embedded setup): the request rebuilds inline and answers
    assert client.get(ENDPOINTS[0]).json()["data"]["totalTasksCompleted"] == 1
    assert freshness.missing(user) == {}
    assert _watermark(user) == _event_counts(user)


def test_work_folded_while_a_rebuild_runs_is_kept_and_counted(mongo, make_user, settings, django_capture_on_commit_callbacks):
    """The endpoints queue the rebuild while the user is busy (the load bench's users are): the
    folds of work done after the rebuild read PostgreSQL must survive its writes, or the next
    check finds the store behind again and answers 503 `rebuilding` once more, over and over."""
    user = make_user(email="busy@example.com")
    client = client_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        _work(client, tasks=2, complete=1)
    sources = rebuild.read_sources(user)  # the rebuild has read PostgreSQL...
    with django_capture_on_commit_callbacks(execute=True):
        _work(client, tasks=2, complete=2)  # ...when more work is folded, before it writes
    rebuild.write_rebuild(user, *sources)
    settings.ANALYTICS_FRESHNESS_GRACE_SECONDS = 0
    cache.clear()
    assert freshness.missing(user) == {}
    assert _watermark(user) == _event_counts(user) and _watermark(user)["task_created"] == 4
    # and the rollups are those of a rebuild of the quiet user
    served = rebuild.snapshot(user.id)
    rebuild.rebuild_user(user)
    assert rebuild.snapshot(user.id) == served


def test_a_store_from_before_watermarks_is_counted_not_rebuilt(mongo, make_user, settings, django_capture_on_commit_callbacks):
    user = make_user(email="legacy@example.com")
    client = client_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        _work(client, tasks=2, complete=1)
    settings.ANALYTICS_FRESHNESS_GRACE_SECONDS = 0
    Watermark._get_collection().delete_many({"user_id": str(user.id)})
    assert freshness.missing(user) == {}
    Event._get_collection().delete_one({"user_id": str(user.id), "type": "task.completed"})
    assert freshness.missing(user) == {"task.completed": 1}


def test_with_mongodb_down_the_check_answers_503_unavailable_not_rebuilding(wire_only, make_user, settings):
    user = make_user(email="down@example.com")
    client = client_for(user)
    _work(client, tasks=1, complete=1)
    settings.ANALYTICS_FRESHNESS_GRACE_SECONDS = 0
    uri, name = analytics_mongo._state["uri"], analytics_mongo._state["db"]
    analytics_mongo.connect("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100", "down")
    try:
        response = client.get(ENDPOINTS[0])
    finally:
        analytics_mongo.connect(uri, name)
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "service_unavailable" and response["Retry-After"]
