"""A generated challenge is pushed to its owner's sockets and notified, once it committed."""

from __future__ import annotations

import pytest

from challenges.services import request_generation, run_generation
from devtools.testing.channels import GroupListener
from notifications.models import Notification
from realtime import publisher
from tasks.services import create_task

pytestmark = pytest.mark.django_db


def test_challenge_generated_pushes_the_challenge_and_notifies(user, no_ai, django_capture_on_commit_callbacks):
    task = create_task(user, title="Read chapter 3", understand=False)
    challenge = request_generation(user, task)  # its worker dispatch waits for a commit that never comes
    with GroupListener(publisher.user_group(user.id)) as listener:
        with django_capture_on_commit_callbacks(execute=True):
            run_generation(challenge.pk)
        sent = listener.events()
    assert [e["type"] for e in sent] == ["challenge-generated", "notification"]
    assert sent[0]["challenge"]["_id"] == challenge.id
    assert sent[0]["challenge"]["taskId"]["title"] == "Read chapter 3"
    assert sent[0]["id"] < sent[1]["id"]
    assert Notification.objects.get(user=user).data["challenge_id"] == challenge.id
