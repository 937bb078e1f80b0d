"""The gamification admin: badges (form, icon, holders, award/revoke), awards, ledger, profiles."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from devtools.testing.admin import (  # noqa: F401
    action,
    admin_user,
    capture_user_events,
    client_as,
    make_role_user,
    moderator,
    plain_user,
    staff_member,
)
from devtools.testing.celery import eager_celery  # noqa: F401
from gamification import services
from gamification.models import Badge, GamificationProfile, LedgerEntry, UserBadge
from kernel import roles
from notifications.models import Notification

pytestmark = pytest.mark.django_db

BADGES = reverse("admin:gamification_badge_changelist")
BADGE_ADD = reverse("admin:gamification_badge_add")
AWARDS = reverse("admin:gamification_userbadge_changelist")
LEDGER = reverse("admin:gamification_ledgerentry_changelist")
USERS = reverse("admin:accounts_user_changelist")


def badge_form(**overrides):
    data = {
        "name": "Night Owl",
        "slug": "night-owl",
        "icon": "🦉",
        "description": "Finish 3 tasks after 10 pm.",
        "category": "completion",
        "rarity": "rare",
        "criteria": '{"type": "event_count", "event": "task.completed", "filters": {"local_hour__gte": 22}, "value": 3}',
        "points": "75",
        "active": "on",
        "sort_order": "100",
    }
    data.update(overrides)
    return data


def make_badge(**fields):
    defaults = {
        "slug": "admin-pick",
        "name": "Admin Pick",
        "icon": "🏆",
        "description": "Chosen by staff.",
        "category": "special",
        "rarity": "epic",
        "criteria": {"type": "threshold", "metric": "points", "value": 10_000_000},
        "points": 120,
    }
    defaults.update(fields)
    return Badge.objects.create(**defaults)


def award(client, badge, users, **extra):
    return action(client, BADGES, "award_to_users", [badge.pk], apply="1", users="\n".join(users), **extra)


# --- create and edit -----------------------------------------------------------------------


def test_moderator_creates_a_badge_with_valid_criteria(client_as, moderator):
    client = client_as(moderator)
    response = client.post(BADGE_ADD, badge_form())
    assert response.status_code == 302, response.content.decode()[:3000]
    badge = Badge.objects.get(slug="night-owl")
    assert badge.criteria["filters"] == {"local_hour__gte": 22}
    assert badge.points == 75
    page = client.get(reverse("admin:gamification_badge_change", args=[badge.pk])).content.decode()
    assert "badge-icon-large" in page
    assert "🦉" in page


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ("{not json", "Enter a valid JSON"),
        ('{"type": "count", "metric": "nope", "value": 1}', "metric: Must be one of"),
        ('{"type": "count", "metric": "tasks_completed", "value": 0}', "value: Must be a whole number"),
        ('{"type": "mystery", "value": 1}', "type: Must be one of"),
        ('{"type": "threshold", "metric": "points", "value": 5, "extra": 1}', "Unknown keys: extra"),
        (
            '{"type": "event_count", "event": "task.completed", "filters": {"colour": "red"}, "value": 1}',
            "unknown fact",
        ),
        ("[1, 2]", "Must be an object"),
    ],
)
def test_badge_form_rejects_bad_criteria(client_as, moderator, criteria, message):
    response = client_as(moderator).post(BADGE_ADD, badge_form(criteria=criteria))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Badge.objects.filter(slug="night-owl").exists()


def test_badge_form_other_field_errors(client_as, moderator):
    make_badge(slug="taken", name="Taken")
    response = client_as(moderator).post(BADGE_ADD, badge_form(slug="taken", category="astrology", points="-5"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Badge with this Slug already exists" in body
    assert "Select a valid choice" in body
    assert "greater than or equal to 0" in body


# --- award and revoke --------------------------------------------------------------------------


def test_award_pays_through_the_ledger_and_notifies_live(
    client_as, moderator, make_role_user, django_capture_on_commit_callbacks
):
    badge = make_badge()
    alice = make_role_user(email="alice-g@example.com")
    bob = make_role_user(email="bob-g@example.com")
    client = client_as(moderator)

    page = action(client, BADGES, "award_to_users", [badge.pk])
    assert page.status_code == 200
    assert "Award badges" in page.content.decode()

    def award_both():
        with django_capture_on_commit_callbacks(execute=True):
            return award(client, badge, ["ALICE-G@example.com", bob.pk])

    response, events = capture_user_events(alice, award_both)
    assert response.status_code == 302

    for user in (alice, bob):
        assert UserBadge.objects.get(user=user, badge=badge).revoked_at is None
        entry = LedgerEntry.objects.get(user=user, source="badge", source_id=badge.pk)
        assert entry.points == 120
        assert GamificationProfile.objects.get(user=user).points == 120
        assert Notification.objects.filter(user=user, type="badge_earned").count() == 1

    events = [e for e in events if e["type"] == "notification"]
    assert len(events) == 1
    assert events[0]["notification"]["type"] == "badge_earned"

    # awarding again pays nothing more
    with django_capture_on_commit_callbacks(execute=True):
        award(client, badge, [alice.email])
    assert LedgerEntry.objects.filter(user=alice).count() == 1
    assert GamificationProfile.objects.get(user=alice).points == 120

    holders = client.get(BADGES).content.decode()
    assert '<td class="field-holders">2</td>' in holders


def test_award_form_rejects_unknown_users(client_as, moderator, plain_user):
    badge = make_badge()
    response = award(client_as(moderator), badge, [plain_user.email, "ghost@example.com"])
    assert response.status_code == 200
    assert "No account with: ghost@example.com" in response.content.decode()
    assert not UserBadge.objects.exists()
    response = award(client_as(moderator), badge, [])
    assert "This field is required" in response.content.decode()


def test_revoke_reverses_points_and_is_not_reawarded(
    client_as, moderator, plain_user, django_capture_on_commit_callbacks
):
    badge = make_badge()
    client = client_as(moderator)
    with django_capture_on_commit_callbacks(execute=True):
        award(client, badge, [plain_user.email])
    response = action(
        client, BADGES, "revoke_from_users", [badge.pk], apply="1", users=plain_user.email, reason="awarded by mistake"
    )
    assert response.status_code == 302
    user_badge = UserBadge.objects.get(user=plain_user, badge=badge)
    assert user_badge.revoked_at is not None
    assert user_badge.revoked_by == moderator
    assert user_badge.revoke_reason == "awarded by mistake"
    assert GamificationProfile.objects.get(user=plain_user).points == 0
    assert sorted(LedgerEntry.objects.filter(user=plain_user).values_list("points", flat=True)) == [-120, 120]

    response = award(client, badge, [plain_user.email])
    assert response.status_code == 302
    assert GamificationProfile.objects.get(user=plain_user).points == 0
    messages_ = [m.message for m in response.wsgi_request._messages]
    assert any("revoked from that user before" in m for m in messages_)


def test_userbadge_revoke_action(client_as, staff_member, plain_user):
    badge = make_badge()
    from gamification.admin import award_badge

    user_badge, outcome = award_badge(plain_user, badge)
    assert outcome == "awarded"
    client = client_as(staff_member)
    assert client.get(AWARDS).status_code == 200
    action(client, AWARDS, "revoke", [user_badge.pk])
    user_badge.refresh_from_db()
    assert user_badge.revoked_by == staff_member
    assert GamificationProfile.objects.get(user=plain_user).points == 0
    # no delete, no add
    assert client.get(reverse("admin:gamification_userbadge_add")).status_code == 403
    assert client.get(reverse("admin:gamification_userbadge_delete", args=[user_badge.pk])).status_code == 403


# --- permissions ---------------------------------------------------------------------------


def test_role_boundaries(client_as, moderator, staff_member, plain_user, admin_user):
    badge = make_badge()
    # a plain user is sent to the login page
    assert client_as(plain_user).get(BADGES).status_code == 302
    assert award(client_as(plain_user), badge, [plain_user.email]).status_code == 302
    assert not UserBadge.objects.exists()
    # a moderator manages badges and challenges only: no ledger, no schedules, no integrations
    mod = client_as(moderator)
    assert mod.get(BADGES).status_code == 200
    assert mod.get(LEDGER).status_code == 403
    assert mod.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 403
    assert mod.get(reverse("admin:notifications_notification_announce")).status_code == 403
    index = mod.get(reverse("admin:index")).content.decode()
    assert "Badges" in index
    assert "Periodic tasks" not in index
    # staff see the ledger read-only
    staff = client_as(staff_member)
    assert staff.get(LEDGER).status_code == 200
    assert staff.get(reverse("admin:gamification_ledgerentry_add")).status_code == 403
    # API keys: admin only
    keys = reverse("admin:accounts_scopedapikey_changelist")
    assert staff.get(keys).status_code == 403
    assert mod.get(keys).status_code == 403
    assert client_as(admin_user).get(keys).status_code == 200


# --- user page, recompute, query counts ----------------------------------------------------------


def test_user_page_shows_badges_ledger_and_level(client_as, staff_member, plain_user):
    from gamification.admin import award_badge

    award_badge(plain_user, make_badge())
    services.award(plain_user, points=30, xp=30, reason="manual bonus", source="admin", idempotency_key="bonus-1")
    client = client_as(staff_member)
    page = client.get(reverse("admin:accounts_user_change", args=[plain_user.pk])).content.decode()
    assert "Admin Pick" in page  # the badges inline
    assert 'name="user_badges-MAX_NUM_FORMS" value="0"' in page  # read-only: awards go through badge actions
    assert "manual bonus" in page  # recent ledger rows
    assert "150 points" in page
    listing = client.get(USERS, {"q": plain_user.email}).content.decode()
    assert '<td class="field-points">150</td>' in listing
    assert '<td class="field-level">1</td>' in listing


def test_recompute_gamification_fixes_drift(client_as, staff_member, plain_user):
    services.award(plain_user, points=40, xp=40, reason="bonus", source="admin", idempotency_key="bonus-2")
    GamificationProfile.objects.filter(user=plain_user).update(points=999, xp=5)
    response = action(client_as(staff_member), USERS, "recompute_gamification", [plain_user.pk])
    assert response.status_code == 302
    profile = GamificationProfile.objects.get(user=plain_user)
    assert (profile.points, profile.xp) == (40, 40)
    messages_ = [m.message for m in response.wsgi_request._messages]
    assert any("points: profile 999 != ledger 40" in m for m in messages_)


def test_moderator_cannot_recompute(client_as, moderator, plain_user):
    services.award(plain_user, points=40, xp=40, reason="bonus", source="admin", idempotency_key="bonus-3")
    GamificationProfile.objects.filter(user=plain_user).update(points=999)
    action(client_as(moderator), USERS, "recompute_gamification", [plain_user.pk])
    assert GamificationProfile.objects.get(user=plain_user).points == 999


@pytest.mark.parametrize("url", [BADGES, AWARDS, LEDGER, USERS])
def test_lists_run_a_constant_number_of_queries(client_as, staff_member, make_role_user, url):
    client = client_as(staff_member)

    def seed(n, offset):
        for i in range(n):
            user = make_role_user()
            badge = make_badge(slug=f"b-{offset + i}", name=f"B {offset + i}")
            from gamification.admin import award_badge

            award_badge(user, badge)

    seed(2, 0)
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    seed(8, 100)
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).status_code == 200
    assert len(small.captured_queries) == len(large.captured_queries), [q["sql"] for q in large.captured_queries]


def test_roles_module_constant():
    assert roles.ROLE_NAMES == ("user", "staff", "admin", "moderator")


def test_adjust_points_through_the_ledger(client_as, staff_member, moderator, make_role_user):
    alice = make_role_user(email="alice-p@example.com")
    bob = make_role_user(email="bob-p@example.com")
    client = client_as(staff_member)
    page = action(client, USERS, "adjust_points", [alice.pk, bob.pk])
    assert page.status_code == 200
    key = page.context["form"].initial["key"]

    bad = action(client, USERS, "adjust_points", [alice.pk], apply="1", points="0", reason="x", key=key)
    assert "other than 0" in bad.content.decode()
    below = action(client, USERS, "adjust_points", [alice.pk], apply="1", points="-5", reason="oops", key=key)
    assert "Would take below zero: alice-p@example.com" in below.content.decode()
    assert not LedgerEntry.objects.exists()

    data = {"apply": "1", "points": "250", "reason": "hackathon winner", "key": key}
    assert action(client, USERS, "adjust_points", [alice.pk, bob.pk], **data).status_code == 302
    action(client, USERS, "adjust_points", [alice.pk, bob.pk], **data)  # posted twice: one adjustment
    for user in (alice, bob):
        entry = LedgerEntry.objects.get(user=user)
        assert (entry.points, entry.xp, entry.source, entry.reason) == (250, 250, "admin", "admin: hackathon winner")
        assert GamificationProfile.objects.get(user=user).points == 250

    # a moderator may not
    action(client_as(moderator), USERS, "adjust_points", [alice.pk], apply="1", points="5", reason="r", key="other")
    assert LedgerEntry.objects.filter(user=alice).count() == 1


def test_badge_activation_actions(client_as, moderator, plain_user):
    badge = make_badge(criteria={"type": "threshold", "metric": "points", "value": 1})
    client = client_as(moderator)
    action(client, BADGES, "deactivate", [badge.pk])
    badge.refresh_from_db()
    assert badge.active is False
    # an inactive badge is not awarded automatically any more
    services.award(plain_user, points=5, xp=5, reason="bonus", source="admin", idempotency_key="bonus-act")
    services.evaluate_badges(plain_user)
    assert not UserBadge.objects.filter(user=plain_user, badge=badge).exists()
    action(client, BADGES, "activate", [badge.pk])
    badge.refresh_from_db()
    assert badge.active is True
    services.evaluate_badges(plain_user)
    assert UserBadge.objects.filter(user=plain_user, badge=badge).exists()


def test_profile_recompute_action(client_as, staff_member, moderator, plain_user):
    services.award(plain_user, points=70, xp=70, reason="bonus", source="admin", idempotency_key="bonus-prof")
    profile = GamificationProfile.objects.get(user=plain_user)
    GamificationProfile.objects.filter(pk=profile.pk).update(points=1)
    url = reverse("admin:gamification_gamificationprofile_changelist")
    assert client_as(moderator).get(url).status_code == 403
    response = action(client_as(staff_member), url, "recompute", [profile.pk])
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.points == 70
