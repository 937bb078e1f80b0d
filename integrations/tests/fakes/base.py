"""Shared machinery of the four fake providers (providers.md §6.1).

Each fake is a real HTTP server on 127.0.0.1 (devtools.testing.fakeserver.FakeServer) speaking its
provider's wire format. The test controls it through the Python object (`fake.add_item(...)`,
`fake.inject(status=429, ...)`, `fake.expire_tokens()`, `fake.revoke_user(...)`) and reads what
happened (`fake.count("refresh")`, `fake.requests`). Token stores are real: codes are single use,
access tokens expire, refresh tokens rotate where the provider rotates them and die when reused.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlencode, urlsplit

from devtools.testing.fakeserver import FakeServer


def now_iso(ts: float | None = None) -> str:
    dt = datetime.fromtimestamp(ts if ts is not None else time.time(), tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeHandler(BaseHTTPRequestHandler):
    """Routes `(METHOD, regex, method_name)`; captured groups are passed as arguments."""

    routes: list[tuple[str, str, str]] = []
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    @property
    def fake(self) -> FakeProvider:
        return self.server.state["fake"]

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def _dispatch(self, method: str):
        parts = urlsplit(self.path)
        self.route_path = parts.path
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""
        fake = self.fake
        with fake.lock:
            fake.requests.append(
                {"method": method, "path": parts.path, "query": dict(self.query), "headers": dict(self.headers)}
            )
            injected = fake._take_injection(method, parts.path)
        if injected:
            status, headers, body = injected
            return self.send_json(status, body, headers=headers)
        for route_method, pattern, name in self.routes:
            if route_method != method:
                continue
            match = re.fullmatch(pattern, parts.path)
            if match:
                return getattr(self, name)(*match.groups())
        self.send_json(404, {"message": "Not Found"})

    # --- body helpers ------------------------------------------------------------------------
    def json_body(self) -> dict:
        try:
            return json.loads(self.raw_body or b"{}")
        except ValueError:
            return {}

    def form_body(self) -> dict:
        return dict(parse_qsl(self.raw_body.decode(), keep_blank_values=True))

    def any_body(self) -> dict:
        if "json" in (self.headers.get("Content-Type") or ""):
            return self.json_body()
        return self.form_body()

    # --- responses -----------------------------------------------------------------------------
    def send_raw(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, obj, headers: dict | None = None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_raw(status, body, "application/json; charset=utf-8", headers)

    def send_text(self, status: int, text: str, headers: dict | None = None, content_type="text/plain; charset=utf-8"):
        self.send_raw(status, text.encode(), content_type, headers)

    def redirect(self, location: str):
        self.send_raw(302, b"", "text/html", {"Location": location})

    def bearer(self) -> str:
        auth = self.headers.get("Authorization") or ""
        return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


class FakeProvider:
    """The control surface of one fake provider server."""

    handler: type[FakeHandler] = FakeHandler
    rotate_refresh = False

    def __init__(self, *, page_size: int = 2, access_ttl: float | None = 3600.0, **options):
        self.lock = threading.RLock()
        self.page_size = page_size
        self.access_ttl = access_ttl
        self.options = options
        self.requests: list[dict] = []
        self.counters: Counter = Counter()
        self.injections: list[dict] = []
        self.codes: dict[str, dict] = {}
        self.access: dict[str, dict] = {}  # token -> {user, expires_at, revoked}
        self.refresh: dict[str, dict] = {}  # token -> {user, active}
        self.revoked_users: set[str] = set()
        self.clock_offset = 0.0
        self.server = FakeServer(self.handler, state={"fake": self})

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def now(self) -> float:
        return time.time() + self.clock_offset

    def tick(self, seconds: float = 61.0) -> None:
        """Move the fake's clock forward (edit times advance; tokens age)."""
        with self.lock:
            self.clock_offset += seconds

    def count(self, name: str) -> int:
        return self.counters[name]

    def paths(self, method: str | None = None) -> list[str]:
        return [r["path"] for r in self.requests if method is None or r["method"] == method]

    # --- fault injection -----------------------------------------------------------------------
    def inject(
        self, *, status: int, path: str = "", method: str = "", count: int = 1, after: int = 0, headers=None, body=None
    ):
        """Answer the next `count` matching requests (after skipping `after` of them) with
        `status`, `headers` and a JSON `body`; defaults per provider come from `rate_limit_response`."""
        if body is None and headers is None and status in (403, 429):
            headers, body = self.rate_limit_response(status)
        with self.lock:
            self.injections.append(
                {
                    "status": status,
                    "path": path,
                    "method": method,
                    "count": count,
                    "after": after,
                    "headers": headers or {},
                    "body": body,
                }
            )

    def rate_limit_response(self, status: int) -> tuple[dict, dict]:
        return {"Retry-After": "1"}, {"error": "rate_limited"}

    def _take_injection(self, method: str, path: str):
        for inj in self.injections:
            if inj["count"] <= 0:
                continue
            if inj["method"] and inj["method"] != method:
                continue
            if inj["path"] and inj["path"] not in path:
                continue
            if inj["after"] > 0:
                inj["after"] -= 1
                return None
            inj["count"] -= 1
            self.counters[f"injected_{inj['status']}"] += 1
            return inj["status"], inj["headers"], inj["body"]
        return None

    # --- tokens --------------------------------------------------------------------------------
    def new_code(self, **data) -> str:
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {**data, "created": self.now()}
        return code

    def take_code(self, code: str) -> dict | None:
        with self.lock:
            return self.codes.pop(code, None)  # single use

    def issue(self, user: str, *, access_prefix: str = "at_", refresh_prefix: str = "rt_", with_refresh: bool = True):
        access = access_prefix + secrets.token_urlsafe(18)
        refresh = refresh_prefix + secrets.token_urlsafe(18) if with_refresh else ""
        with self.lock:
            self.access[access] = {
                "user": user,
                "expires_at": self.now() + self.access_ttl if self.access_ttl else None,
                "revoked": False,
            }
            if refresh:
                self.refresh[refresh] = {"user": user, "active": True}
            self.counters["tokens_issued"] += 1
        return access, refresh

    def use_refresh(self, refresh: str) -> str | None:
        """The user of a live refresh token (killing it when the provider rotates), else None."""
        with self.lock:
            self.counters["refresh"] += 1
            entry = self.refresh.get(refresh)
            if not entry or not entry["active"] or entry["user"] in self.revoked_users:
                self.counters["refresh_rejected"] += 1
                return None
            if self.rotate_refresh:
                entry["active"] = False
                for _token, data in self.access.items():  # the old pair dies with rotation
                    if data["user"] == entry["user"]:
                        data["revoked"] = True
            return entry["user"]

    def user_for(self, token: str) -> str | None:
        with self.lock:
            entry = self.access.get(token)
            if not entry or entry["revoked"] or entry["user"] in self.revoked_users:
                return None
            if entry["expires_at"] is not None and entry["expires_at"] < self.now():
                return None
            return entry["user"]

    def expire_tokens(self) -> None:
        with self.lock:
            for data in self.access.values():
                data["expires_at"] = self.now() - 1

    def revoke_user(self, user: str) -> None:
        """The user revoked the app at the provider: every token of theirs dies."""
        with self.lock:
            self.revoked_users.add(user)

    def revoke_token(self, token: str) -> bool:
        with self.lock:
            hit = False
            if token in self.access:
                self.access[token]["revoked"] = True
                hit = True
            if token in self.refresh:
                self.refresh[token]["active"] = False
                hit = True
            self.counters["revoked"] += 1
            return hit

    # --- browser helper ------------------------------------------------------------------------
    def follow_authorize(self, authorize_url: str) -> str:
        """What the user's browser does: open the authorize URL; the fake approves and answers
        with a redirect. Returns the Location (our callback URL with code and state)."""
        import requests

        response = requests.get(authorize_url, allow_redirects=False, timeout=5)
        assert response.status_code == 302, (response.status_code, response.text)
        return response.headers["Location"]


def with_query(url: str, params: dict) -> str:
    sep = "&" if urlsplit(url).query else "?"
    return f"{url}{sep}{urlencode(params)}"
