"""Notifications REST endpoints (API.md "Notifications"), one block per verb and path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from notifications import services
from notifications.models import Notification, NotificationSettings

pytestmark = pytest.mark.django_db(transaction=False)


def make(user, n=1, **extra):
    out = []
    for i in range(n):
        out.append(
            Notification.objects.create(
                user=user,
                type=extra.get("type", "system"),
                title=f"N{i}",
                message="m",
                **{k: v for k, v in extra.items() if k != "type"},
            )
        )
    return out


def body(response):
    return response.json()


# ------------------------------------------------------------------ GET /api/notifications
def test_list_is_scoped_newest_first_and_camelcase(auth_client, user, other_user):
    make(other_user, 2)
    first, second = make(user, 2)
    r = auth_client.get("/api/notifications")
    assert r.status_code == 200
    b = body(r)
    assert b["success"] is True
    assert [n["_id"] for n in b["data"]] == [second.id, first.id]
    item = b["data"][0]
    assert item["id"] == item["_id"]
    assert {"type", "title", "message", "data", "priority", "read", "readAt", "status", "eventId", "createdAt"} <= set(
        item
    )
    assert b["pagination"] == {"total": 2, "limit": 50, "skip": 0, "hasMore": False, "next": None, "nextCursor": None}


def test_list_unread_only_and_limit(auth_client, user):
    a, b_, c = make(user, 3)
    services.mark_read(b_)
    r = auth_client.get("/api/notifications?unreadOnly=true&limit=1")
    assert r.status_code == 200
    assert [n["_id"] for n in body(r)["data"]] == [c.id]
    assert body(r)["pagination"]["total"] == 2
    assert body(r)["pagination"]["hasMore"] is True


def test_list_since_returns_later_and_unpushed_oldest_first(auth_client, user):
    old, later, unpushed = make(user, 3)
    Notification.objects.filter(pk=old.pk).update(event_id=5, pushed_at=timezone.now())
    Notification.objects.filter(pk=later.pk).update(event_id=9, pushed_at=timezone.now())
    r = auth_client.get("/api/notifications?since=5")
    assert r.status_code == 200
    assert [n["_id"] for n in body(r)["data"]] == [later.id, unpushed.id]
    assert body(r)["data"][0]["eventId"] == 9
    assert body(r)["data"][1]["status"] == "pending"
    # A notification's own id marks the same point in the stream as its event id.
    by_id = auth_client.get(f"/api/notifications?since={old.id}")
    assert [n["_id"] for n in body(by_id)["data"]] == [later.id, unpushed.id]
    assert auth_client.get("/api/notifications?since=" + "f" * 24).status_code == 404


@pytest.mark.parametrize("query", ["since=abc", "since=-1", "limit=0", "skip=9223372036854775808", "unreadOnly=maybe", "type=nope"])
def test_list_bad_query_is_400(auth_client, query):
    r = auth_client.get(f"/api/notifications?{query}")
    assert r.status_code == 400
    assert body(r)["success"] is False
    assert body(r)["errors"]


def test_list_requires_auth(api_client):
    assert api_client.get("/api/notifications").status_code == 401


def test_list_query_count_is_constant(auth_client, user, django_assert_num_queries):
    make(user, 3)
    auth_client.get("/api/notifications?limit=1")  # the signed-in user is in the auth cache from here on
    with django_assert_num_queries(2):  # count, page
        assert auth_client.get("/api/notifications?limit=2").status_code == 200
    make(user, 30)
    with django_assert_num_queries(2):
        r = auth_client.get("/api/notifications?limit=30")
    assert len(body(r)["data"]) == 30


# ------------------------------------------------------------------ unread/count
def test_unread_count(auth_client, user, other_user):
    make(other_user, 4)
    a, b_ = make(user, 2)
    services.mark_read(a)
    r = auth_client.get("/api/notifications/unread/count")
    assert r.status_code == 200
    assert body(r)["data"] == {"count": 1}


# ------------------------------------------------------------------ PUT|PATCH {id}/read
@pytest.mark.parametrize("method", ["put", "patch"])
def test_mark_read_both_spellings(auth_client, user, method):
    (n,) = make(user)
    r = getattr(auth_client, method)(f"/api/notifications/{n.id}/read")
    assert r.status_code == 200
    assert body(r)["message"] == "Notification marked as read"
    assert body(r)["data"]["read"] is True
    n.refresh_from_db()
    assert n.read_at is not None
    first = n.read_at
    getattr(auth_client, method)(f"/api/notifications/{n.id}/read")
    n.refresh_from_db()
    assert n.read_at == first  # idempotent


@pytest.mark.parametrize("target", ["other", "unknown", "malformed"])
def test_mark_read_not_yours_is_404(auth_client, other_user, target):
    (theirs,) = make(other_user)
    nid = {"other": theirs.id, "unknown": "0" * 24, "malformed": "not-an-id"}[target]
    r = auth_client.put(f"/api/notifications/{nid}/read")
    assert r.status_code == 404
    assert body(r)["message"] == "Notification not found"
    theirs.refresh_from_db()
    assert theirs.read_at is None


# ------------------------------------------------------------------ PUT read-all / PATCH mark-all-read
@pytest.mark.parametrize(("method", "path"), [("put", "read-all"), ("patch", "mark-all-read")])
def test_mark_all_read(auth_client, user, other_user, method, path):
    make(user, 3)
    (theirs,) = make(other_user)
    r = getattr(auth_client, method)(f"/api/notifications/{path}")
    assert r.status_code == 200
    assert body(r)["data"] == {"updated": 3}
    assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


# ------------------------------------------------------------------ DELETE {id}
def test_delete(auth_client, user, other_user):
    (mine,) = make(user)
    (theirs,) = make(other_user)
    assert auth_client.delete(f"/api/notifications/{theirs.id}").status_code == 404
    r = auth_client.delete(f"/api/notifications/{mine.id}")
    assert r.status_code == 200
    assert body(r)["message"] == "Notification deleted successfully"
    assert not Notification.objects.filter(pk=mine.pk).exists()
    assert Notification.objects.filter(pk=theirs.pk).exists()
    assert auth_client.delete(f"/api/notifications/{mine.id}").status_code == 404


# ------------------------------------------------------------------ settings
def test_settings_defaults(auth_client):
    r = auth_client.get("/api/notifications/settings")
    assert r.status_code == 200
    data = body(r)["data"]
    assert data["inApp"] is True and data["email"] is True
    assert data["types"]["badgeEarned"] == {"inApp": True, "email": False, "push": False}
    assert data["types"]["sessionInvite"] == {"inApp": True, "email": True, "push": False}
    assert data["types"]["taskReminder"] == {"inApp": True, "email": False, "push": True}
    assert data["webPush"] is True and data["defaultReminders"] is False


def test_settings_patch_merges_and_put_replaces(auth_client, user):
    r = auth_client.patch(
        "/api/notifications/settings", {"email": False, "types": {"levelUp": {"inApp": False}}}, format="json"
    )
    assert r.status_code == 200, r.content
    data = body(r)["data"]
    assert data["email"] is False
    assert data["types"]["levelUp"] == {"inApp": False, "email": False, "push": False}
    r = auth_client.patch("/api/notifications/settings", {"types": {"badgeEarned": {"email": True}}}, format="json")
    data = body(r)["data"]
    assert data["types"]["levelUp"]["inApp"] is False  # kept
    assert data["types"]["badgeEarned"]["email"] is True
    assert auth_client.get("/api/notifications/settings").json()["data"] == data  # stored
    r = auth_client.put("/api/notifications/settings", {"push": False}, format="json")
    data = body(r)["data"]
    assert data["inApp"] is False and data["email"] is True
    assert data["types"]["levelUp"]["inApp"] is True  # PUT resets what it does not name
    assert NotificationSettings.objects.get(user=user).in_app_enabled is False


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"types": {"noSuchType": {"email": True}}}, "types"),
        ({"types": {"levelUp": {"sms": True}}}, "types"),
        ({"types": {"levelUp": {"email": "sometimes"}}}, "types"),
        ({"email": "perhaps"}, "email"),
        ({"types": []}, "types"),
    ],
)
def test_settings_bad_input_is_400_with_field(auth_client, payload, field):
    r = auth_client.patch("/api/notifications/settings", payload, format="json")
    assert r.status_code == 400
    assert field in body(r)["errors"]


def test_settings_non_object_is_400(auth_client):
    r = auth_client.put("/api/notifications/settings", [1, 2], format="json")
    assert r.status_code == 400


# ------------------------------------------------------------------ notify() respects settings
def test_notify_respects_in_app_and_email_settings(user, django_capture_on_commit_callbacks, celery_eager):
    with django_capture_on_commit_callbacks(execute=True):
        n = services.notify(user, "session_invite", "Join me", "Bob invited you")
    assert n is not None and Notification.objects.filter(pk=n.pk).exists()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]
    n.refresh_from_db()
    assert n.email_sent_at is not None
    assert n.event_id is not None and n.pushed_at is not None

    services.update_settings(user, types={"session_invite": {"in_app": False}})
    with django_capture_on_commit_callbacks(execute=True):
        assert services.notify(user, "session_invite", "Again", "x") is None
    assert Notification.objects.filter(user=user).count() == 1
    assert len(mail.outbox) == 2  # email still on for that type

    services.update_settings(user, email_enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(user, "session_invite", "Third", "x")
    assert len(mail.outbox) == 2


def test_notify_dedupe_key(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        a = services.notify(user, "level_up", "Level 2", dedupe_key="level:2")
        b = services.notify(user, "level_up", "Level 2", dedupe_key="level:2")
    assert a.pk == b.pk
    assert Notification.objects.filter(user=user).count() == 1


def test_notify_rejects_unknown_type(user):
    with pytest.raises(ValueError, match="unknown notification type"):
        services.notify(user, "nope", "x")


def test_rolled_back_notify_pushes_nothing(user, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                services.notify(user, "system", "x")
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not Notification.objects.exists()


# ------------------------------------------------------------------ cleanup beat job
def test_cleanup_deletes_old_read_only(user):
    now = timezone.now()
    old_read, recent_read, old_unread, ancient = make(user, 4)
    Notification.objects.filter(pk=old_read.pk).update(read_at=now - timedelta(days=31))
    Notification.objects.filter(pk=recent_read.pk).update(read_at=now - timedelta(days=2))
    Notification.objects.filter(pk=old_unread.pk).update(created_at=now - timedelta(days=40))
    Notification.objects.filter(pk=ancient.pk).update(created_at=now - timedelta(days=200))
    result = services.cleanup(now)
    assert result["read_deleted"] == 1 and result["old_deleted"] == 1
    assert set(Notification.objects.values_list("pk", flat=True)) == {recent_read.pk, old_unread.pk}
