"""A fake Google (providers.md §4, §6.1): the OAuth web-server flow with PKCE and a form-only
token endpoint that issues a refresh token only with `access_type=offline` + consent, refresh
without rotation, `invalid_grant` for revoked grants, Google Tasks (lists, tasks with `updatedMin`,
`showDeleted`, date-only `due`, `pageToken` paging), Drive file metadata / changes / `changes.watch`
channels with header-only notifications, Docs `documents.get` with checklist paragraphs, and the
403 `userRateLimitExceeded` / 429 error envelopes."""

from __future__ import annotations

import secrets
import uuid

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from integrations.tests.fakes.base import FakeHandler, FakeProvider, now_iso, with_query


def _gerror(code: int, message: str, status: str, reason: str = "") -> dict:
    err = {"code": code, "message": message, "status": status}
    if reason:
        err["errors"] = [
            {"domain": "usageLimits" if "Rate" in reason else "global", "reason": reason, "message": message}
        ]
    return {"error": err}


class GoogleHandler(FakeHandler):
    routes = [
        ("GET", r"/o/oauth2/v2/auth", "authorize"),
        ("POST", r"/token", "token"),
        ("POST", r"/revoke", "revoke"),
        ("GET", r"/oauth2/v3/userinfo", "userinfo"),
        ("GET", r"/tasks/v1/users/@me/lists", "tasklists"),
        ("GET", r"/tasks/v1/lists/([^/]+)/tasks", "tasks"),
        ("GET", r"/tasks/v1/lists/([^/]+)/tasks/([^/]+)", "task"),
        ("GET", r"/drive/v3/files/([^/]+)", "file"),
        ("GET", r"/drive/v3/changes/startPageToken", "start_token"),
        ("POST", r"/drive/v3/changes/watch", "watch"),
        ("POST", r"/drive/v3/channels/stop", "stop"),
        ("GET", r"/v1/documents/([^/]+)", "document"),
    ]

    # --- OAuth ---------------------------------------------------------------------------------
    def authorize(self):
        fake, q = self.fake, self.query
        if q.get("client_id") != fake.client_id or q.get("response_type") != "code":
            return self.send_text(400, "Error 400: invalid_request")
        user = fake.login_as
        offline = q.get("access_type") == "offline"
        consent_shown = q.get("prompt") == "consent" or user not in fake.consented
        fake.consented.add(user)
        granted = fake.grant_scopes if fake.grant_scopes is not None else q.get("scope", "")
        code = fake.new_code(
            user=user,
            redirect_uri=q.get("redirect_uri", ""),
            challenge=q.get("code_challenge", ""),
            refresh=offline and consent_shown,
            scope=granted,
        )
        self.redirect(with_query(q["redirect_uri"], {"code": code, "state": q.get("state", ""), "scope": granted}))

    def token(self):
        fake = self.fake
        if "application/x-www-form-urlencoded" not in (self.headers.get("Content-Type") or ""):
            return self.send_json(400, {"error": "invalid_request", "error_description": "form body required"})
        body = self.form_body()
        if body.get("client_id") != fake.client_id or body.get("client_secret") != fake.client_secret:
            return self.send_json(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        grant = body.get("grant_type")
        if grant == "authorization_code":
            data = fake.take_code(body.get("code", ""))
            if not data or data["redirect_uri"] != body.get("redirect_uri"):
                return self.send_json(400, {"error": "invalid_grant", "error_description": "Bad Request"})
            if data["challenge"] and create_s256_code_challenge(body.get("code_verifier", "")) != data["challenge"]:
                return self.send_json(400, {"error": "invalid_grant", "error_description": "Invalid code verifier."})
            access, refresh = fake.issue(
                data["user"], access_prefix="ya29.", refresh_prefix="1//", with_refresh=data["refresh"]
            )
            fake.counters["code_exchanged"] += 1
            out = {
                "access_token": access,
                "expires_in": int(fake.access_ttl or 3599),
                "scope": data["scope"],
                "token_type": "Bearer",
            }
            if refresh:
                out["refresh_token"] = refresh
            return self.send_json(200, out)
        if grant == "refresh_token":
            user = fake.use_refresh(body.get("refresh_token", ""))
            if not user:
                return self.send_json(
                    400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
                )
            access, _ = fake.issue(user, access_prefix="ya29.", with_refresh=False)
            return self.send_json(
                200,
                {
                    "access_token": access,
                    "expires_in": int(fake.access_ttl or 3599),
                    "scope": fake.scope_of(user),
                    "token_type": "Bearer",
                },
            )
        self.send_json(400, {"error": "unsupported_grant_type"})

    def revoke(self):
        token = self.query.get("token") or self.form_body().get("token", "")
        fake = self.fake
        user = (fake.refresh.get(token) or fake.access.get(token) or {}).get("user")
        if not user:
            return self.send_json(400, {"error": "invalid_token", "error_description": "Token expired or revoked"})
        fake.revoke_token(token)
        fake.revoke_user(user)  # revoking either token removes the whole grant
        self.send_json(200, {})

    # --- API -----------------------------------------------------------------------------------
    def _auth(self) -> str | None:
        user = self.fake.user_for(self.bearer())
        if not user:
            self.send_json(401, _gerror(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"))
            return None
        self.fake.counters["api_calls"] += 1
        return user

    def userinfo(self):
        user = self._auth()
        if user:
            self.send_json(
                200, {"sub": f"1{abs(hash(user)) % 10**10}", "email": f"{user}@example.com", "email_verified": True}
            )

    def _page(self, rows: list, key: str = "items"):
        size = max(
            1, min(int(self.query.get("maxResults") or self.query.get("pageSize") or 20), 100, self.fake.page_size)
        )
        token = self.query.get("pageToken") or "0"
        try:
            start = int(token)
        except ValueError:
            return None
        out = {key: rows[start : start + size]}
        if start + size < len(rows):
            out["nextPageToken"] = str(start + size)
        return out

    def tasklists(self):
        if not self._auth():
            return
        rows = [
            {"kind": "tasks#taskList", "id": lid, "title": lst["title"], "updated": lst["updated"]}
            for lid, lst in self.fake.tasklists.items()
        ]
        self.send_json(200, {"kind": "tasks#taskLists", **self._page(rows)})

    def tasks(self, list_id):
        if not self._auth():
            return
        fake, q = self.fake, self.query
        if list_id not in fake.tasklists:
            return self.send_json(404, _gerror(404, "Task list not found.", "NOT_FOUND", "notFound"))
        with fake.lock:
            rows = [t for t in fake.tasks.values() if t["list"] == list_id]
        if q.get("showDeleted") != "true":
            rows = [t for t in rows if not t["deleted"]]
        if q.get("showCompleted", "true") != "true":
            rows = [t for t in rows if t["status"] != "completed"]
        if q.get("showHidden") != "true":
            rows = [t for t in rows if not t["hidden"]]
        if q.get("updatedMin"):
            rows = [t for t in rows if t["updated"] >= q["updatedMin"]]
        rows.sort(key=lambda t: t["position"])
        page = self._page([fake.task_json(t) for t in rows])
        if page is None:
            return self.send_json(400, _gerror(400, "Invalid page token", "INVALID_ARGUMENT", "invalid"))
        fake.counters["task_pages"] += 1
        self.send_json(200, {"kind": "tasks#tasks", **page})

    def task(self, list_id, task_id):
        if not self._auth():
            return
        task = self.fake.tasks.get(task_id)
        if not task or task["list"] != list_id or task.get("purged"):
            return self.send_json(404, _gerror(404, "Task not found.", "NOT_FOUND", "notFound"))
        self.send_json(200, self.fake.task_json(task))

    def file(self, file_id):
        if not self._auth():
            return
        doc = self.fake.docs.get(file_id)
        if not doc:
            return self.send_json(404, _gerror(404, f"File not found: {file_id}.", "NOT_FOUND", "notFound"))
        self.send_json(
            200,
            {
                "id": file_id,
                "name": doc["name"],
                "modifiedTime": doc["modified"],
                "trashed": doc["trashed"],
                "webViewLink": f"https://docs.google.com/document/d/{file_id}/edit",
            },
        )

    def start_token(self):
        if self._auth():
            self.send_json(200, {"kind": "drive#startPageToken", "startPageToken": str(self.fake.change_counter)})

    def watch(self):
        if not self._auth():
            return
        body = self.json_body()
        if body.get("type") != "web_hook" or not body.get("id") or not body.get("address"):
            return self.send_json(400, _gerror(400, "Invalid channel", "INVALID_ARGUMENT", "invalid"))
        resource_id = secrets.token_hex(8)
        with self.fake.lock:
            self.fake.channels[body["id"]] = {**body, "resourceId": resource_id, "messages": 0}
        self.send_json(
            200,
            {
                "kind": "api#channel",
                "id": body["id"],
                "resourceId": resource_id,
                "resourceUri": f"{self.fake.url}/drive/v3/changes",
                "token": body.get("token"),
                "expiration": body.get("expiration"),
            },
        )

    def stop(self):
        if not self._auth():
            return
        body = self.json_body()
        if self.fake.channels.pop(body.get("id", ""), None) is None:
            return self.send_json(404, _gerror(404, "Channel not found", "NOT_FOUND", "notFound"))
        self.send_raw(204, b"", "application/json")

    def document(self, doc_id):
        if not self._auth():
            return
        doc = self.fake.docs.get(doc_id)
        if not doc or doc["trashed"]:
            return self.send_json(404, _gerror(404, "Requested entity was not found.", "NOT_FOUND"))
        self.fake.counters["doc_reads"] += 1
        self.send_json(200, self.fake.document_json(doc_id))


class FakeGoogle(FakeProvider):
    handler = GoogleHandler

    def __init__(self, **kwargs):
        kwargs.setdefault("access_ttl", 3599.0)
        super().__init__(**kwargs)
        self.client_id = "1234-fake.apps.googleusercontent.com"
        self.client_secret = "GOCSPX-fake"
        self.login_as = "ada"
        self.consented: set[str] = set()
        self.grant_scopes: str | None = None
        self.tasklists: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.docs: dict[str, dict] = {}
        self.channels: dict[str, dict] = {}
        self.change_counter = 100
        self._pos = 0

    def settings(self) -> dict:
        u = self.url
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "auth_url": f"{u}/o/oauth2/v2/auth",
            "token_url": f"{u}/token",
            "revoke_url": f"{u}/revoke",
            "userinfo_url": f"{u}/oauth2/v3/userinfo",
            "tasks_base": u,
            "drive_base": u,
            "docs_base": u,
            "page_size": 100,
        }

    def scope_of(self, user: str) -> str:
        return "https://www.googleapis.com/auth/tasks.readonly https://www.googleapis.com/auth/documents.readonly"

    def _stamp(self) -> str:
        return now_iso(self.now())

    def add_tasklist(self, title: str) -> str:
        lid = "MDk" + secrets.token_hex(8)
        with self.lock:
            self.tasklists[lid] = {"title": title, "updated": self._stamp()}
        return lid

    def add_task(self, list_id: str, title: str, *, notes="", due=None, status="needsAction") -> str:
        tid = "dGFz" + secrets.token_hex(8)
        with self.lock:
            self._pos += 1
            self.tasks[tid] = {
                "id": tid,
                "list": list_id,
                "title": title,
                "notes": notes,
                "status": status,
                "due": f"{due}T00:00:00.000Z" if due else None,
                "completed": self._stamp() if status == "completed" else None,
                "updated": self._stamp(),
                "deleted": False,
                "hidden": status == "completed",
                "position": f"{self._pos:020d}",
            }
        return tid

    def edit_task(self, task_id: str, **changes) -> None:
        with self.lock:
            task = self.tasks[task_id]
            if "due" in changes and changes["due"]:
                changes["due"] = f"{changes['due']}T00:00:00.000Z"
            if changes.get("status") == "completed":
                changes.setdefault("completed", self._stamp())
                changes.setdefault("hidden", True)
            task.update(changes)
            task["updated"] = self._stamp()

    def delete_task(self, task_id: str) -> None:
        self.edit_task(task_id, deleted=True)

    def task_json(self, t: dict) -> dict:
        out = {
            "kind": "tasks#task",
            "id": t["id"],
            "etag": f'"{hash(t["updated"]) & 0xFFFFFF}"',
            "title": t["title"],
            "updated": t["updated"],
            "selfLink": f"{self.url}/tasks/v1/lists/{t['list']}/tasks/{t['id']}",
            "position": t["position"],
            "notes": t["notes"],
            "status": t["status"],
            "webViewLink": f"https://tasks.google.com/task/{t['id']}",
        }
        if t["due"]:
            out["due"] = t["due"]
        if t["completed"]:
            out["completed"] = t["completed"]
        if t["deleted"]:
            out["deleted"] = True
        if t["hidden"]:
            out["hidden"] = True
        return out

    def add_doc(self, name: str, items: list[tuple[str, bool]]) -> str:
        doc_id = "1" + secrets.token_hex(12)
        with self.lock:
            self.docs[doc_id] = {"name": name, "modified": self._stamp(), "trashed": False, "items": list(items)}
        return doc_id

    def edit_doc(self, doc_id: str, items: list[tuple[str, bool]]) -> None:
        with self.lock:
            self.docs[doc_id].update(items=list(items), modified=self._stamp())
            self.change_counter += 1

    def document_json(self, doc_id: str) -> dict:
        doc = self.docs[doc_id]
        content = [{"paragraph": {"elements": [{"textRun": {"content": f"{doc['name']}\n", "textStyle": {}}}]}}]
        content.append(
            {
                "paragraph": {
                    "elements": [{"textRun": {"content": "A plain bullet, not a task\n", "textStyle": {}}}],
                    "bullet": {"listId": "kix.bullets", "nestingLevel": 0},
                }
            }
        )
        for text, checked in doc["items"]:
            content.append(
                {
                    "paragraph": {
                        "elements": [{"textRun": {"content": f"{text}\n", "textStyle": {"strikethrough": checked}}}],
                        "bullet": {"listId": "kix.checks", "nestingLevel": 0},
                    }
                }
            )
        return {
            "documentId": doc_id,
            "title": doc["name"],
            "revisionId": uuid.uuid4().hex,
            "body": {"content": content},
            "lists": {
                "kix.bullets": {"listProperties": {"nestingLevels": [{"glyphSymbol": "●", "glyphFormat": "%0"}]}},
                "kix.checks": {
                    "listProperties": {"nestingLevels": [{"glyphType": "GLYPH_TYPE_UNSPECIFIED", "glyphFormat": "%0"}]}
                },
            },
        }

    def rate_limit_response(self, status):
        if status == 403:
            return {}, _gerror(403, "User Rate Limit Exceeded", "PERMISSION_DENIED", "userRateLimitExceeded")
        return {"Retry-After": "1"}, _gerror(429, "Quota exceeded", "RESOURCE_EXHAUSTED", "rateLimitExceeded")

    def notification_headers(self, channel_id: str, *, state: str = "change", token: str | None = None) -> dict:
        channel = self.channels[channel_id]
        with self.lock:
            channel["messages"] += 1
            number = channel["messages"]
        return {
            "X-Goog-Channel-ID": channel_id,
            "X-Goog-Channel-Token": token if token is not None else channel.get("token", ""),
            "X-Goog-Channel-Expiration": "Wed, 02 Dec 2026 00:00:00 GMT",
            "X-Goog-Resource-ID": channel["resourceId"],
            "X-Goog-Resource-URI": f"{self.url}/drive/v3/changes",
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(number),
        }
