"""Minting points through badges: the review's moderator made a badge worth 2,000,000,000 points
and awarded it to themselves. Driven through the badge admin as that moderator."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import pytest
from django.urls import reverse

from devtools.testing.admin import action, admin_user, client_as, make_role_user, moderator, plain_user  # noqa: F401
from gamification.models import BADGE_POINTS_ADMIN_THRESHOLD, BADGE_POINTS_MAX, Badge, GamificationProfile, UserBadge

pytestmark = pytest.mark.django_db

BADGES = reverse("admin:gamification_badge_changelist")
BADGE_ADD = reverse("admin:gamification_badge_add")


def badge_form(**overrides):
    return {
        "name": "Money Printer",
        "slug": "money-printer",
        "icon": "💸",
        "description": "Brrr.",
        "category": "special",
        "rarity": "legendary",
        "criteria": '{"type": "threshold", "metric": "points", "value": 10000000}',
        "points": "2000000000",
        "active": "on",
        "sort_order": "1",
        **overrides,
    }


def make_badge(points, slug="bonus"):
    return Badge.objects.create(
        slug=slug, name=slug.title(), icon="🏅", description="x", category="special", rarity="epic",
        criteria={"type": "threshold", "metric": "points", "value": 10_000_000}, points=points,
    )


def award(client, badge, users):
    return action(client, BADGES, "award_to_users", [badge.pk], apply="1", users="\n".join(users))


def points_of(user) -> int:
    profile = GamificationProfile.objects.filter(user=user).first()
    return profile.points if profile else 0


def test_nobody_creates_a_badge_above_the_cap(client_as, moderator, admin_user):
    for who in (moderator, admin_user):
        response = client_as(who).post(BADGE_ADD, badge_form())
        assert response.status_code == 200
        assert f"{BADGE_POINTS_MAX}" in response.content.decode().replace(",", "").replace("\u202f", "")
    assert not Badge.objects.filter(slug="money-printer").exists()
    with pytest.raises(ValueError):
        make_badge(BADGE_POINTS_MAX + 1)


def test_moderator_cannot_set_points_above_the_admin_threshold(client_as, moderator, admin_user):
    over = str(BADGE_POINTS_ADMIN_THRESHOLD + 1)
    assert client_as(moderator).post(BADGE_ADD, badge_form(points=over)).status_code == 200
    assert not Badge.objects.filter(slug="money-printer").exists()
    badge = make_badge(100)
    change = reverse("admin:gamification_badge_change", args=[badge.pk])
    data = badge_form(slug=badge.slug, name=badge.name, points=over)
    assert client_as(moderator).post(change, data).status_code == 200
    badge.refresh_from_db()
    assert badge.points == 100
    # an admin may
    assert client_as(admin_user).post(change, data).status_code == 302
    badge.refresh_from_db()
    assert badge.points == BADGE_POINTS_ADMIN_THRESHOLD + 1
    # and then the moderator can no longer edit that badge (nor ease its criteria)
    assert client_as(moderator).post(change, badge_form(slug=badge.slug, name=badge.name, points="5")).status_code == 403
    badge.refresh_from_db()
    assert badge.points == BADGE_POINTS_ADMIN_THRESHOLD + 1


def test_nobody_awards_a_point_bearing_badge_to_themselves(client_as, moderator, admin_user, plain_user):
    badge = make_badge(500)
    award(client_as(moderator), badge, [moderator.email, plain_user.email])
    assert not UserBadge.objects.filter(user=moderator).exists()
    assert points_of(moderator) == 0
    assert UserBadge.objects.filter(user=plain_user, badge=badge).exists()  # others still get it
    award(client_as(admin_user), badge, [admin_user.email])
    assert not UserBadge.objects.filter(user=admin_user).exists()
    # a badge without points is only a badge
    honour = make_badge(0, slug="honour")
    award(client_as(moderator), honour, [moderator.email])
    assert UserBadge.objects.filter(user=moderator, badge=honour).exists()


def test_high_value_badges_are_awarded_by_admins_only(client_as, moderator, admin_user, plain_user):
    badge = make_badge(BADGE_POINTS_ADMIN_THRESHOLD + 500)
    award(client_as(moderator), badge, [plain_user.email])
    assert not UserBadge.objects.filter(user=plain_user).exists()
    assert points_of(plain_user) == 0
    award(client_as(admin_user), badge, [plain_user.email])
    assert UserBadge.objects.filter(user=plain_user, badge=badge).exists()
    assert points_of(plain_user) == BADGE_POINTS_ADMIN_THRESHOLD + 500
