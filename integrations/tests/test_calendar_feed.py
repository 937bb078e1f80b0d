"""Calendar feeds: `/api/calendar/feeds` and `GET /cal/{token}.ics`, read back with `icalendar`
and `recurring-ical-events` the way calendar apps expand them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.calendar.models import CalendarFeed
from tasks import services as task_services
from tasks.models import Task

pytestmark = [pytest.mark.django_db]


def _task(user, title="Task", **fields):
    return task_services.create_task(user, understand=False, emit=False, title=title, **fields)


def _create(client, name="Work") -> dict:
    response = client.post("/api/calendar/feeds", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def _get(api_client, url, **headers):
    return api_client.get(_path(url), **headers)


def _calendar(response) -> icalendar.Calendar:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(response.content)


def _events(cal) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_create_answers_the_url_once_and_the_feed_lists_every_task_due_in_the_window(auth_client, api_client, user):
    now = timezone.now()
    inside = [_task(user, f"Due {d}", due_date=now + timedelta(days=d)) for d in (-13, -1, 0, 3, 200, 364)]
    _task(user, "Too old", due_date=now - timedelta(days=16))
    _task(user, "Too far", due_date=now + timedelta(days=367))
    _task(user, "No date")

    response = auth_client.post("/api/calendar/feeds", {"name": "Work"}, format="json")
    assert response["Location"].endswith(f"/api/calendar/feeds/{response.json()['data']['id']}")
    assert response["Cache-Control"] == "no-store"
    feed = response.json()["data"]
    assert feed["url"].startswith("http://testserver/cal/") and feed["url"].endswith(".ics")
    assert feed["webcalUrl"] == feed["url"].replace("http://", "webcal://", 1)
    assert set(feed) >= {"id", "_id", "name", "createdAt", "url", "webcalUrl"}
    created = auth_client.get(f"/api/calendar/feeds/{feed['id']}")
    assert created.status_code == 200 and "url" not in created.json()["data"]
    token = feed["url"].rsplit("/", 1)[1].removesuffix(".ics")
    # stored hashed, never listed again
    assert not CalendarFeed.objects.filter(token_hash__contains=token).exists()
    listed = auth_client.get("/api/calendar/feeds").json()["data"]
    assert [f["id"] for f in listed] == [feed["id"]]
    assert "url" not in listed[0] and token not in auth_client.get("/api/calendar/feeds").content.decode()

    response = _get(api_client, feed["url"])  # no other credential
    cal = _calendar(response)
    events = _events(cal)
    assert set(events) == {f"{t.pk}@deepiri" for t in inside}
    assert str(cal["REFRESH-INTERVAL"].to_ical().decode()) == "PT1H"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in response.content
    assert b"X-PUBLISHED-TTL:PT1H" in response.content
    assert str(cal["X-WR-CALNAME"]) == "Work"

    # as a calendar app expands it: every task exactly once
    expanded = recurring_ical_events.of(cal).between(now - timedelta(days=30), now + timedelta(days=400))
    assert sorted(str(e["UID"]) for e in expanded) == sorted(events)


def test_date_only_tasks_are_all_day_in_the_users_zone_and_done_tasks_are_ticked(auth_client, api_client, user):
    user.timezone = "Pacific/Auckland"
    user.save(update_fields=["timezone"])
    zone = ZoneInfo("Pacific/Auckland")
    day = (timezone.now().astimezone(zone) + timedelta(days=2)).date()
    # a date-only task is the end of its day in the user's zone: in UTC that is the day before
    all_day = _task(user, "All day", due_date=datetime.combine(day, time(23, 59, 59), tzinfo=zone), due_date_only=True)
    at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    timed = _task(user, "Timed", due_date=at)
    done = _task(user, "Done", due_date=at + timedelta(hours=1))
    task_services.complete_task(user, done)
    cancelled = _task(user, "Dropped", due_date=at + timedelta(hours=2))
    task_services.update_task(user, cancelled, {"status": "cancelled"})

    events = _events(_calendar(_get(api_client, _create(auth_client)["url"])))
    event = events[f"{all_day.pk}@deepiri"]
    assert event["DTSTART"].dt == day and not isinstance(event["DTSTART"].dt, datetime)
    assert event["DTEND"].dt == day + timedelta(days=1)
    assert events[f"{timed.pk}@deepiri"]["DTSTART"].dt == at.astimezone(UTC)
    assert str(events[f"{timed.pk}@deepiri"]["SUMMARY"]) == "Timed"
    assert str(events[f"{done.pk}@deepiri"]["SUMMARY"]) == "✓ Done"
    assert str(events[f"{cancelled.pk}@deepiri"]["STATUS"]) == "CANCELLED"
    assert all(str(e["TRANSP"]) == "TRANSPARENT" for e in events.values())


def test_uids_are_stable_across_renders_and_edits_and_sequence_follows_due_date_moves(auth_client, api_client, user):
    now = timezone.now()
    task = _task(user, "Move me", due_date=now + timedelta(days=1))
    url = _create(auth_client)["url"]
    first = _get(api_client, url)
    again = _get(api_client, url)
    assert first.content == again.content and first["ETag"] == again["ETag"]
    event = _events(_calendar(first))[f"{task.pk}@deepiri"]
    assert int(event["SEQUENCE"]) == 0

    task_services.update_task(user, task, {"title": "Renamed"})  # not a move
    event = _events(_calendar(_get(api_client, url)))[f"{task.pk}@deepiri"]
    assert (str(event["SUMMARY"]), int(event["SEQUENCE"])) == ("Renamed", 0)

    task_services.update_task(user, Task.objects.get(pk=task.pk), {"due_date": now + timedelta(days=2)})
    task_services.update_task(user, Task.objects.get(pk=task.pk), {"due_date": now + timedelta(days=3)})
    event = _events(_calendar(_get(api_client, url)))[f"{task.pk}@deepiri"]
    assert int(event["SEQUENCE"]) == 2
    assert event["DTSTART"].dt == (now + timedelta(days=3)).astimezone(UTC).replace(microsecond=0)
    assert list(_events(_calendar(_get(api_client, url)))) == [f"{task.pk}@deepiri"]

    # the same due date again is not a move
    task_services.update_task(user, Task.objects.get(pk=task.pk), {"due_date": now + timedelta(days=3)})
    assert Task.objects.get(pk=task.pk).due_revision == 2


def test_long_emoji_and_cjk_titles_are_folded_and_read_back_whole(auth_client, api_client, user):
    title = ("締め切り🎉タスク、漢字とemoji👩‍💻の混在; commas, and \\ backslashes " * 4)[:200]
    task = _task(user, title, due_date=timezone.now() + timedelta(days=1))
    response = _get(api_client, _create(auth_client)["url"])
    lines = response.content.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75  # octets, continuation lines included
    for line in lines:
        line.decode("utf-8")  # no line is cut inside a character
    assert any(line.startswith(b" ") for line in lines)  # the title was folded
    assert str(_events(_calendar(response))[f"{task.pk}@deepiri"]["SUMMARY"]) == title


def test_304_when_the_copy_is_current_and_a_new_tag_after_an_edit(auth_client, api_client, user):
    task = _task(user, "Cache me", due_date=timezone.now() + timedelta(days=1))
    url = _create(auth_client)["url"]
    full = _get(api_client, url)
    etag = full["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert full["Last-Modified"].endswith("GMT")
    not_modified = _get(api_client, url, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified["ETag"] == etag
    assert _get(api_client, url, HTTP_IF_NONE_MATCH=f'"other", {etag}').status_code == 304
    assert _get(api_client, url, HTTP_IF_NONE_MATCH="*").status_code == 304
    assert _get(api_client, url, HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 200  # a strong tag only
    head = api_client.head(_path(url))
    assert head.status_code == 200 and head["ETag"] == etag

    task_services.update_task(user, task, {"title": "Changed"})
    changed = _get(api_client, url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    _task(user, "Another", due_date=timezone.now() + timedelta(days=2))
    assert _get(api_client, url, HTTP_IF_NONE_MATCH=changed["ETag"]).status_code == 200
    Task.objects.filter(title="Another").delete()
    assert _get(api_client, url, HTTP_IF_NONE_MATCH=changed["ETag"]).status_code == 304


def test_rotate_and_delete_revoke_the_old_url_and_foreign_feeds_are_404(auth_client, other_client, api_client, user):
    _task(user, "Mine", due_date=timezone.now() + timedelta(days=1))
    feed = _create(auth_client)
    rotated = auth_client.post(f"/api/calendar/feeds/{feed['id']}/rotate")
    assert rotated.status_code == 200
    new = rotated.json()["data"]
    assert new["id"] == feed["id"] and new["url"] != feed["url"] and new["rotatedAt"]
    assert _get(api_client, feed["url"]).status_code == 404
    assert _get(api_client, new["url"]).status_code == 200

    # another user can neither rotate nor delete it, nor see it
    assert other_client.post(f"/api/calendar/feeds/{feed['id']}/rotate").status_code == 404
    assert other_client.delete(f"/api/calendar/feeds/{feed['id']}").status_code == 404
    assert other_client.get(f"/api/calendar/feeds/{feed['id']}").status_code == 404
    assert other_client.get("/api/calendar/feeds").json()["data"] == []
    assert _get(api_client, new["url"]).status_code == 200

    assert auth_client.delete(f"/api/calendar/feeds/{feed['id']}").status_code == 200
    gone = _get(api_client, new["url"])
    assert gone.status_code == 404 and gone["Content-Type"].startswith("text/plain")
    assert auth_client.delete(f"/api/calendar/feeds/{feed['id']}").status_code == 404
    assert auth_client.post("/api/calendar/feeds/not-an-id/rotate").status_code == 404


@pytest.mark.parametrize("token", ["x" * 43, "short", "A" * 200, "%00" * 5, "..%2F..%2Fetc"])
def test_unknown_or_malformed_tokens_are_404(api_client, token):
    # (a control character is refused before routing, as on every path)
    assert api_client.get(f"/cal/{token}.ics").status_code == (400 if "%00" in token else 404)


def test_an_inactive_users_feed_is_404(auth_client, api_client, user):
    url = _create(auth_client)["url"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert _get(api_client, url).status_code == 404


def test_hostile_bodies_are_400_and_the_feed_count_is_capped(auth_client):
    assert auth_client.post("/api/calendar/feeds", {"name": "x" * 101}, format="json").status_code == 400
    assert auth_client.post("/api/calendar/feeds", {"name": {"a": 1}}, format="json").status_code == 400
    assert auth_client.post("/api/calendar/feeds", "[]", content_type="application/json").status_code == 400
    assert auth_client.post("/api/calendar/feeds", {}, format="json").status_code == 201  # the name is optional
    for _ in range(9):
        _create(auth_client)
    refused = auth_client.post("/api/calendar/feeds", {"name": "eleventh"}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "validation_error"
    assert CalendarFeed.objects.count() == 10


def test_feeds_need_a_signed_in_user_and_no_personal_access_token(api_client, auth_client):
    assert api_client.post("/api/calendar/feeds", {}, format="json").status_code == 401
    assert api_client.get("/api/calendar/feeds").status_code == 401
    expires = (timezone.now() + timedelta(days=5)).isoformat().replace("+00:00", "Z")
    raw = auth_client.post("/api/tokens", {"name": "all", "expiresAt": expires, "scopes": [
        "tasks:read", "tasks:write", "integrations:read", "profile:read"]}, format="json").json()["data"]["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    feed = auth_client.post("/api/calendar/feeds", {}, format="json").json()["data"]
    for method, path in (("post", "/api/calendar/feeds"), ("get", "/api/calendar/feeds"),
                         ("post", f"/api/calendar/feeds/{feed['id']}/rotate"),
                         ("delete", f"/api/calendar/feeds/{feed['id']}")):
        refused = getattr(api_client, method)(path)
        assert (refused.status_code, refused.json()["code"]) == (403, "token_not_allowed"), (method, path)
    assert CalendarFeed.objects.count() == 1


def test_rate_limited_per_feed_and_per_address(settings, auth_client, api_client):
    settings.CALENDAR_FEED_PER_MINUTE = 3
    settings.CALENDAR_FEED_IP_PER_MINUTE = 7
    first, second = _create(auth_client, "a")["url"], _create(auth_client, "b")["url"]
    assert [_get(api_client, first).status_code for _ in range(4)] == [200, 200, 200, 429]
    limited = _get(api_client, first)
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 61
    # the other feed has its own allowance, until the address runs out (guesses count too)
    assert _get(api_client, second).status_code == 200
    assert api_client.get(f"/cal/{'y' * 43}.ics").status_code == 404
    assert _get(api_client, second).status_code == 429  # the address's 8th request this minute
    # another address is not held back by this one
    assert _get(api_client, second, REMOTE_ADDR="10.9.8.7").status_code == 200


def test_the_token_never_reaches_a_log(settings, caplog, auth_client, api_client, user):
    settings.LOG_REQUESTS = True
    settings.CALENDAR_FEED_PER_MINUTE = 1
    _task(user, "Logged", due_date=timezone.now() + timedelta(days=1))
    feed = _create(auth_client)
    token = feed["url"].rsplit("/", 1)[1].removesuffix(".ics")
    with caplog.at_level(logging.DEBUG):
        assert _get(api_client, feed["url"]).status_code == 200
        assert _get(api_client, feed["url"]).status_code == 429
        auth_client.post(f"/api/calendar/feeds/{feed['id']}/rotate")
        assert _get(api_client, feed["url"]).status_code == 404
    access = [r for r in caplog.records if r.name == "deepiri.access"]
    assert len(access) >= 3 and {r.path for r in access if "/cal/" in r.path} == {"/cal/-.ics"}
    assert token not in caplog.text
    assert all(token not in str(r.__dict__) for r in caplog.records)


def test_the_log_filter_redacts_lines_written_by_other_code():
    from kernel.redact import RedactSecretsFilter

    secret = "A" * 43
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s" %(s)s',
                               ({"h": "1.2.3.4", "r": f"GET /cal/{secret}.ics?x=1 HTTP/1.1", "s": "200"},), None)
    record.path = f"/cal/{secret}.ics"
    RedactSecretsFilter().filter(record)
    assert record.getMessage() == '1.2.3.4 "GET /cal/-.ics?x=1 HTTP/1.1" 200'
    assert record.path == "/cal/-.ics"
    # Django's request logger passes the request itself, whose repr holds the path
    error = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s",
                              (f"/cal/{secret}.ics",), None)
    error.request = f"<WSGIRequest: GET '/cal/{secret}.ics'>"
    error.status_code = 500
    RedactSecretsFilter().filter(error)
    assert secret not in error.getMessage() and secret not in str(error.request) and error.status_code == 500
    plain = logging.LogRecord("django.server", logging.INFO, __file__, 1, "HTTP GET %s 200", (f"/cal/{secret}.ics",), None)
    RedactSecretsFilter().filter(plain)
    assert secret not in plain.getMessage()


def test_a_feed_read_writes_no_row(auth_client, api_client, user):
    _task(user, "Read only", due_date=timezone.now() + timedelta(days=1))
    url = _create(auth_client)["url"]
    with CaptureQueriesContext(connection) as queries:
        assert _get(api_client, url).status_code == 200
        assert _get(api_client, url, HTTP_IF_NONE_MATCH='"x"').status_code == 200
    statements = [q["sql"].lstrip().split()[0].upper() for q in queries.captured_queries]
    assert set(statements) <= {"SELECT"}, statements


def test_no_n_plus_one(auth_client, api_client, user, django_assert_num_queries):
    url = _create(auth_client)["url"]
    for _ in range(4):
        _create(auth_client)

    def feed_queries(n_tasks):
        Task.objects.filter(user=user).delete()
        Task.objects.bulk_create(
            [Task(user=user, title=f"T{i}", due_date=timezone.now() + timedelta(hours=i + 1)) for i in range(n_tasks)]
        )
        with CaptureQueriesContext(connection) as queries:
            assert _get(api_client, url).status_code == 200
        return len(queries.captured_queries)

    assert feed_queries(3) == feed_queries(60) == 2  # the feed with its user and list version; the rows
    with django_assert_num_queries(2):  # the page and the count (the user is cached)
        auth_client.get("/api/calendar/feeds?limit=2")
    with django_assert_num_queries(2):
        auth_client.get("/api/calendar/feeds?limit=100")


def test_at_most_2000_events_soonest_first(auth_client, api_client, user):
    start = timezone.now() + timedelta(days=1)
    Task.objects.bulk_create(
        [Task(user=user, title=f"T{i}", due_date=start + timedelta(minutes=i)) for i in range(2005)]
    )
    cal = _calendar(_get(api_client, _create(auth_client)["url"]))
    titles = [str(e["SUMMARY"]) for e in cal.walk("VEVENT")]
    assert len(titles) == 2000 and titles[0] == "T0" and titles[-1] == "T1999"


def test_window_edges_follow_utc_midnight(auth_client, api_client, user):
    today = timezone.now().astimezone(UTC).date()
    edge = datetime.combine(today - timedelta(days=14), time(0, 0), tzinfo=UTC)
    kept = _task(user, "Edge", due_date=edge)
    dropped = _task(user, "Before", due_date=edge - timedelta(seconds=1))
    last = _task(user, "Last day", due_date=datetime.combine(today + timedelta(days=365), time(23, 59), tzinfo=UTC))
    events = _events(_calendar(_get(api_client, _create(auth_client)["url"])))
    assert f"{kept.pk}@deepiri" in events and f"{last.pk}@deepiri" in events
    assert f"{dropped.pk}@deepiri" not in events
