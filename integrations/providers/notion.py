"""Notion: pages of the data sources the user shared with the integration (providers.md §1).

OAuth 2.0 without scopes or PKCE; the token call is HTTP Basic + a JSON body; refresh rotates both
tokens. Every API call carries `Notion-Version`. Rows come from `POST /v1/data_sources/{id}/query`
with a `last_edited_time` filter (minute-granular, so the watermark overlaps by two minutes).
Webhooks: a verification-token handshake, then `X-Notion-Signature: sha256=<hmac(body)>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import requests

from integrations.providers import register
from integrations.providers.base import (
    Account,
    ApiClient,
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
    parse_date_or_dt,
    parse_dt,
    send,
)
from kernel.http import parse_retry_after

WATERMARK_OVERLAP = timedelta(minutes=2)
DONE_GROUPS = {"complete", "completed", "done"}
PROGRESS_GROUPS = {"in progress", "in-progress", "doing"}


@register
class NotionProvider(Provider):
    slug = "notion"
    name = "Notion"
    auth_type = "oauth2"
    supports_pkce = False
    token_connect = True
    credential_fields = ("accessToken",)
    webhook_scheme = "X-Notion-Signature: sha256=HMAC-SHA256(verification_token, body); verification handshake"
    webhook_signs_body = True
    webhook_handshake = True

    # --- HTTP ----------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return self.setting("notion_version", "2026-03-11")

    def api(self, path: str) -> str:
        return self.url("api_base", path)

    def api_headers(self, tokens: TokenSet) -> dict:
        return {
            "Authorization": f"Bearer {tokens.access_token}",
            "Notion-Version": self.version,
            "Accept": "application/json",
        }

    def classify(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = body.get("code") or body.get("error") or ""
        message = body.get("message") or body.get("error_description") or response.text[:200]
        if status in (429, 529) or code in ("rate_limited", "service_overload"):
            raise RateLimited(
                message,
                retry_after=parse_retry_after(response.headers.get("Retry-After")) or 1.0,
                status=status,
                code=code,
            )
        if status == 401 or code == "unauthorized":
            raise AuthError(message, status=status, code=code or None)
        if code == "invalid_grant":
            raise InvalidGrant(message, status=status)
        if status == 404 or code == "object_not_found":
            raise NotFound(message, status=status)
        if status >= 500:
            raise TransientError(message, status=status, code=code or None)
        raise ProviderError(message, status=status, code=code or None)

    # --- auth ----------------------------------------------------------------------------------
    def authorize(self, *, state, redirect_uri, code_verifier):
        query = urlencode(
            {
                "client_id": self.setting("client_id"),
                "response_type": "code",
                "owner": "user",
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return AuthorizeStart(url=f"{self.url('auth_base', '/v1/oauth/authorize')}?{query}")

    def _token_call(self, body: dict) -> dict:
        response = send(
            "POST",
            self.api("/v1/oauth/token"),
            classify=self.classify,
            auth=(self.setting("client_id"), self.setting("client_secret")),
            json=body,
            headers={"Content-Type": "application/json", "Accept": "application/json", "Notion-Version": self.version},
        )
        return response.json()

    def _tokens(self, data: dict) -> TokenSet:
        if not data.get("access_token"):
            raise ProviderError("Notion returned no access token")
        owner = (data.get("owner") or {}).get("user") or {}
        expires_in = data.get("expires_in")
        return TokenSet(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token") or "",
            expires_at=time.time() + float(expires_in) if expires_in else None,
            account=Account(
                id=data.get("bot_id") or "",
                name=data.get("workspace_name") or "",
                workspace_id=data.get("workspace_id") or "",
                extra={"owner_id": owner.get("id", ""), "owner_name": owner.get("name", "")},
            ),
        )

    def exchange_code(self, *, params, redirect_uri, code_verifier, extra):
        try:
            data = self._token_call(
                {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": redirect_uri}
            )
        except ProviderError as exc:
            if exc.status == 400:
                raise InvalidGrant(str(exc), status=400) from exc
            raise
        return self._tokens(data)

    def refresh(self, tokens):
        if not tokens.refresh_token:
            raise InvalidGrant("no refresh token")
        try:
            data = self._token_call({"grant_type": "refresh_token", "refresh_token": tokens.refresh_token})
        except (AuthError, ProviderError) as exc:
            if isinstance(exc, (RateLimited, TransientError)):
                raise
            raise InvalidGrant(str(exc), status=exc.status) from exc
        new = self._tokens(data)
        if not new.account.id and tokens.account:
            new.account = tokens.account
        return new

    def revoke(self, tokens):
        send(
            "POST",
            self.api("/v1/oauth/revoke"),
            classify=self.classify,
            auth=(self.setting("client_id"), self.setting("client_secret")),
            json={"token": tokens.access_token},
            headers={"Notion-Version": self.version},
        )
        return True

    def tokens_from_credentials(self, credentials):
        token = (credentials.get("access_token") or credentials.get("api_key") or "").strip()
        if not token:
            raise ProviderError("accessToken is required", code="credentials")
        return TokenSet(access_token=token)

    def identify(self, client: ApiClient) -> Account:
        me = client.get_json(self.api("/v1/users/me"))
        bot = me.get("bot") or {}
        return Account(
            id=me.get("id", ""),
            name=bot.get("workspace_name") or me.get("name") or "",
            workspace_id=bot.get("workspace_id", ""),
        )

    # --- data ----------------------------------------------------------------------------------
    def list_sources(self, client, filters):
        wanted = set(filters.get("projects") or [])
        sources, cursor = [], None
        while True:
            body = {"filter": {"property": "object", "value": "data_source"}, "page_size": min(self.page_size, 100)}
            if cursor:
                body["start_cursor"] = cursor
            data = client.request("POST", self.api("/v1/search"), json=body).json()
            for ds in data.get("results", []):
                if ds.get("object") != "data_source" or ds.get("in_trash"):
                    continue
                if wanted and ds["id"] not in wanted:
                    continue
                title = "".join(t.get("plain_text", "") for t in ds.get("title") or []) or "Untitled"
                sources.append(Source(id=ds["id"], name=title, kind="data_source", url=ds.get("url", "")))
            if not data.get("has_more"):
                return sources
            cursor = data.get("next_cursor")

    def _schema(self, client: ApiClient, data_source_id: str) -> dict:
        cache = client.__dict__.setdefault("_notion_schemas", {})
        if data_source_id not in cache:
            ds = client.get_json(self.api(f"/v1/data_sources/{data_source_id}"))
            cache[data_source_id] = _Schema(ds.get("properties") or {})
        return cache[data_source_id]

    def iter_pages(self, client, source, *, cursor, resume, full):
        schema = self._schema(client, source.id)
        since = None if full else cursor.get("watermark")
        next_cursor = resume
        while True:
            body = {
                "sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}],
                "page_size": min(self.page_size, 100),
            }
            if since:
                start = parse_dt(since) - WATERMARK_OVERLAP
                body["filter"] = {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": iso(start)}}
            if next_cursor:
                body["start_cursor"] = next_cursor
            data = client.request("POST", self.api(f"/v1/data_sources/{source.id}/query"), json=body).json()
            items, watermark = [], None
            for page in data.get("results", []):
                if page.get("object") != "page":
                    continue
                items.append(self._item(page, schema, source.id))
                watermark = self.merge_watermark(watermark, _norm(page.get("last_edited_time")))
            next_cursor = data.get("next_cursor") if data.get("has_more") else None
            yield Page(items=items, resume=next_cursor, watermark=watermark, complete_listing=not since)
            if not next_cursor:
                return

    def fetch_item(self, client, ref):
        try:
            page = client.get_json(self.api(f"/v1/pages/{ref}"))
        except NotFound:
            return None
        parent = page.get("parent") or {}
        ds_id = parent.get("data_source_id") or ""
        schema = self._schema(client, ds_id) if ds_id else _Schema({})
        return self._item(page, schema, ds_id)

    def _item(self, page: dict, schema: _Schema, source_id: str) -> Item:
        props = page.get("properties") or {}
        due_at, due_date = parse_date_or_dt(schema.date(props))
        status = schema.status(props)
        if page.get("in_trash") or page.get("archived"):
            status = "deleted"
        return Item(
            external_id=page["id"],
            source_id=source_id,
            ref=page["id"],
            title=(schema.title(props) or "Untitled")[:200],
            description=(schema.description(props) or "")[:2000],
            status=status,
            due_at=due_at,
            due_date=due_date,
            tags=schema.tags(props),
            url=page.get("url", ""),
            updated_at=_norm(page.get("last_edited_time")) or "",
            completed_at=parse_dt(page.get("last_edited_time")) if status == "completed" else None,
        )

    # --- webhooks ------------------------------------------------------------------------------
    def webhook_secret(self) -> str:
        return self.setting("webhook_verification_token", "")

    def verify_webhook(self, *, method, headers, body, callback_url, secret):
        if method == "HEAD":
            return WebhookEvent(delivery_id="", kind="ping")
        try:
            payload = json.loads(body or b"{}")
        except ValueError as exc:
            raise WebhookRejected("body is not JSON") from exc
        if not isinstance(payload, dict):
            raise WebhookRejected("body is not an object")
        if set(payload) == {"verification_token"}:
            # Notion's subscription handshake: the token is then the HMAC key.
            return WebhookEvent(
                delivery_id="", kind="handshake", routing={"verification_token": str(payload["verification_token"])}
            )
        signature = header(headers, "X-Notion-Signature")
        if not secret:
            raise WebhookRejected("no verification token configured")
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature, expected):
            raise WebhookRejected("bad X-Notion-Signature")
        entity = payload.get("entity") or {}
        bots = [a.get("id") for a in payload.get("accessible_by") or [] if a.get("type") == "bot" and a.get("id")]
        refs = [entity["id"]] if entity.get("type") == "page" and entity.get("id") else []
        return WebhookEvent(
            delivery_id=str(payload.get("id") or ""),
            routing={"account_ids": bots, "workspace_id": payload.get("workspace_id") or ""},
            refs=refs,
        )


def _norm(value: str | None) -> str | None:
    dt = parse_dt(value)
    return iso(dt) if dt else None


class _Schema:
    """Which user-named property means title / status / due / tags / description."""

    def __init__(self, properties: dict):
        self.props = properties
        self.title_name = self._find("title")
        self.date_name = self._find("date", prefer=("due", "due date", "deadline", "date"))
        self.tags_name = self._find("multi_select", prefer=("tags", "labels"))
        self.desc_name = self._find("rich_text", prefer=("description", "notes", "details"))
        self.status_name = self._find("status", prefer=("status",))
        self.check_name = self._find("checkbox", prefer=("done", "done?", "completed", "complete"))
        self.groups: dict[str, str] = {}
        if self.status_name:
            spec = properties[self.status_name].get("status") or {}
            names = {o.get("id"): o.get("name") for o in spec.get("options") or []}
            for group in spec.get("groups") or []:
                for option_id in group.get("option_ids") or []:
                    if option_id in names:
                        self.groups[names[option_id]] = (group.get("name") or "").lower()

    def _find(self, kind: str, prefer: tuple = ()) -> str | None:
        names = [n for n, p in self.props.items() if p.get("type") == kind]
        for wanted in prefer:
            for n in names:
                if n.lower() == wanted:
                    return n
        return names[0] if names else None

    def _value(self, props: dict, name: str | None, kind: str):
        if not name or name not in props:
            # rows carry every property; fall back to a type match (schema unknown, e.g. single fetch)
            for prop in props.values():
                if prop.get("type") == kind:
                    return prop.get(kind)
            return None
        return props[name].get(kind)

    def title(self, props) -> str:
        return "".join(t.get("plain_text", "") for t in self._value(props, self.title_name, "title") or []).strip()

    def description(self, props) -> str:
        if not self.desc_name:
            return ""
        return "".join(t.get("plain_text", "") for t in self._value(props, self.desc_name, "rich_text") or []).strip()

    def date(self, props) -> str | None:
        value = self._value(props, self.date_name, "date") if self.date_name or not self.props else None
        return (value or {}).get("start") if isinstance(value, dict) else None

    def tags(self, props) -> list[str]:
        if not self.tags_name:
            return []
        return [
            t.get("name", "")[:50] for t in self._value(props, self.tags_name, "multi_select") or [] if t.get("name")
        ]

    def status(self, props) -> str:
        value = self._value(props, self.status_name, "status") if (self.status_name or not self.props) else None
        if isinstance(value, dict) and value.get("name"):
            group = self.groups.get(value["name"], "")
            name = value["name"].lower()
            if group in DONE_GROUPS or (not group and name in DONE_GROUPS):
                return "completed"
            if group in PROGRESS_GROUPS or (not group and name in PROGRESS_GROUPS):
                return "in_progress"
            return "open"
        if self.check_name and self._value(props, self.check_name, "checkbox"):
            return "completed"
        return "open"
