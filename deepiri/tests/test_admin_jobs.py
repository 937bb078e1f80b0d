"""Jobs staff can see: the outbox and every failed or retried job in the admin, with the error
and a re-run action; the request id travels into the worker's log lines and failure records."""

# ruff: noqa: F811  (fixtures are imported and named as parameters)
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

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
from devtools.testing.celery import celery_worker, eager_celery  # noqa: F401 (fixtures; eager is autouse)
from devtools.testing.faults import wait_until
from kernel import jobs
from kernel.logging import request_id_var
from kernel.models import JobFailure, OutboxJob

pytestmark = transactional_db_mark()

OUTBOX = reverse("admin:deepiri_outboxjob_changelist")
FAILURES = reverse("admin:deepiri_jobfailure_changelist")


@pytest.fixture
def refused_smtp(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2


def _failed_email(user):
    with transaction.atomic():
        jobs.enqueue_on_commit("notifications.send_email", {"user_id": user.pk, "title": "Hi", "type": "system"})
    return OutboxJob.objects.get()


def test_a_failed_email_is_listed_with_its_error_and_staff_rerun_it(client_as, staff_member, refused_smtp, settings):
    token = request_id_var.set("req-email-1")
    try:
        row = _failed_email(staff_member)
    finally:
        request_id_var.reset(token)
    failure = JobFailure.objects.get(task="notifications.send_email")
    assert failure.exception == "ConnectionRefusedError"
    assert failure.request_id == "req-email-1"
    assert failure.outbox_id == row.pk

    client = client_as(staff_member)
    page = client.get(OUTBOX).content.decode()
    assert "notifications.send_email" in page and "ConnectionRefusedError" in page
    detail = client.get(reverse("admin:deepiri_outboxjob_change", args=[row.pk])).content.decode()
    assert "Traceback (most recent call last)" in detail
    page = client.get(FAILURES).content.decode()
    assert "ConnectionRefusedError" in page and "req-email-1" in page

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # the mail server is back
    done = action(client, OUTBOX, "rerun", [row.pk])
    assert done.status_code == 302
    assert not OutboxJob.objects.exists()  # ran (inline) and done
    assert len(mail.outbox) == 1
    entry = LogEntry.objects.get(object_id=str(row.pk))
    assert entry.user_id == staff_member.pk and "Re-run" in entry.change_message


def test_rerun_of_a_failure_record_queues_the_job_again(client_as, staff_member, refused_smtp, settings):
    _failed_email(staff_member)
    OutboxJob.objects.all().delete()  # the record is all that is left
    failure = JobFailure.objects.get()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client = client_as(staff_member)
    assert action(client, FAILURES, "rerun", [failure.pk]).status_code == 302
    assert len(mail.outbox) == 1
    failure.refresh_from_db()
    assert failure.state == JobFailure.State.RERUN
    action(client, FAILURES, "rerun", [failure.pk])  # a second click re-runs nothing
    assert len(mail.outbox) == 1


def test_only_staff_with_the_permission_rerun_and_csrf_is_required(client_as, moderator, staff_member, refused_smtp):
    row = _failed_email(staff_member)
    assert client_as(moderator).get(OUTBOX).status_code == 403
    response = action(client_as(moderator), OUTBOX, "rerun", [row.pk])
    assert response.status_code == 403
    assert OutboxJob.objects.get().failed_at is not None

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_member)
    response = strict.post(OUTBOX, {"action": "rerun", "_selected_action": [row.pk]})
    assert response.status_code == 403
    assert OutboxJob.objects.get().failed_at is not None
    assert not LogEntry.objects.exists()


def test_cleanup_forgets_old_failures_and_is_safe_to_run_twice(db):
    now = timezone.now()
    for n, age in enumerate([1, 20, 30]):
        JobFailure.objects.create(task_id=f"t{n}", task="x", state="failed", last_seen=now - timedelta(days=age))
    assert jobs.cleanup_failures(now) == 2
    assert jobs.cleanup_failures(now) == 0
    assert list(JobFailure.objects.values_list("task_id", flat=True)) == ["t0"]


@pytest.mark.services
def test_a_real_worker_logs_the_request_id_and_records_the_retry(celery_worker, make_user):
    """The request id set where the job was queued is in every line the worker logs for it, and a
    job being retried is recorded for staff (a real worker, a refused mail server)."""
    user = make_user()
    worker = celery_worker(EMAIL_URL="smtp://127.0.0.1:9")
    token = request_id_var.set("req-worker-7")
    try:
        with transaction.atomic():
            jobs.enqueue_on_commit("notifications.send_email", {"user_id": user.pk, "title": "Hi", "type": "system"})
    finally:
        request_id_var.reset(token)
    failure = wait_until(lambda: JobFailure.objects.filter(task="notifications.send_email").first(), 60,
                         what="the retry to be recorded")
    assert failure.state == JobFailure.State.RETRYING
    assert failure.exception == "ConnectionRefusedError"
    assert failure.request_id == "req-worker-7"
    lines = [json.loads(line) for line in worker.lines if line.startswith("{")]
    # Every line logged while the job runs; the consumer's "received" line comes before the
    # job's context exists (it carries the job id instead).
    about_job = [line for line in lines if "notifications.send_email" in line.get("message", "")
                 and not line["message"].endswith("received")]
    assert about_job, worker.output[-3000:]
    assert {line["request_id"] for line in about_job} == {"req-worker-7"}
