"""A typed client generated from `/api/schema` (openapi-python-client) drives a live server.

If the schema and the wire disagree (a list wrapped twice, `_id` named `Id`, a status the
schema does not list), the generated models fail to parse the real answers and this breaks."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def client_package(tmp_path_factory):
    """Generate the client once per run from the schema the app serves."""
    from django.test import Client

    schema = Client().get("/api/schema", {"format": "json"})
    assert schema.status_code == 200
    work = tmp_path_factory.mktemp("generated-client")
    (work / "schema.json").write_bytes(schema.content)
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator, "openapi-python-client is installed with the test tools (requirements-dev.txt)"
    result = subprocess.run(
        [generator, "generate", "--path", "schema.json", "--output-path", "out", "--meta", "none"],
        cwd=work, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module("out")
    finally:
        sys.path.remove(str(work))
        for name in [m for m in sys.modules if m == "out" or m.startswith("out.")]:
            del sys.modules[name]


def _call(module_name: str, package, **kwargs):
    module = importlib.import_module(f"out.api.{module_name}")
    response = module.sync_detailed(**kwargs)
    assert 200 <= response.status_code < 300, (module_name, response.status_code, response.content[:500])
    assert response.parsed is not None, (module_name, "the generated model could not read the answer")
    return response.parsed


@pytest.mark.django_db(transaction=True)
def test_a_generated_client_registers_lists_creates_completes_and_reads_the_profile(client_package, live_server):
    from out.client import AuthenticatedClient, Client

    models = importlib.import_module("out.models")
    anonymous = Client(base_url=live_server.url, raise_on_unexpected_status=True)
    email = f"gen-{uuid.uuid4().hex[:8]}@example.com"
    registered = _call(
        "auth.api_auth_register_create",
        client_package,
        client=anonymous,
        body=models.RegisterRequest(name="Gen Client", email=email, password="Correct-Horse-42!"),
    )
    token = registered.data.token
    assert registered.success is True and registered.data.user.email == email

    signed_in = AuthenticatedClient(base_url=live_server.url, token=token, raise_on_unexpected_status=True)
    empty = _call("tasks.api_tasks_list", client_package, client=signed_in)
    assert empty.data == [] and empty.pagination.total == 0 and empty.pagination.next_ is None

    created = _call(
        "tasks.api_tasks_create",
        client_package,
        client=signed_in,
        body=models.TaskRequest(title="Write the generated-client test", priority=models.TaskPriorityEnum.HIGH),
    )
    task = created.data
    assert task.field_id == task.id and task.title == "Write the generated-client test"

    listed = _call("tasks.api_tasks_list", client_package, client=signed_in)
    assert [t.id for t in listed.data] == [task.id] and listed.pagination.total == 1

    completed = _call("tasks.api_tasks_complete_create", client_package, client=signed_in, id=task.id)
    assert completed.data.status == models.TaskStatusEnum.COMPLETED

    profile = _call("users.api_users_profile_retrieve", client_package, client=signed_in)
    assert profile.data.email == email

    # An error answer parses as the documented error envelope too.
    missing = importlib.import_module("out.api.tasks.api_tasks_retrieve").sync_detailed(
        client=AuthenticatedClient(base_url=live_server.url, token=token), id="0" * 24
    )
    assert missing.status_code == 404 and missing.parsed.code == "not_found"
    assert requests.get(f"{live_server.url}/api/tasks/{task.id}", timeout=10).status_code == 401
