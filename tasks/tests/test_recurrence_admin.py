"""Staff see a task's series on its page and can list the tasks whose stored rule no longer parses."""

# ruff: noqa: F811  (fixtures are imported and named as parameters)
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devtools.testing.admin import admin_user, client_as, make_role_user  # noqa: F401
from tasks.models import RecurrenceSeries
from tasks.services import complete_task, create_task

pytestmark = pytest.mark.django_db


def repeating(user, title, rule="FREQ=DAILY"):
    return create_task(user, title=title, understand=False, due_date=datetime.now(UTC) + timedelta(hours=1),
                       recurrence={"rule": rule, "anchor": "due"})


def test_series_on_the_task_page_and_the_broken_rule_filter(client_as, admin_user, user):
    good = repeating(user, "Good habit")
    bad = repeating(user, "Bad habit")
    RecurrenceSeries.objects.filter(pk=bad.occurrence.series_id).update(rule="FREQ=DAILY;BYHOUR=9")
    client = client_as(admin_user)
    page = client.get(f"/admin/tasks/task/{good.pk}/change/").content.decode()
    assert "Every day" in page and "occurrence #0" in page and good.occurrence.series_id in page
    listed = client.get("/admin/tasks/task/?rule_broken=yes").content.decode()
    assert "Bad habit" in listed and "Good habit" not in listed
    # completing it still succeeds; the series stops with the reason shown
    result = complete_task(user, bad)
    assert result.completed_now and result.next_occurrence is None
    page = client.get(f"/admin/tasks/task/{bad.pk}/change/").content.decode()
    assert "broken" in page and "no longer parses" in page
    assert client.get("/admin/tasks/recurrenceseries/?rule_broken=yes").status_code == 200
