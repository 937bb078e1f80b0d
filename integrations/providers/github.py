"""GitHub: issues assigned to the user, pull requests excluded (providers.md §3).

OAuth App or GitHub App web flow with PKCE (S256). The token endpoint answers form-encoded unless
asked for JSON and reports errors with HTTP 200, so the body is always checked. GitHub App user
tokens expire after 8 h and their refresh tokens rotate. Listing is `GET /issues?filter=assigned`
with `Link` pagination, `since=` for increments and an ETag so an unchanged feed costs a 304.
Rate limits: `x-ratelimit-remaining: 0` + `x-ratelimit-reset`, or secondary limits with `retry-after`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from integrations.providers import register
from integrations.providers.base import (
    Account,
    AuthError,
    AuthorizeStart,
    InvalidGrant,
    Item,
    NotFound,
    Page,
    Provider,
    ProviderError,
    RateLimited,
    Source,
    TokenSet,
    TransientError,
    WebhookEvent,
    WebhookRejected,
    header,
    iso,
    parse_dt,
    send,
)
from kernel.http import parse_retry_after

WATERMARK_OVERLAP = timedelta(minutes=1)
LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
BAD_GRANT_ERRORS = {"bad_verification_code", "bad_refresh_token", "unauthorized_client", "invalid_grant"}


@register
class GitHubProvider(Provider):
    slug = "github"
    name = "GitHub"
    auth_type = "oauth2"
    supports_pkce = True
    token_connect = True
    credential_fields = ("accessToken",)
    webhook_scheme = "X-Hub-Signature-256: sha256=HMAC-SHA256(secret, body); X-GitHub-Delivery de-duplicates"
    webhook_signs_body = True

    def api(self, path: str) -> str:
        return self.url("api_base", path)

    def api_headers(self, tokens):
        return {
            "Authorization": f"Bearer {tokens.access_token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": self.setting("api_version", "2022-11-28"),
        }

    def classify(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400 or status == 304:
            return
        try:
            message = response.json().get("message", "")
        except (ValueError, AttributeError):
            message = response.text[:200]
        h = response.headers
        if status in (403, 429):
            retry_after = parse_retry_after(h.get("retry-after"))
            if retry_after is not None:
                raise RateLimited(message, retry_after=retry_after, status=status, code="secondary_rate_limit")
            if h.get("x-ratelimit-remaining") == "0":
                reset = float(h.get("x-ratelimit-reset") or 0)
                raise RateLimited(message, retry_after=max(1.0, reset - time.time()), status=status)
            if status == 429:
                raise RateLimited(message, retry_after=60.0, status=status)
            raise ProviderError(message or "forbidden", status=status, code="forbidden")
        if status == 401:
            raise AuthError(message, status=status)
        if status in (404, 410):
            raise NotFound(message, status=status)
        if status >= 500:
            raise TransientError(message, status=status)
        raise ProviderError(message, status=status)

    # --- auth ----------------------------------------------------------------------------------
    def authorize(self, *, state, redirect_uri, code_verifier):
        query = {
            "client_id": self.setting("client_id"),
            "redirect_uri": redirect_uri,
            "scope": self.setting("scope", "repo read:user"),
            "state": state,
            "allow_signup": "false",
        }
        if code_verifier:
            query.update(code_challenge=create_s256_code_challenge(code_verifier), code_challenge_method="S256")
        return AuthorizeStart(url=f"{self.url('auth_base', '/login/oauth/authorize')}?{urlencode(query)}")

    def _token_call(self, form: dict) -> TokenSet:
        response = send(
            "POST",
            self.url("auth_base", "/login/oauth/access_token"),
            classify=self.classify,
            data={"client_id": self.setting("client_id"), "client_secret": self.setting("client_secret"), **form},
            headers={"Accept": "application/json"},
        )
        try:
            data = response.json()
        except ValueError:  # form-encoded despite Accept

            data = dict(parse_qsl(response.text))
        if data.get("error"):  # GitHub reports OAuth errors with HTTP 200
            if data["error"] in BAD_GRANT_ERRORS:
                raise InvalidGrant(data.get("error_description") or data["error"], status=response.status_code)
            raise ProviderError(
                data.get("error_description") or data["error"], status=response.status_code, code=data["error"]
            )
        if not data.get("access_token"):
            raise ProviderError("GitHub returned no access token")
        now = time.time()
        return TokenSet(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token") or "",
            expires_at=now + float(data["expires_in"]) if data.get("expires_in") else None,
            refresh_expires_at=now + float(data["refresh_token_expires_in"])
            if data.get("refresh_token_expires_in")
            else None,
            scope=data.get("scope") or "",
        )

    def exchange_code(self, *, params, redirect_uri, code_verifier, extra):
        form = {"code": params["code"], "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return self._token_call(form)

    def refresh(self, tokens):
        if not tokens.refresh_token:
            raise InvalidGrant("OAuth App tokens do not refresh")
        return self._token_call({"grant_type": "refresh_token", "refresh_token": tokens.refresh_token})

    def revoke(self, tokens):
        if not self.configured:
            return False
        send(
            "DELETE",
            self.api(f"/applications/{self.setting('client_id')}/grant"),
            classify=self.classify,
            auth=(self.setting("client_id"), self.setting("client_secret")),
            json={"access_token": tokens.access_token},
            headers={"Accept": "application/vnd.github+json"},
        )
        return True

    def tokens_from_credentials(self, credentials):
        token = (credentials.get("access_token") or credentials.get("api_key") or "").strip()
        if not token:
            raise ProviderError("accessToken is required", code="credentials")
        return TokenSet(access_token=token)

    def identify(self, client):
        me = client.get_json(self.api("/user"))
        return Account(id=str(me.get("id", "")), name=me.get("login", ""), extra={"name": me.get("name") or ""})

    # --- data ----------------------------------------------------------------------------------
    def list_sources(self, client, filters):
        return [Source(id="assigned", name="Issues assigned to me", kind="assigned_issues")]

    def iter_pages(self, client, source, *, cursor, resume, full):
        since = None if full else cursor.get("watermark")
        if resume:
            url, etag = resume, None
        else:
            query = {
                "filter": "assigned",
                "state": "all",
                # Newest first: an issue changed since the last sync is at the top of page 1, so
                # the first page's ETag proves the whole listing unchanged (oldest first, the
                # already-seen issues of the watermark overlap could fill page 1 unchanged while
                # a new one waited on page 2, and the 304 skipped it for good), and an issue
                # updated while the pages are walked pushes the rest back (read twice) instead
                # of pulling one forward onto a page already read (never read).
                "sort": "updated",
                "direction": "desc",
                "per_page": min(self.page_size, 100),
            }
            if since:
                query["since"] = (parse_dt(since) - WATERMARK_OVERLAP).strftime("%Y-%m-%dT%H:%M:%SZ")
            url, etag = f"{self.api('/issues')}?{urlencode(query)}", cursor.get("etag") if since else None
        first = not resume
        while True:
            headers = {"If-None-Match": etag} if (first and etag) else {}
            response = client.request("GET", url, headers=headers)
            if response.status_code == 304:
                yield Page(items=[], skipped=True, watermark=None, extra={"etag": etag})
                return
            items, watermark = [], None
            for issue in response.json():
                if "pull_request" in issue:
                    continue
                items.append(self._item(issue))
                watermark = self.merge_watermark(watermark, items[-1].updated_at)
            match = LINK_NEXT.search(response.headers.get("Link", ""))
            next_url = match.group(1) if match else None
            extra = {"etag": response.headers.get("ETag", "")} if first else {}
            yield Page(items=items, resume=next_url, watermark=watermark, complete_listing=not since, extra=extra)
            if not next_url:
                return
            url, first = next_url, False

    def fetch_item(self, client, ref):
        repo, _, number = ref.rpartition("#")
        try:
            issue = client.get_json(self.api(f"/repos/{repo}/issues/{number}"))
        except NotFound:
            return None
        if "pull_request" in issue:
            return None
        item = self._item(issue)
        assignees = {str(a.get("id")) for a in issue.get("assignees") or []}
        if client.account_id and client.account_id not in assignees:
            item.status = "deleted"  # no longer assigned to this user: gone from their feed
        return item

    def _item(self, issue: dict) -> Item:
        repo = (issue.get("repository") or {}).get("full_name") or _repo_from_url(issue.get("repository_url", ""))
        state, reason = issue.get("state"), issue.get("state_reason")
        if state == "closed":
            status = "cancelled" if reason in ("not_planned", "duplicate") else "completed"
        else:
            status = "open"
        milestone = issue.get("milestone") or {}
        updated = parse_dt(issue.get("updated_at"))
        return Item(
            external_id=str(issue["id"]),
            source_id="assigned",
            ref=f"{repo}#{issue.get('number')}",
            title=(issue.get("title") or "Untitled")[:200],
            description=(issue.get("body") or "")[:2000],
            status=status,
            due_at=parse_dt(milestone.get("due_on")),
            tags=[
                label["name"][:50]
                for label in issue.get("labels") or []
                if isinstance(label, dict) and label.get("name")
            ],
            url=issue.get("html_url", ""),
            updated_at=iso(updated) if updated else "",
            completed_at=parse_dt(issue.get("closed_at")) if status == "completed" else None,
            container=repo,
        )

    # --- webhooks ------------------------------------------------------------------------------
    def verify_webhook(self, *, method, headers, body, callback_url, secret):
        if method == "HEAD":
            return WebhookEvent(delivery_id="", kind="ping")
        if not secret:
            raise WebhookRejected("no webhook secret configured")
        signature = header(headers, "X-Hub-Signature-256")
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature, expected):
            raise WebhookRejected("bad X-Hub-Signature-256")
        delivery = header(headers, "X-GitHub-Delivery")
        event = header(headers, "X-GitHub-Event")
        try:
            payload = json.loads(body or b"{}")
        except ValueError as exc:
            raise WebhookRejected("body is not JSON") from exc
        if event != "issues" or not isinstance(payload, dict) or "issue" not in payload:
            return WebhookEvent(delivery_id=delivery, kind="ping")
        issue = payload["issue"]
        if "pull_request" in issue:
            return WebhookEvent(delivery_id=delivery, kind="ping")
        account_ids = {str(a.get("id")) for a in issue.get("assignees") or [] if a.get("id") is not None}
        if (payload.get("assignee") or {}).get("id") is not None:
            account_ids.add(str(payload["assignee"]["id"]))
        repo = (payload.get("repository") or {}).get("full_name") or _repo_from_url(issue.get("repository_url", ""))
        return WebhookEvent(
            delivery_id=delivery,
            routing={"account_ids": sorted(account_ids)},
            refs=[f"{repo}#{issue.get('number')}"],
        )


def _repo_from_url(url: str) -> str:
    match = re.search(r"/repos/([^/]+/[^/]+)", url or "")
    return match.group(1) if match else ""
