"""A fake Notion API (providers.md §1, §6.1): OAuth with Basic + JSON token calls and rotating
refresh tokens, mandatory Notion-Version, search / data source / query / page endpoints with
cursor pagination and a minute-granular `last_edited_time`, 429 `rate_limited` with Retry-After,
and signed webhook deliveries after a verification-token handshake."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid

from integrations.tests.fakes.base import FakeHandler, FakeProvider, now_iso, with_query

SCHEMA = {
    "Name": {"id": "title", "type": "title", "title": {}},
    "Status": {
        "id": "s%3Dx",
        "type": "status",
        "status": {
            "options": [
                {"id": "o1", "name": "Not started", "color": "default"},
                {"id": "o2", "name": "In progress", "color": "blue"},
                {"id": "o3", "name": "Done", "color": "green"},
            ],
            "groups": [
                {"id": "g1", "name": "To-do", "option_ids": ["o1"]},
                {"id": "g2", "name": "In progress", "option_ids": ["o2"]},
                {"id": "g3", "name": "Complete", "option_ids": ["o3"]},
            ],
        },
    },
    "Due": {"id": "d1", "type": "date", "date": {}},
    "Tags": {"id": "t1", "type": "multi_select", "multi_select": {"options": []}},
    "Notes": {"id": "n1", "type": "rich_text", "rich_text": {}},
}


def _error(status: int, code: str, message: str) -> dict:
    return {"object": "error", "status": status, "code": code, "message": message, "request_id": str(uuid.uuid4())}


class NotionHandler(FakeHandler):
    routes = [
        ("GET", r"/v1/oauth/authorize", "authorize"),
        ("POST", r"/v1/oauth/token", "token"),
        ("POST", r"/v1/oauth/revoke", "revoke"),
        ("GET", r"/v1/users/me", "me"),
        ("POST", r"/v1/search", "search"),
        ("GET", r"/v1/data_sources/([^/]+)", "data_source"),
        ("POST", r"/v1/data_sources/([^/]+)/query", "query_rows"),
        ("GET", r"/v1/pages/([^/]+)", "page"),
    ]

    # --- OAuth ---------------------------------------------------------------------------------
    def authorize(self):
        fake, q = self.fake, self.query
        if q.get("client_id") != fake.client_id or q.get("response_type") != "code":
            return self.send_json(400, {"error": "invalid_request"})
        code = fake.new_code(user=fake.login_as, redirect_uri=q.get("redirect_uri", ""))
        self.redirect(with_query(q["redirect_uri"], {"code": code, "state": q.get("state", "")}))

    def _client_ok(self) -> bool:
        auth = self.headers.get("Authorization") or ""
        expected = "Basic " + base64.b64encode(f"{self.fake.client_id}:{self.fake.client_secret}".encode()).decode()
        return hmac.compare_digest(auth, expected)

    def token(self):
        fake = self.fake
        if not self._client_ok():
            return self.send_json(401, {"error": "invalid_client", "error_description": "bad client credentials"})
        if "application/json" not in (self.headers.get("Content-Type") or ""):
            return self.send_json(400, {"error": "invalid_request", "error_description": "body must be JSON"})
        body = self.json_body()
        grant = body.get("grant_type")
        if grant == "authorization_code":
            data = fake.take_code(body.get("code", ""))
            if not data or data["redirect_uri"] != body.get("redirect_uri"):
                return self.send_json(400, {"error": "invalid_grant", "error_description": "code is invalid or used"})
            user = data["user"]
            fake.counters["code_exchanged"] += 1
        elif grant == "refresh_token":
            user = fake.use_refresh(body.get("refresh_token", ""))
            if not user:
                return self.send_json(400, {"error": "invalid_grant", "error_description": "refresh token is invalid"})
        else:
            return self.send_json(400, {"error": "unsupported_grant_type"})
        access, refresh = fake.issue(user, access_prefix="ntn_", refresh_prefix="nrt_")
        self.send_json(
            200,
            {
                "access_token": access,
                "token_type": "bearer",
                "refresh_token": refresh,
                "bot_id": fake.bot_id(user),
                "workspace_id": fake.workspace_id,
                "workspace_name": "Acme",
                "workspace_icon": None,
                "owner": {
                    "type": "user",
                    "user": {
                        "object": "user",
                        "id": f"user-{user}",
                        "name": user.title(),
                        "person": {"email": f"{user}@example.com"},
                    },
                },
                "duplicated_template_id": None,
                "request_id": str(uuid.uuid4()),
            },
        )

    def revoke(self):
        if not self._client_ok():
            return self.send_json(401, {"error": "invalid_client"})
        self.fake.revoke_token(self.json_body().get("token", ""))
        self.send_json(200, {})

    # --- API -----------------------------------------------------------------------------------
    def _auth(self) -> str | None:
        if not self.headers.get("Notion-Version"):
            self.send_json(400, _error(400, "missing_version", "Notion-Version header failed validation"))
            return None
        user = self.fake.user_for(self.bearer())
        if not user:
            self.send_json(401, _error(401, "unauthorized", "API token is invalid."))
            return None
        self.fake.counters["api_calls"] += 1
        return user

    def me(self):
        user = self._auth()
        if user:
            self.send_json(
                200,
                {
                    "object": "user",
                    "id": self.fake.bot_id(user),
                    "type": "bot",
                    "name": "Deepiri",
                    "bot": {"workspace_name": "Acme", "workspace_id": self.fake.workspace_id},
                },
            )

    def _paginate(self, rows: list, cursor: str | None, page_size: int, render=None):
        start = int(cursor.split("-")[1]) if cursor and cursor.startswith("cur-") else 0
        size = max(1, min(page_size or 100, 100, self.fake.page_size))
        chunk = rows[start : start + size]
        if render is not None:
            chunk = [render(row) for row in chunk]
        more = start + size < len(rows)
        return {
            "object": "list",
            "results": chunk,
            "has_more": more,
            "next_cursor": f"cur-{start + size}" if more else None,
        }

    def search(self):
        if not self._auth():
            return
        body = self.json_body()
        rows = [self.fake.ds_json(ds_id) for ds_id in self.fake.data_sources]
        out = self._paginate(rows, body.get("start_cursor"), body.get("page_size", 100))
        out["type"] = "page_or_data_source"
        self.send_json(200, out)

    def data_source(self, ds_id):
        if not self._auth():
            return
        if ds_id not in self.fake.data_sources:
            return self.send_json(404, _error(404, "object_not_found", "Could not find data source"))
        self.send_json(200, {**self.fake.ds_json(ds_id), "properties": SCHEMA})

    def query_rows(self, ds_id):
        if not self._auth():
            return
        fake = self.fake
        if ds_id not in fake.data_sources:
            return self.send_json(404, _error(404, "object_not_found", "Could not find data source"))
        body = self.json_body()
        since = ((body.get("filter") or {}).get("last_edited_time") or {}).get("on_or_after")
        with fake.lock:
            rows = [p for p in fake.pages.values() if p["ds"] == ds_id and not p["in_trash"] and not p["gone"]]
        if since:
            rows = [p for p in rows if p["last_edited_time"] >= since[:16]]
        rows.sort(key=lambda p: (p["last_edited_time"], p["created_time"], p["id"]))
        fake.counters["query_pages"] += 1
        out = self._paginate(rows, body.get("start_cursor"), body.get("page_size", 100), render=fake.page_json)
        out["type"] = "page_or_data_source"
        out["page_or_data_source"] = {}
        self.send_json(200, out)

    def page(self, page_id):
        if not self._auth():
            return
        page = self.fake.pages.get(page_id)
        if not page or page["gone"]:
            return self.send_json(404, _error(404, "object_not_found", f"Could not find page with ID: {page_id}."))
        self.send_json(200, self.fake.page_json(page))


class FakeNotion(FakeProvider):
    handler = NotionHandler
    rotate_refresh = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.client_id = "notion-client-id"
        self.client_secret = "notion-client-secret"
        self.login_as = "ada"
        self.workspace_id = str(uuid.uuid4())
        self.verification_token = "secret_" + secrets.token_hex(16)
        self.data_sources: dict[str, dict] = {}
        self.pages: dict[str, dict] = {}

    def settings(self) -> dict:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "auth_base": self.url,
            "api_base": self.url,
            "page_size": 100,
        }

    def bot_id(self, user: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"notion-bot-{user}-{self.workspace_id}"))

    # --- data control --------------------------------------------------------------------------
    def _stamp(self) -> str:
        return now_iso(self.now())[:16] + ":00.000Z"  # Notion edit times are minute-granular

    def add_data_source(self, title: str = "Tasks") -> str:
        ds_id = str(uuid.uuid4())
        with self.lock:
            self.data_sources[ds_id] = {"title": title, "database_id": str(uuid.uuid4())}
        return ds_id

    def add_page(self, ds_id: str, title: str, *, status="Not started", due=None, tags=(), notes="") -> str:
        page_id = str(uuid.uuid4())
        stamp = self._stamp()
        with self.lock:
            self.pages[page_id] = {
                "id": page_id,
                "ds": ds_id,
                "title": title,
                "status": status,
                "due": due,
                "tags": list(tags),
                "notes": notes,
                "created_time": stamp,
                "last_edited_time": stamp,
                "in_trash": False,
                "gone": False,
            }
        return page_id

    def edit_page(self, page_id: str, **changes) -> None:
        with self.lock:
            self.pages[page_id].update(changes)
            self.pages[page_id]["last_edited_time"] = self._stamp()

    def trash_page(self, page_id: str) -> None:
        self.edit_page(page_id, in_trash=True)

    def ds_json(self, ds_id: str) -> dict:
        ds = self.data_sources[ds_id]
        return {
            "object": "data_source",
            "id": ds_id,
            "title": [{"type": "text", "plain_text": ds["title"]}],
            "parent": {"type": "database_id", "database_id": ds["database_id"]},
            "url": f"https://www.notion.so/{ds_id.replace('-', '')}",
        }

    def page_json(self, p: dict) -> dict:
        return {
            "object": "page",
            "id": p["id"],
            "url": f"https://www.notion.so/{p['title'].replace(' ', '-')}-{p['id'].replace('-', '')}",
            "created_time": p["created_time"],
            "last_edited_time": p["last_edited_time"],
            "in_trash": p["in_trash"],
            "parent": {
                "type": "data_source_id",
                "data_source_id": p["ds"],
                "database_id": self.data_sources[p["ds"]]["database_id"],
            },
            "properties": {
                "Name": {"id": "title", "type": "title", "title": [{"type": "text", "plain_text": p["title"]}]},
                "Status": {
                    "id": "s%3Dx",
                    "type": "status",
                    "status": {"id": "x", "name": p["status"], "color": "default"},
                },
                "Due": {
                    "id": "d1",
                    "type": "date",
                    "date": {"start": p["due"], "end": None, "time_zone": None} if p["due"] else None,
                },
                "Tags": {"id": "t1", "type": "multi_select", "multi_select": [{"name": t} for t in p["tags"]]},
                "Notes": {
                    "id": "n1",
                    "type": "rich_text",
                    "rich_text": [{"type": "text", "plain_text": p["notes"]}] if p["notes"] else [],
                },
            },
        }

    def rate_limit_response(self, status):
        return {"Retry-After": "2"}, _error(
            429, "rate_limited", "You have been rate limited. Please try again in a few minutes."
        )

    # --- webhooks ------------------------------------------------------------------------------
    def handshake_body(self) -> bytes:
        return json.dumps({"verification_token": self.verification_token}).encode()

    def signed_event(
        self, event_type: str, page_id: str, *, users=("ada",), event_id: str | None = None, token: str | None = None
    ):
        body = json.dumps(
            {
                "id": event_id or str(uuid.uuid4()),
                "timestamp": now_iso(self.now()),
                "workspace_id": self.workspace_id,
                "workspace_name": "Acme",
                "subscription_id": str(uuid.uuid4()),
                "integration_id": str(uuid.uuid4()),
                "type": event_type,
                "authors": [{"id": "user-ada", "type": "person"}],
                "accessible_by": [{"id": self.bot_id(u), "type": "bot"} for u in users],
                "attempt_number": 1,
                "entity": {"id": page_id, "type": "page"},
                "data": {"parent": {"id": self.pages.get(page_id, {}).get("ds", ""), "type": "data_source"}},
            }
        ).encode()
        key = (token or self.verification_token).encode()
        signature = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        return body, {"X-Notion-Signature": signature}
