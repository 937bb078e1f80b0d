"""The shared part of seed.py and smoke.py: Django set up from whichever tree is on sys.path,
and a JSON client for /api/. The scripts run as `python <this dir>/seed.py` with the release's
tree on PYTHONPATH: this directory holds no package of the project, so `deepiri`, `tasks`, ...
are that release's code, never HEAD's."""

import json
import os
import sys
from urllib.parse import urlsplit

import django

django.setup()

import requests  # noqa: E402
from django.test import Client  # noqa: E402

STATE = json.loads(os.environ["UPGRADE_STATE"]) if os.environ.get("UPGRADE_STATE") else {}


class Api:
    def __init__(self, token=None):
        self.client = Client()
        self.token = token

    def call(self, method, path, body=None, expect=(200, 201)):
        extra = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}
        send = getattr(self.client, method)
        if body is None:
            response = send(path, **extra)
        else:
            response = send(path, json.dumps(body), content_type="application/json", **extra)
        if response.status_code not in expect:
            sys.exit(f"{method.upper()} {path} -> {response.status_code}: {response.content[:800]!r}")
        if response.status_code in (301, 302):
            return response
        return response.json()

    def get(self, path, **kw):
        return self.call("get", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("post", path, body if body is not None else {}, **kw)


def connect_github(api):
    """The OAuth dance as a browser does it: connect -> the provider's authorize page (the fake
    approves at once) -> our callback."""
    authorize = api.post("/api/integrations/github/connect")["data"]["authorizeUrl"]
    response = requests.get(authorize, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    parts = urlsplit(response.headers["Location"])
    final = api.call("get", f"{parts.path}?{parts.query}", expect=(302,))
    assert "error" not in final["Location"], final["Location"]


def done(result):
    print("UPGRADE-RESULT " + json.dumps(result))
