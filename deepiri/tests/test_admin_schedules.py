"""Schedules: staff change the periodic jobs of django-celery-beat, and beat follows (issue 8)."""

# ruff: noqa: F811  (fixtures are imported and named as parameters)
from __future__ import annotations

from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from deepiri.celery import app
from deepiri.testing.admin import (  # noqa: F401
    action,
    admin_user,
    client_as,
    make_role_user,
    moderator,
    plain_user,
    staff_member,
    transactional_db_mark,
)

# The scheduler closes connections that are not in autocommit (as a beat process would): transactional tests.
pytestmark = transactional_db_mark()

TASKS = reverse("admin:django_celery_beat_periodictask_changelist")
SYNC_JOB = "integrations-enqueue-due-syncs"


def beat_schedule() -> dict:
    """What a beat process starting now would run (its DatabaseScheduler reading the tables)."""
    scheduler = DatabaseScheduler(app=app, lazy=True)
    scheduler.setup_schedule()  # copies CELERY_BEAT_SCHEDULE into the tables, as beat does
    return scheduler.all_as_schedule()


def test_staff_change_the_sync_interval_and_beat_uses_it(client_as, staff_member):
    schedule = beat_schedule()
    assert schedule[SYNC_JOB].schedule.run_every.total_seconds() == 60
    job = PeriodicTask.objects.get(name=SYNC_JOB)
    client = client_as(staff_member)
    assert SYNC_JOB in client.get(TASKS).content.decode()

    # staff point the job at a 5-minute interval through the interval admin
    inline = {
        f"periodictask_set-{k}": v
        for k, v in {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0", "MAX_NUM_FORMS": "1000"}.items()
    }
    add = client.post(
        reverse("admin:django_celery_beat_intervalschedule_add"), {"every": "5", "period": "minutes", **inline}
    )
    assert add.status_code == 302, [line for line in add.content.decode().splitlines() if "error" in line][:10]
    five = IntervalSchedule.objects.get(every=5, period="minutes")
    page = client.get(reverse("admin:django_celery_beat_periodictask_change", args=[job.pk]))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        name: value for name, value in form.initial.items() if value is not None and not isinstance(value, list | dict)
    }
    data.update(
        {
            "name": job.name,
            "regtask": job.task,
            "task": job.task,
            "interval": str(five.pk),
            "args": "[]",
            "kwargs": "{}",
            "enabled": "on",
            "queue": "",
            "exchange": "",
            "routing_key": "",
            "headers": "{}",
            "priority": "",
            "expires": "",
            "expire_seconds": "",
            "description": "every five minutes is enough",
            "crontab": "",
            "solar": "",
            "clocked": "",
            "start_time_0": "",
            "start_time_1": "",
            "last_run_at_0": "",
            "last_run_at_1": "",
        }
    )
    response = client.post(reverse("admin:django_celery_beat_periodictask_change", args=[job.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    job.refresh_from_db()
    assert job.interval == five

    # a beat process started now runs it every 5 minutes
    scheduler = DatabaseScheduler(app=app, lazy=True)
    assert scheduler.all_as_schedule()[SYNC_JOB].schedule.run_every.total_seconds() == 300

    # and staff can switch a job off
    action(client, TASKS, "disable_tasks", [job.pk])
    job.refresh_from_db()
    assert job.enabled is False
    assert SYNC_JOB not in DatabaseScheduler(app=app, lazy=True).all_as_schedule()


def test_moderators_and_users_cannot_touch_schedules(client_as, moderator, plain_user):
    beat_schedule()
    job = PeriodicTask.objects.get(name=SYNC_JOB)
    assert client_as(moderator).get(TASKS).status_code == 403
    action(client_as(moderator), TASKS, "disable_tasks", [job.pk])
    assert client_as(plain_user).get(TASKS).status_code == 302
    job.refresh_from_db()
    assert job.enabled is True
