"""Google: Google Tasks lists, and open checklist items of the Google Docs the user chose
(providers.md §4).

OAuth 2.0 web-server flow with PKCE, form-encoded token calls, `access_type=offline` +
`prompt=consent` so a refresh token is always issued; refresh tokens are not rotated. Tasks are
read with `updatedMin` + `showDeleted/showCompleted/showHidden` (tombstones included) and `due` is
a date, never an instant. Docs have no change stamp of their own: Drive's `modifiedTime` says
whether a document must be re-read. Push: Drive `changes.watch` channels, whose notifications
carry no signature, only the channel token we registered (an HMAC of the channel id here).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets
import time
from datetime import date, timedelta
from urllib.parse import urlencode

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings

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
RATE_REASONS = {"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded", "RATE_LIMIT_EXCEEDED"}
# drive.file (non-sensitive): only the files the user picked, enough for modifiedTime and changes.watch.
DEFAULT_SCOPES = (
    "openid email https://www.googleapis.com/auth/tasks.readonly "
    "https://www.googleapis.com/auth/documents.readonly https://www.googleapis.com/auth/drive.file"
)


@register
class GoogleDocsProvider(Provider):
    slug = "google_docs"
    name = "Google Docs & Tasks"
    auth_type = "oauth2"
    supports_pkce = True
    token_connect = False
    webhook_scheme = "Drive changes.watch channel notifications: X-Goog-Channel-Token checked"

    def classify(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400 or status == 304:
            return
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = body.get("error")
        if isinstance(error, dict):
            reasons = {e.get("reason") for e in error.get("errors") or []} | {error.get("status")}
            message = error.get("message", "")
        else:
            reasons = {error} if error else set()
            message = body.get("error_description") or str(error or response.text[:200])
        if status == 429 or (status == 403 and reasons & RATE_REASONS):
            named = parse_retry_after(response.headers.get("Retry-After"))
            # Google names no wait: "backoff" asks the caller for truncated exponential backoff.
            raise RateLimited(
                message,
                retry_after=named if named is not None else 1.0,
                status=status,
                code="rate_limited" if named is not None else "backoff",
            )
        if "invalid_grant" in reasons:
            raise InvalidGrant(message, status=status)
        if status == 401:
            raise AuthError(message, status=status)
        if status in (404, 410):
            raise NotFound(message, status=status)
        if status >= 500:
            raise TransientError(message, status=status)
        raise ProviderError(
            message, status=status, code=next(iter(reasons - {None}), None) if reasons - {None} else None
        )

    # --- auth ----------------------------------------------------------------------------------
    def authorize(self, *, state, redirect_uri, code_verifier):
        query = {
            "client_id": self.setting("client_id"),
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": self.setting("scope", DEFAULT_SCOPES),
            "access_type": "offline",
            "prompt": "consent",  # without it a returning user gets no refresh token
            "include_granted_scopes": "true",
            "state": state,
        }
        if code_verifier:
            query.update(code_challenge=create_s256_code_challenge(code_verifier), code_challenge_method="S256")
        return AuthorizeStart(url=f"{self.setting('auth_url')}?{urlencode(query)}")

    def _token_call(self, form: dict) -> dict:
        response = send(
            "POST",
            self.setting("token_url"),
            classify=self.classify,
            data={"client_id": self.setting("client_id"), "client_secret": self.setting("client_secret"), **form},
            headers={"Accept": "application/json"},
        )
        return response.json()

    def exchange_code(self, *, params, redirect_uri, code_verifier, extra):
        form = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        try:
            data = self._token_call(form)
        except ProviderError as exc:
            if exc.status == 400 and not isinstance(exc, InvalidGrant):
                raise InvalidGrant(str(exc), status=400) from exc
            raise
        granted = set((data.get("scope") or "").split())
        if not granted & {s for s in self.setting("scope", DEFAULT_SCOPES).split() if "tasks" in s or "documents" in s}:
            raise ProviderError("neither Google Tasks nor Google Docs access was granted", code="scope_denied")
        return self._tokens(data)

    def _tokens(self, data: dict, previous: TokenSet | None = None) -> TokenSet:
        if not data.get("access_token"):
            raise ProviderError("Google returned no access token")
        return TokenSet(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token") or (previous.refresh_token if previous else ""),
            expires_at=time.time() + float(data.get("expires_in") or 3599),
            scope=data.get("scope") or (previous.scope if previous else ""),
            account=previous.account if previous else None,
        )

    def refresh(self, tokens):
        if not tokens.refresh_token:
            raise InvalidGrant("no refresh token")
        try:
            data = self._token_call({"grant_type": "refresh_token", "refresh_token": tokens.refresh_token})
        except ProviderError as exc:
            if isinstance(exc, (RateLimited, TransientError)):
                raise
            raise InvalidGrant(str(exc), status=exc.status) from exc
        return self._tokens(data, previous=tokens)

    def revoke(self, tokens):
        send(
            "POST",
            self.setting("revoke_url"),
            classify=self.classify,
            data={"token": tokens.refresh_token or tokens.access_token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return True

    def identify(self, client):
        info = client.get_json(self.setting("userinfo_url"))
        return Account(id=str(info.get("sub", "")), name=info.get("email") or info.get("name") or "")

    # --- data ----------------------------------------------------------------------------------
    def tasks_url(self, path: str) -> str:
        return self.url("tasks_base", "/tasks/v1" + path)

    def list_sources(self, client, filters):
        wanted = set(filters.get("projects") or [])
        sources, token = [], None
        while True:
            params = {"maxResults": 100}
            if token:
                params["pageToken"] = token
            data = client.get_json(self.tasks_url("/users/@me/lists"), params=params)
            for lst in data.get("items") or []:
                if not wanted or lst["id"] in wanted:
                    sources.append(
                        Source(
                            id=lst["id"],
                            name=lst.get("title", ""),
                            kind="tasklist",
                            updated_at=_norm(lst.get("updated")),
                        )
                    )
            token = data.get("nextPageToken")
            if not token:
                break
        for doc_id in filters.get("documents") or []:
            try:
                meta = client.get_json(
                    self.url("drive_base", f"/drive/v3/files/{doc_id}"),
                    params={"fields": "id,name,modifiedTime,webViewLink,trashed"},
                )
            except NotFound:
                continue
            if meta.get("trashed"):
                continue
            sources.append(
                Source(
                    id=meta["id"],
                    name=meta.get("name", ""),
                    kind="document",
                    url=meta.get("webViewLink", ""),
                    updated_at=_norm(meta.get("modifiedTime")),
                )
            )
        return sources

    def iter_pages(self, client, source, *, cursor, resume, full):
        if source.kind == "document":
            yield from self._doc_pages(client, source, cursor=cursor, full=full)
            return
        since = None if full else cursor.get("watermark")
        token = resume
        while True:
            params = {
                "showCompleted": "true",
                "showHidden": "true",
                "showDeleted": "true",
                "maxResults": min(self.page_size, 100),
            }
            if since:
                params["updatedMin"] = iso(parse_dt(since) - WATERMARK_OVERLAP)
            if token:
                params["pageToken"] = token
            data = client.get_json(self.tasks_url(f"/lists/{source.id}/tasks"), params=params)
            items, watermark = [], None
            for task in data.get("items") or []:
                items.append(self._task_item(task, source.id))
                watermark = self.merge_watermark(watermark, items[-1].updated_at)
            token = data.get("nextPageToken")
            yield Page(items=items, resume=token, watermark=watermark, complete_listing=not since)
            if not token:
                return

    def _task_item(self, task: dict, list_id: str) -> Item:
        if task.get("deleted"):
            status = "deleted"
        elif task.get("status") == "completed":
            status = "completed"
        else:
            status = "open"
        due = task.get("due")
        due_date = None
        if due:
            try:
                due_date = date.fromisoformat(due[:10])  # a date: the time part is always 00:00Z
            except ValueError:
                due_date = None
        return Item(
            external_id=task["id"],
            source_id=list_id,
            ref=f"tasks:{list_id}:{task['id']}",
            title=(task.get("title") or "Untitled")[:200],
            description=(task.get("notes") or "")[:2000],
            status=status,
            due_date=due_date,
            url=task.get("webViewLink") or "",
            updated_at=_norm(task.get("updated")),
            completed_at=parse_dt(task.get("completed")) if status == "completed" else None,
            container=list_id,
        )

    def _doc_pages(self, client, source: Source, *, cursor: dict, full: bool):
        if not full and cursor.get("watermark") and source.updated_at and source.updated_at <= cursor["watermark"]:
            yield Page(items=[], skipped=True, watermark=cursor["watermark"])
            return
        doc = client.get_json(self.url("docs_base", f"/v1/documents/{source.id}"))
        items = self._checklist_items(doc, source)
        yield Page(items=items, resume=None, watermark=source.updated_at or None, complete_listing=True)

    def _checklist_items(self, doc: dict, source: Source) -> list[Item]:
        lists = doc.get("lists") or {}
        items, seen = [], set()
        url = source.url or f"https://docs.google.com/document/d/{doc.get('documentId', source.id)}/edit"
        for element in (doc.get("body") or {}).get("content") or []:
            paragraph = element.get("paragraph")
            if not paragraph or not paragraph.get("bullet"):
                continue
            bullet = paragraph["bullet"]
            levels = ((lists.get(bullet.get("listId")) or {}).get("listProperties") or {}).get("nestingLevels") or []
            level = levels[min(bullet.get("nestingLevel", 0), len(levels) - 1)] if levels else {}
            if not _is_checkbox(level):
                continue
            runs = [e.get("textRun") for e in paragraph.get("elements") or [] if e.get("textRun")]
            text = "".join(r.get("content", "") for r in runs).strip()
            if not text:
                continue
            checked = all((r.get("textStyle") or {}).get("strikethrough") for r in runs if r.get("content", "").strip())
            key = hashlib.sha1(f"{bullet.get('listId')}|{text}".encode(), usedforsecurity=False).hexdigest()[:16]
            if key in seen:
                continue
            seen.add(key)
            items.append(
                Item(
                    external_id=f"{source.id}:{key}",
                    source_id=source.id,
                    ref=f"doc:{source.id}:{key}",
                    title=text[:200],
                    description=f"From the Google Doc “{source.name}”"[:2000],
                    status="completed" if checked else "open",
                    url=url,
                    updated_at=source.updated_at,
                    container=source.id,
                )
            )
        return items

    def fetch_item(self, client, ref):
        kind, container, item_id = ref.split(":", 2)
        if kind == "tasks":
            try:
                task = client.get_json(self.tasks_url(f"/lists/{container}/tasks/{item_id}"))
            except NotFound:
                return None
            return self._task_item(task, container)
        try:
            meta = client.get_json(
                self.url("drive_base", f"/drive/v3/files/{container}"),
                params={"fields": "id,name,modifiedTime,webViewLink,trashed"},
            )
            doc = client.get_json(self.url("docs_base", f"/v1/documents/{container}"))
        except NotFound:
            return None
        source = Source(
            id=container,
            name=meta.get("name", ""),
            kind="document",
            url=meta.get("webViewLink", ""),
            updated_at=_norm(meta.get("modifiedTime")),
        )
        for item in self._checklist_items(doc, source):
            if item.external_id == f"{container}:{item_id}":
                return item
        return None

    # --- push (Drive changes channels) ---------------------------------------------------------
    def webhook_secret(self) -> str:
        return self.setting("webhook_secret", "") or settings.SECRET_KEY

    @staticmethod
    def channel_token(secret: str, channel_id: str) -> str:
        return hmac.new(secret.encode(), channel_id.encode(), hashlib.sha256).hexdigest()

    def verify_webhook(self, *, method, headers, body, callback_url, secret):
        channel_id = header(headers, "X-Goog-Channel-ID")
        token = header(headers, "X-Goog-Channel-Token")
        if not channel_id or not token:
            raise WebhookRejected("missing X-Goog-Channel headers")
        if not hmac.compare_digest(token, self.channel_token(secret, channel_id)):
            raise WebhookRejected("bad X-Goog-Channel-Token")
        state = header(headers, "X-Goog-Resource-State")
        number = header(headers, "X-Goog-Message-Number")
        return WebhookEvent(
            delivery_id=f"{channel_id}:{number}",
            kind="ping" if state == "sync" else "change",
            routing={"channel_id": channel_id, "resource_id": header(headers, "X-Goog-Resource-ID")},
        )

    def register_webhooks(self, client, *, connection_id, sources, callback_url, secret):
        start = client.get_json(self.url("drive_base", "/drive/v3/changes/startPageToken")).get("startPageToken")
        channel_id = f"dpr-{connection_id}-{_secrets.token_hex(6)}"
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": callback_url,
            "token": self.channel_token(secret, channel_id),
            "expiration": int((time.time() + 6 * 86400) * 1000),
        }
        channel = client.request(
            "POST", self.url("drive_base", "/drive/v3/changes/watch"), params={"pageToken": start}, json=body
        ).json()
        return [
            {
                "channel_id": channel_id,
                "resource_id": channel.get("resourceId", ""),
                "expiration": channel.get("expiration"),
            }
        ]

    def unregister_webhooks(self, client, hooks):
        for hook in hooks:
            if hook.get("channel_id"):
                try:
                    client.request(
                        "POST",
                        self.url("drive_base", "/drive/v3/channels/stop"),
                        json={"id": hook["channel_id"], "resourceId": hook.get("resource_id", "")},
                    )
                except NotFound:
                    pass


def _is_checkbox(level: dict) -> bool:
    """Docs checklists (the BULLET_CHECKBOX preset) have no glyph symbol and no numbered glyph
    type; bulleted lists carry a `glyphSymbol`, numbered lists a `glyphType` like DECIMAL."""
    if not level:
        return False
    if level.get("glyphSymbol"):
        return False
    return level.get("glyphType") in (None, "", "GLYPH_TYPE_UNSPECIFIED")


def _norm(value: str | None) -> str:
    dt = parse_dt(value)
    return iso(dt) if dt else ""
