"""Schedules: staff change the periodic jobs of django-celery-beat, and beat follows."""

# ruff: noqa: F811  (fixtures are imported and named as parameters)
from __future__ import annotations

from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from deepiri.celery import app
from devtools.testing.admin import (  # noqa: F401
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


# ------------------------------------------------------------------ a schedule is not a way to run code
ATTACK_TASK = "analytics.delete_user_data"


def _task_form(**over):
    data = {
        "name": "innocent looking job",
        "regtask": "",
        "task": ATTACK_TASK,
        "enabled": "on",
        "description": "",
        "interval": "",
        "crontab": "",
        "solar": "",
        "clocked": "",
        "start_time_0": "",
        "start_time_1": "",
        "args": "[]",
        "kwargs": "{}",
        "expires_0": "",
        "expires_1": "",
        "expire_seconds": "",
        "queue": "",
        "exchange": "",
        "routing_key": "",
        "priority": "",
        "headers": "{}",
    }
    data.update(over)
    return data


def test_staff_cannot_create_a_periodic_task(client_as, staff_member, admin_user):
    beat_schedule()
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    client = client_as(staff_member)
    add = reverse("admin:django_celery_beat_periodictask_add")
    assert client.get(add).status_code == 403
    response = client.post(add, _task_form(interval=str(every_minute.pk), args=f'["{admin_user.pk}"]'))
    assert response.status_code == 403
    assert not PeriodicTask.objects.filter(task=ATTACK_TASK).exists()
    assert "periodictask/add/" not in client.get(TASKS).content.decode()


def test_staff_editing_a_job_cannot_change_its_task_or_arguments(client_as, staff_member, admin_user):
    beat_schedule()
    job = PeriodicTask.objects.get(name=SYNC_JOB)
    before = (job.task, job.args, job.kwargs, job.name, job.queue)
    five, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    client = client_as(staff_member)
    url = reverse("admin:django_celery_beat_periodictask_change", args=[job.pk])
    page = client.get(url).content.decode()
    assert 'name="task"' not in page and 'name="args"' not in page and 'name="regtask"' not in page
    response = client.post(
        url,
        _task_form(
            name="renamed", regtask=ATTACK_TASK, args=f'["{admin_user.pk}"]', kwargs='{"user_id": "x"}',
            queue="evil", interval=str(five.pk),
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job.refresh_from_db()
    assert (job.task, job.args, job.kwargs, job.name, job.queue) == before
    assert job.interval == five  # the timing is staff's to change
    assert client.post(reverse("admin:django_celery_beat_periodictask_delete", args=[job.pk]), {"post": "yes"}).status_code == 403
    assert PeriodicTask.objects.filter(pk=job.pk).exists()


def test_admin_may_only_schedule_the_apps_periodic_jobs(client_as, admin_user):
    beat_schedule()
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    client = client_as(admin_user)
    add = reverse("admin:django_celery_beat_periodictask_add")
    page = client.get(add).content.decode()
    assert ATTACK_TASK not in page and "integrations.enqueue_due_syncs" in page
    for attempt in (
        _task_form(interval=str(every_minute.pk), args=f'["{admin_user.pk}"]'),
        _task_form(interval=str(every_minute.pk), regtask=ATTACK_TASK),
    ):
        response = client.post(add, attempt)
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
    assert not PeriodicTask.objects.filter(task=ATTACK_TASK).exists()
    ok = client.post(
        add, _task_form(name="extra sync", regtask="integrations.enqueue_due_syncs", task="", interval=str(every_minute.pk))
    )
    assert ok.status_code == 302, ok.context["adminform"].form.errors if ok.context else ok
    assert PeriodicTask.objects.get(name="extra sync").task == "integrations.enqueue_due_syncs"
