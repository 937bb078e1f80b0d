"""The user page's "Award a badge…": one badge to this user through the gamification service
(ledger, profile), refused below the user's rank, audited in the user's admin history."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse

from devtools.testing.admin import (  # noqa: F401  (fixtures)
    admin_user,
    client_as,
    make_role_user,
    moderator,
    plain_user,
    staff_member,
)
from gamification.models import Badge, GamificationProfile, LedgerEntry, UserBadge
from kernel import roles

pytestmark = pytest.mark.django_db


def _badge(slug="helper", points=75, **extra) -> Badge:
    return Badge.objects.create(
        slug=slug, name=slug.title(), icon="*", description="d", category="special", rarity="rare",
        criteria={"type": "threshold", "metric": "points", "value": 10_000_000}, points=points, **extra,
    )


def tool_url(user) -> str:
    return reverse("admin:accounts_user_award_badge", args=[user.pk])


def test_staff_awards_a_badge_from_the_user_page_through_the_ledger_and_it_is_audited(
    client_as, staff_member, plain_user
):
    badge = _badge()
    client = client_as(staff_member)
    page = client.get(reverse("admin:accounts_user_change", args=[plain_user.pk])).content.decode()
    assert f'href="{tool_url(plain_user)}"' in page and "Award a badge" in page
    form = client.get(tool_url(plain_user))
    assert form.status_code == 200 and badge.name in form.content.decode()
    # the reason is required
    assert client.post(tool_url(plain_user), {"badge": badge.pk}).status_code == 200
    assert not UserBadge.objects.filter(user=plain_user).exists()

    done = client.post(tool_url(plain_user), {"badge": badge.pk, "reason": "helped at the meetup"})
    assert done.status_code == 302 and done["Location"] == reverse("admin:accounts_user_change", args=[plain_user.pk])
    assert UserBadge.objects.filter(user=plain_user, badge=badge, revoked_at__isnull=True).exists()
    assert LedgerEntry.objects.filter(user=plain_user, points=75).exists()
    assert GamificationProfile.objects.get(user=plain_user).points == 75
    audit = [entry.get_change_message() for entry in LogEntry.objects.filter(object_id=plain_user.pk, user=staff_member)]
    assert "Awarded the badge Helper (+75 points): helped at the meetup" in audit
    # a second award of the same badge adds nothing
    client.post(tool_url(plain_user), {"badge": badge.pk, "reason": "again"})
    assert LedgerEntry.objects.filter(user=plain_user, points=75).count() == 1


@pytest.mark.parametrize("target_role", [roles.STAFF, roles.ADMIN])
def test_staff_cannot_award_to_an_equal_or_higher_account(client_as, staff_member, make_role_user, target_role):
    badge = _badge()
    target = make_role_user(target_role)
    response = client_as(staff_member).post(tool_url(target), {"badge": badge.pk, "reason": "peer pressure"})
    assert response.status_code == 302
    assert any("higher role" in str(m) for m in get_messages(response.wsgi_request))
    assert not UserBadge.objects.filter(user=target).exists()
    assert not LedgerEntry.objects.filter(user=target).exists()


def test_legendary_badges_and_points_for_oneself_are_refused(client_as, staff_member, admin_user, plain_user):
    legendary = _badge("legend", points=5_000)
    staff = client_as(staff_member)
    refused = staff.post(tool_url(plain_user), {"badge": legendary.pk, "reason": "why not"})
    assert refused.status_code == 200 and "admins only" in refused.content.decode()
    assert not UserBadge.objects.filter(user=plain_user).exists()
    # an admin may
    client_as(admin_user).post(tool_url(plain_user), {"badge": legendary.pk, "reason": "earned it"})
    assert UserBadge.objects.filter(user=plain_user, badge=legendary).exists()
    # nobody awards themselves points
    self_award = client_as(admin_user).post(tool_url(admin_user), {"badge": _badge("mine").pk, "reason": "me"})
    assert self_award.status_code == 200 and "Not to yourself" in self_award.content.decode()
    assert not UserBadge.objects.filter(user=admin_user).exists()


def test_a_moderator_or_plain_user_has_no_such_page(client_as, moderator, plain_user):
    badge = _badge()
    for actor in (moderator, plain_user):
        response = client_as(actor).post(tool_url(plain_user), {"badge": badge.pk, "reason": "x"})
        assert response.status_code in (302, 403)  # no user admin for them (a plain user is sent to log in)
    assert not UserBadge.objects.filter(user=plain_user).exists()
