"""The transactional outbox (kernel.jobs): a job that must not be lost is a row written in the
business transaction, published after commit, swept when the process died first, and run once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import transaction

from devtools.testing.celery import celery_worker, eager_celery  # noqa: F401 (fixtures; eager is autouse)
from devtools.testing.faults import queued, wait_until
from kernel import jobs
from kernel.models import OutboxJob

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _change_that_fails():
    with transaction.atomic():
        jobs.enqueue_on_commit("challenges.understand_task", "abc")
        raise RuntimeError("the business change failed")


def test_a_rolled_back_transaction_leaves_no_job(private_broker):
    with pytest.raises(RuntimeError):
        _change_that_fails()
    assert not OutboxJob.objects.exists()
    assert queued(private_broker) == 0


def test_the_row_is_written_in_the_transaction_and_published_after_commit(private_broker):
    with transaction.atomic():
        jobs.enqueue_on_commit("challenges.understand_task", "abc")
        row = OutboxJob.objects.get()  # visible inside the business transaction
        assert row.published_at is None
        assert queued(private_broker) == 0  # nothing leaves before COMMIT
    assert queued(private_broker) == 1
    row = OutboxJob.objects.get()
    assert row.published_at is not None  # the hook stamped it: the sweep leaves it alone
    assert jobs.drain_outbox() == {"published": 0, "failed": 0, "remaining": 0}
    assert queued(private_broker) == 1


def test_the_sweep_leaves_a_fresh_row_to_its_hook_and_takes_it_after_the_grace(private_broker, settings):
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 3600
    row = OutboxJob.objects.create(task="challenges.understand_task", args=["abc"])  # as a crash leaves it
    assert jobs.drain_outbox()["published"] == 0
    assert queued(private_broker) == 0
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    assert jobs.drain_outbox() == {"published": 1, "failed": 0, "remaining": 0}
    assert OutboxJob.objects.get(pk=row.pk).published_at is not None
    assert jobs.drain_outbox()["published"] == 0  # published once
    assert queued(private_broker) == 1


def test_a_published_job_the_broker_lost_is_published_again(private_broker, settings):
    from datetime import timedelta

    from django.utils import timezone

    long_ago = timezone.now() - timedelta(seconds=settings.OUTBOX_REPUBLISH_SECONDS + 60)
    lost = OutboxJob.objects.create(task="challenges.understand_task", args=["lost"], published_at=long_ago)
    running = OutboxJob.objects.create(
        task="challenges.understand_task", args=["running"], published_at=long_ago,
        claimed_until=timezone.now() + timedelta(minutes=2),
    )
    OutboxJob.objects.create(task="challenges.understand_task", args=["queued"], published_at=timezone.now())
    assert jobs.drain_outbox()["published"] == 1
    assert queued(private_broker) == 1
    lost.refresh_from_db()
    assert lost.published_at > long_ago  # stamped again: not republished on every sweep
    assert OutboxJob.objects.get(pk=running.pk).published_at == long_ago
    assert jobs.drain_outbox()["published"] == 0


def _emails(folder: Path) -> list[str]:
    return [p.read_text() for p in folder.iterdir()] if folder.exists() else []


def test_a_process_killed_between_commit_and_publish_loses_nothing_and_the_job_runs_once(
    celery_worker, make_user, tmp_path, settings  # noqa: F811
):
    """A real process commits a change with its email job, then dies (SIGKILL) before its
    after-commit hook publishes it. The sweep publishes the row; a second copy of the message
    (a broker redelivery) is skipped by the worker: one email, sent by a real worker."""
    user = make_user(email="carol@example.com")
    mailbox = tmp_path / "mail"
    worker = celery_worker(EMAIL_URL=f"filemail:///{mailbox}")
    script = (
        "import os, signal, django; django.setup()\n"
        "from django.db import transaction\n"
        "from kernel import jobs\n"
        "from accounts.models import User\n"
        "with transaction.atomic():\n"
        # The first after-commit hook kills the process: COMMIT happened, the publish did not.
        "    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))\n"
        f"    User.objects.filter(pk={user.pk!r}).update(name='Carol committed')\n"
        f"    jobs.enqueue_on_commit('notifications.send_email', {{'user_id': {user.pk!r}, 'title': 'Hello', 'type': 'system'}})\n"
    )
    from django.db import connection

    from devtools.testing.daphne import database_url_for

    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "deepiri.settings_test", "TEST_DATABASE_NAME": "",
        "DATABASE_URL": database_url_for(connection.settings_dict), "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_QUEUE": worker.queue,
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)  # noqa: S603
    assert done.returncode == -signal.SIGKILL, done.stderr
    user.refresh_from_db()
    assert user.name == "Carol committed"  # the business change committed...
    row = OutboxJob.objects.get()
    assert row.published_at is None  # ...with its job, which nobody published
    time.sleep(1.5)
    assert _emails(mailbox) == []

    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    assert jobs.drain_outbox()["published"] == 1
    wait_until(lambda: not OutboxJob.objects.exists(), 60, what="the swept job to run")
    jobs._publish(row)  # the same message delivered again (a broker redelivery, a second sweep)
    wait_until(lambda: "already ran or is running" in worker.output, 60, what="the duplicate to be skipped")
    assert len(_emails(mailbox)) == 1
    assert "Deepiri: Hello" in _emails(mailbox)[0]
    assert jobs.drain_outbox()["published"] == 0


def test_a_failed_job_keeps_its_row_with_the_error_and_staff_can_rerun_it(db, make_user, settings):
    """Eager Celery: the job runs inline after commit; its failure stays in the outbox."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # refused
    user = make_user()
    with transaction.atomic():
        jobs.enqueue_on_commit("notifications.send_email", {"user_id": user.pk, "title": "Hi", "type": "system"})
    row = OutboxJob.objects.get()
    assert row.failed_at is not None and row.state == "failed"
    assert "ConnectionRefusedError" in row.last_error
    assert "Traceback" in row.traceback
    assert jobs.drain_outbox()["published"] == 0  # a failed job waits for staff, not the sweep

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert jobs.rerun_outbox([row]) == 1
    assert not OutboxJob.objects.exists()  # ran and done
    from django.core import mail

    assert len(mail.outbox) == 1
