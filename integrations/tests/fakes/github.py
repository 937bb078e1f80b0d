"""A fake GitHub (providers.md §3, §6.1): the OAuth web flow with PKCE, a token endpoint that
answers form-encoded unless asked for JSON and reports errors with HTTP 200, optional GitHub-App
expiring tokens with rotating refresh tokens, `GET /issues` with pull requests mixed in, `since`,
`Link` pagination, ETag/304 and `x-ratelimit-*` headers, primary (403 + reset) and secondary
(429 + retry-after) limits, grant revocation, and `X-Hub-Signature-256` webhook deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from integrations.tests.fakes.base import FakeHandler, FakeProvider, now_iso, with_query


class GitHubHandler(FakeHandler):
    routes = [
        ("GET", r"/login/oauth/authorize", "authorize"),
        ("POST", r"/login/oauth/access_token", "token"),
        ("DELETE", r"/applications/([^/]+)/grant", "revoke"),
        ("GET", r"/user", "user"),
        ("GET", r"/issues", "issues"),
        ("GET", r"/repos/([^/]+/[^/]+)/issues/(\d+)", "issue"),
    ]

    def authorize(self):
        fake, q = self.fake, self.query
        if q.get("client_id") != fake.client_id:
            return self.send_text(404, "Not Found")
        if q.get("code_challenge") and q.get("code_challenge_method") != "S256":
            return self.send_text(400, "code_challenge_method must be S256")
        code = fake.new_code(
            user=fake.login_as,
            redirect_uri=q.get("redirect_uri", ""),
            challenge=q.get("code_challenge", ""),
            scope=q.get("scope", ""),
        )
        self.redirect(with_query(q["redirect_uri"], {"code": code, "state": q.get("state", "")}))

    def _reply(self, data: dict):
        if "application/json" in (self.headers.get("Accept") or ""):
            return self.send_json(200, data)
        self.send_text(200, urlencode(data), content_type="application/x-www-form-urlencoded; charset=utf-8")

    def token(self):
        fake = self.fake
        body = self.any_body()
        if body.get("client_id") != fake.client_id or body.get("client_secret") != fake.client_secret:
            return self._reply(
                {
                    "error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or client_secret passed are incorrect.",
                }
            )
        if body.get("grant_type") == "refresh_token":
            user = fake.use_refresh(body.get("refresh_token", ""))
            if not user:
                return self._reply(
                    {
                        "error": "bad_refresh_token",
                        "error_description": "The refresh token passed is incorrect or expired.",
                    }
                )
        else:
            data = fake.take_code(body.get("code", ""))
            if not data:
                return self._reply(
                    {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}
                )
            if body.get("redirect_uri") and body["redirect_uri"] != data["redirect_uri"]:
                return self._reply({"error": "redirect_uri_mismatch"})
            if data["challenge"] and create_s256_code_challenge(body.get("code_verifier", "")) != data["challenge"]:
                return self._reply({"error": "bad_verification_code", "error_description": "PKCE verification failed."})
            user = data["user"]
            fake.counters["code_exchanged"] += 1
        access, refresh = fake.issue(
            user, access_prefix="ghu_" if fake.expiring else "gho_", refresh_prefix="ghr_", with_refresh=fake.expiring
        )
        out = {"access_token": access, "scope": "repo,read:user", "token_type": "bearer"}
        if fake.expiring:
            out.update(expires_in=str(int(fake.access_ttl)), refresh_token=refresh, refresh_token_expires_in="15897600")
        self._reply(out)

    def revoke(self, client_id):
        fake = self.fake
        expected = "Basic " + base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
        if client_id != fake.client_id or self.headers.get("Authorization") != expected:
            return self.send_json(404, {"message": "Not Found"})
        token = self.json_body().get("access_token", "")
        user = fake.user_for(token)
        fake.revoke_token(token)
        if user:
            fake.revoke_user(user)  # deleting the grant kills every token of the user for this app
        self.send_raw(204, b"", "application/json")

    # --- API -----------------------------------------------------------------------------------
    def _rate_headers(self) -> dict:
        fake = self.fake
        fake.counters["api_calls"] += 1
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(max(0, 5000 - fake.counters["api_calls"])),
            "x-ratelimit-used": str(fake.counters["api_calls"]),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }

    def _auth(self) -> str | None:
        user = self.fake.user_for(self.bearer())
        if not user:
            self.send_json(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
            return None
        return user

    def user(self):
        user = self._auth()
        if user:
            self.send_json(200, self.fake.user_json(user), headers=self._rate_headers())

    def issues(self):
        user = self._auth()
        if not user:
            return
        fake, q = self.fake, self.query
        headers = self._rate_headers()
        since = q.get("since")
        with fake.lock:
            rows = [i for i in fake.issues.values() if not i["deleted"] and user in i["assignees"]]
        if q.get("state", "open") == "open":
            rows = [i for i in rows if i["state"] == "open"]
        if since:
            rows = [i for i in rows if i["updated_at"] >= since.replace(".000", "")]
        rows.sort(key=lambda i: (i["updated_at"], i["id"]), reverse=q.get("direction") == "desc")
        per_page = max(1, min(int(q.get("per_page", 30)), 100, fake.page_size))
        page = int(q.get("page", 1))
        chunk = rows[(page - 1) * per_page : page * per_page]
        body = json.dumps([fake.issue_json(i) for i in chunk]).encode()
        etag = '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"'
        headers["ETag"] = etag
        if self.headers.get("If-None-Match") == etag:
            fake.counters["not_modified"] += 1
            return self.send_raw(304, b"", "application/json", headers)
        links = []
        base = f"{fake.url}/issues"
        if page * per_page < len(rows):
            links.append(f'<{base}?{urlencode({**q, "page": page + 1})}>; rel="next"')
            last = (len(rows) + per_page - 1) // per_page
            links.append(f'<{base}?{urlencode({**q, "page": last})}>; rel="last"')
        if links:
            headers["Link"] = ", ".join(links)
        fake.counters["issue_pages"] += 1
        self.send_raw(200, body, "application/json; charset=utf-8", headers)

    def issue(self, repo, number):
        user = self._auth()
        if not user:
            return
        fake = self.fake
        with fake.lock:
            found = [i for i in fake.issues.values() if i["repo"] == repo and i["number"] == int(number)]
        if not found or found[0]["deleted"]:
            return self.send_json(404, {"message": "Not Found"}, headers=self._rate_headers())
        self.send_json(200, fake.issue_json(found[0]), headers=self._rate_headers())


class FakeGitHub(FakeProvider):
    handler = GitHubHandler

    def __init__(self, *, expiring: bool = False, **kwargs):
        kwargs.setdefault("access_ttl", 28800.0 if expiring else None)
        super().__init__(**kwargs)
        self.expiring = expiring
        self.rotate_refresh = expiring
        self.client_id = "Iv1.fakeclient"
        self.client_secret = "gh-secret"
        self.webhook_secret = "gh-webhook-secret"
        self.login_as = "ada"
        self.users = {"ada": 1001, "bob": 1002}
        self.issues: dict[int, dict] = {}
        self._next_id = 5000

    def settings(self) -> dict:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "auth_base": self.url,
            "api_base": self.url,
            "webhook_secret": self.webhook_secret,
            "page_size": 100,
        }

    def user_json(self, login: str) -> dict:
        return {"login": login, "id": self.users[login], "name": login.title(), "type": "User"}

    def _stamp(self) -> str:
        return now_iso(self.now())[:19] + "Z"

    def add_issue(
        self,
        title: str,
        *,
        repo="acme/web",
        assignees=("ada",),
        body="",
        labels=(),
        state="open",
        state_reason=None,
        due_on=None,
        pr=False,
    ) -> int:
        with self.lock:
            self._next_id += 1
            number = sum(1 for i in self.issues.values() if i["repo"] == repo) + 1
            stamp = self._stamp()
            self.issues[self._next_id] = {
                "id": self._next_id,
                "repo": repo,
                "number": number,
                "title": title,
                "body": body,
                "state": state,
                "state_reason": state_reason,
                "labels": list(labels),
                "assignees": list(assignees),
                "due_on": due_on,
                "created_at": stamp,
                "updated_at": stamp,
                "closed_at": stamp if state == "closed" else None,
                "pr": pr,
                "deleted": False,
            }
            return self._next_id

    def edit_issue(self, issue_id: int, **changes) -> None:
        with self.lock:
            issue = self.issues[issue_id]
            issue.update(changes)
            issue["updated_at"] = self._stamp()
            if changes.get("state") == "closed":
                issue["closed_at"] = issue["updated_at"]
                issue.setdefault("state_reason", "completed")

    def delete_issue(self, issue_id: int) -> None:
        with self.lock:
            self.issues[issue_id]["deleted"] = True

    def issue_json(self, i: dict) -> dict:
        out = {
            "id": i["id"],
            "node_id": f"I_kw{i['id']}",
            "number": i["number"],
            "title": i["title"],
            "body": i["body"],
            "state": i["state"],
            "state_reason": i["state_reason"] if i["state"] == "closed" else None,
            "html_url": f"https://github.com/{i['repo']}/{'pull' if i['pr'] else 'issues'}/{i['number']}",
            "url": f"{self.url}/repos/{i['repo']}/issues/{i['number']}",
            "repository_url": f"{self.url}/repos/{i['repo']}",
            "labels": [{"id": abs(hash(n)) % 10**8, "name": n, "color": "d73a4a"} for n in i["labels"]],
            "assignees": [self.user_json(a) for a in i["assignees"]],
            "milestone": {"title": "v2", "due_on": i["due_on"]} if i["due_on"] else None,
            "created_at": i["created_at"],
            "updated_at": i["updated_at"],
            "closed_at": i["closed_at"],
            "repository": {"id": abs(hash(i["repo"])) % 10**6, "full_name": i["repo"]},
        }
        if i["pr"]:
            out["pull_request"] = {"url": f"{self.url}/repos/{i['repo']}/pulls/{i['number']}"}
        return out

    def rate_limit_response(self, status):
        if status == 403:  # primary limit exhausted
            return (
                {
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": str(int(time.time()) + 3),
                },
                {
                    "message": "API rate limit exceeded for user ID 1001.",
                    "documentation_url": "https://docs.github.com/rest/rate-limit",
                },
            )
        return {"retry-after": "2"}, {
            "message": "You have exceeded a secondary rate limit.",
            "documentation_url": "https://docs.github.com/rest",
        }

    def signed_event(
        self, action: str, issue_id: int, *, delivery: str | None = None, secret: str | None = None, event="issues"
    ):
        issue = self.issues[issue_id]
        body = json.dumps(
            {
                "action": action,
                "issue": self.issue_json(issue),
                "repository": {"id": 1, "full_name": issue["repo"]},
                "sender": {"login": "ada", "id": self.users["ada"]},
            }
        ).encode()
        signature = "sha256=" + hmac.new((secret or self.webhook_secret).encode(), body, hashlib.sha256).hexdigest()
        return body, {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
            "User-Agent": "GitHub-Hookshot/fake",
        }
