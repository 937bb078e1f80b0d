"""Publishing Celery jobs with the broker down: bounded wait, then the outbox, drained later."""

from __future__ import annotations

import time

import pytest

from devtools.testing.faults import queued
from kernel import jobs
from kernel.models import OutboxJob

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_dead_broker_costs_about_a_second_and_the_job_waits_in_the_outbox(private_broker):
    from challenges.tasks import understand_task

    private_broker.kill()
    started = time.monotonic()
    assert jobs.enqueue(understand_task, "abc") is False
    assert time.monotonic() - started < 3.0
    kept = OutboxJob.objects.get()
    assert (kept.task, kept.args, kept.kwargs) == ("challenges.understand_task", ["abc"], {})
    assert kept.last_error

    assert jobs.drain_outbox() == {"published": 0, "failed": 1, "remaining": 1}  # still down
    assert OutboxJob.objects.get().attempts == 2  # the refused publish, then the sweep's

    private_broker.restart()  # the same pooled producer reconnects by itself
    assert jobs.drain_outbox() == {"published": 1, "failed": 0, "remaining": 0}
    assert queued(private_broker) == 1
    assert jobs.drain_outbox()["published"] == 0  # nothing is published twice


def test_with_the_broker_up_nothing_touches_the_outbox(private_broker):
    from challenges.tasks import understand_task

    assert jobs.enqueue(understand_task, "abc") is True
    assert queued(private_broker) == 1
    assert not OutboxJob.objects.exists()


def test_jobs_are_found_by_name_from_threads_starting_together():
    """Threads of a fresh process (a threaded server's first requests) asking for jobs at once:
    each finds its job, none gets a KeyError while another thread is still loading the modules."""
    import os
    import subprocess
    import sys

    probe = (
        "import threading, django; django.setup()\n"
        "from kernel import jobs\n"
        "names = ['integrations.sync_connection', 'challenges.run_generation', 'analytics.apply_event',\n"
        "         'accounts.purge_expired_tokens', 'admin.announce']\n"
        "start, errors = threading.Barrier(10), []\n"
        "def ask(i):\n"
        "    start.wait()\n"
        "    try:\n"
        "        jobs.task_named(names[i % len(names)])\n"
        "    except KeyError as exc:\n"
        "        errors.append(repr(exc))\n"
        "threads = [threading.Thread(target=ask, args=(i,)) for i in range(10)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print('errors', len(errors), errors[:1])\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "deepiri.settings_test"}
    for _ in range(3):  # without the lock every run had several KeyErrors
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)  # noqa: S603
        assert out.returncode == 0, out.stderr
        assert out.stdout.split("\n")[-2] == "errors 0 []", out.stdout


def test_a_job_is_found_by_name_in_a_process_that_never_imported_its_module():
    """Services queue jobs by name; a web process has not imported every app's task module."""
    import os
    import subprocess
    import sys

    probe = (
        "import django; django.setup()\n"
        "from deepiri.celery import app\n"
        "from kernel import jobs\n"
        "print('integrations.sync_connection' in app.tasks, jobs.task_named('integrations.sync_connection').name)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "deepiri.settings_test"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)  # noqa: S603
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["False", "integrations.sync_connection"]
