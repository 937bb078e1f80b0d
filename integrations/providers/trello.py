"""Trello: cards of the user's boards (providers.md §2).

Auth is OAuth 1.0a (HMAC-SHA1, signed by Authlib) or a user token pasted through
`POST /api/integrations/connect`; there are no refresh tokens. Every call carries the API key and
the token in an `Authorization: OAuth` header (not the query, so tokens stay out of access logs).
Cards have no updated-since filter: a board whose `dateLastActivity` has not moved is skipped,
a changed board is read whole (`filter=all`) and deletions show up as set difference.
Webhooks: Trello checks the callback with HEAD, then signs deliveries with
base64(HMAC-SHA1(app secret, body + callbackURL)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlencode

import requests
from authlib.oauth1 import ClientAuth

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

CARD_FIELDS = "id,name,desc,due,dueComplete,closed,idList,idBoard,labels,url,shortUrl,dateLastActivity"
DONE_LISTS = {"done", "complete", "completed", "finished", "shipped"}
DOING_LISTS = {"doing", "in progress", "in-progress", "wip"}
TRELLO_WINDOW_SECONDS = 10.0


@register
class TrelloProvider(Provider):
    slug = "trello"
    name = "Trello"
    auth_type = "oauth1"
    supports_pkce = False
    supports_refresh = False
    token_connect = True
    credential_fields = ("token",)
    webhook_scheme = "X-Trello-Webhook: base64(HMAC-SHA1(app secret, body + callbackURL)); HEAD check"
    webhook_signs_body = True

    @property
    def api_key(self) -> str:
        return self.setting("client_id", "")

    @property
    def configured(self) -> bool:
        return bool(self.api_key and self.setting("client_secret"))

    def api(self, path: str) -> str:
        return self.url("api_base", path)

    def api_headers(self, tokens):
        return {
            "Authorization": f'OAuth oauth_consumer_key="{self.api_key}", oauth_token="{tokens.access_token}"',
            "Accept": "application/json",
        }

    def classify(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        text = response.text[:200]
        if status == 429:
            code = ""
            try:
                code = response.json().get("error", "")
            except (ValueError, AttributeError):
                pass
            # Trello names no Retry-After: wait out the 10-second window it reports (or the default).
            interval = response.headers.get("x-rate-limit-api-token-interval-ms") or response.headers.get(
                "x-rate-limit-api-key-interval-ms"
            )
            wait = float(interval) / 1000.0 if interval else TRELLO_WINDOW_SECONDS
            raise RateLimited(text, retry_after=wait, status=429, code=code or "rate_limited")
        if status == 401:
            raise AuthError(text, status=status)
        if status in (404, 410):
            raise NotFound(text, status=status)
        if status >= 500:
            raise TransientError(text, status=status)
        raise ProviderError(text, status=status)

    # --- OAuth 1.0a ----------------------------------------------------------------------------
    def _oauth1(
        self, method: str, url: str, *, token: str = "", token_secret: str = "", verifier: str = "", callback: str = ""
    ):
        auth = ClientAuth(
            self.api_key,
            client_secret=self.setting("client_secret"),
            token=token or None,
            token_secret=token_secret or None,
            redirect_uri=callback or None,
            verifier=verifier or None,
        )
        signed_url, headers, body = auth.prepare(method, url, {}, b"")
        response = send(method, signed_url, classify=self.classify, headers=dict(headers), data=body or None)
        data = dict(parse_qsl(response.text))
        if not data.get("oauth_token"):
            raise ProviderError("Trello returned no oauth_token")
        return data

    def authorize(self, *, state, redirect_uri, code_verifier):
        callback = f"{redirect_uri}?{urlencode({'state': state})}"
        data = self._oauth1("POST", self.url("auth_base", "/1/OAuthGetRequestToken"), callback=callback)
        query = urlencode(
            {
                "oauth_token": data["oauth_token"],
                "name": self.setting("app_name", "Deepiri"),
                "scope": self.setting("scope", "read"),
                "expiration": self.setting("expiration", "never"),
            }
        )
        return AuthorizeStart(
            url=f"{self.url('auth_base', '/1/OAuthAuthorizeToken')}?{query}",
            extra={"request_token": data["oauth_token"], "request_token_secret": data.get("oauth_token_secret", "")},
        )

    def exchange_code(self, *, params, redirect_uri, code_verifier, extra):
        if params.get("oauth_token") != extra.get("request_token") or not params.get("oauth_verifier"):
            raise InvalidGrant("the request token does not match this authorization")
        try:
            data = self._oauth1(
                "POST",
                self.url("auth_base", "/1/OAuthGetAccessToken"),
                token=extra["request_token"],
                token_secret=extra.get("request_token_secret", ""),
                verifier=params["oauth_verifier"],
            )
        except AuthError as exc:
            raise InvalidGrant(str(exc), status=401) from exc
        return TokenSet(access_token=data["oauth_token"], token_secret=data.get("oauth_token_secret", ""))

    def revoke(self, tokens):
        send(
            "DELETE",
            self.api(f"/1/tokens/{tokens.access_token}"),
            classify=self.classify,
            headers=self.api_headers(tokens),
        )
        return True

    def tokens_from_credentials(self, credentials):
        token = (
            credentials.get("token") or credentials.get("access_token") or credentials.get("api_key") or ""
        ).strip()
        if not token:
            raise ProviderError("token is required", code="credentials")
        return TokenSet(access_token=token)

    def identify(self, client):
        me = client.get_json(self.api("/1/members/me"), params={"fields": "id,username,fullName"})
        return Account(id=me.get("id", ""), name=me.get("username") or me.get("fullName") or "")

    # --- data ----------------------------------------------------------------------------------
    def list_sources(self, client, filters):
        wanted = set(filters.get("projects") or [])
        boards = client.get_json(
            self.api("/1/members/me/boards"), params={"filter": "open", "fields": "id,name,url,closed,dateLastActivity"}
        )
        return [
            Source(
                id=b["id"],
                name=b.get("name", ""),
                kind="board",
                url=b.get("url", ""),
                updated_at=_norm(b.get("dateLastActivity")),
            )
            for b in boards
            if not b.get("closed") and (not wanted or b["id"] in wanted)
        ]

    def iter_pages(self, client, source, *, cursor, resume, full):
        activity = source.updated_at or ""
        if not full and cursor.get("watermark") and activity and activity <= cursor["watermark"]:
            yield Page(items=[], skipped=True, watermark=cursor["watermark"])
            return
        lists = client.get_json(
            self.api(f"/1/boards/{source.id}/lists"), params={"filter": "all", "fields": "id,name,closed"}
        )
        names = {lst["id"]: lst.get("name", "") for lst in lists}
        cards = client.get_json(
            self.api(f"/1/boards/{source.id}/cards"), params={"filter": "all", "fields": CARD_FIELDS}
        )
        items = [self._item(card, names.get(card.get("idList"), ""), source.id) for card in cards]
        latest = max((i.updated_at for i in items if i.updated_at), default=None)
        yield Page(
            items=items, resume=None, watermark=self.merge_watermark(activity or None, latest), complete_listing=True
        )

    def fetch_item(self, client, ref):
        try:
            card = client.get_json(self.api(f"/1/cards/{ref}"), params={"fields": CARD_FIELDS})
            lst = (
                client.get_json(self.api(f"/1/lists/{card['idList']}"), params={"fields": "name"})
                if card.get("idList")
                else {}
            )
        except NotFound:
            return None
        return self._item(card, lst.get("name", ""), card.get("idBoard", ""))

    def _item(self, card: dict, list_name: str, board_id: str) -> Item:
        lname = list_name.strip().lower()
        if card.get("dueComplete") or lname in DONE_LISTS:
            status = "completed"
        elif card.get("closed"):
            status = "cancelled"  # archived upstream
        elif lname in DOING_LISTS:
            status = "in_progress"
        else:
            status = "open"
        updated = _norm(card.get("dateLastActivity")) or ""
        return Item(
            external_id=card["id"],
            source_id=card.get("idBoard") or board_id,
            ref=card["id"],
            title=(card.get("name") or "Untitled")[:200],
            description=(card.get("desc") or "")[:2000],
            status=status,
            due_at=parse_dt(card.get("due")),
            tags=[lb["name"][:50] for lb in card.get("labels") or [] if lb.get("name")],
            url=card.get("url") or card.get("shortUrl") or "",
            updated_at=updated,
            completed_at=parse_dt(card.get("dateLastActivity")) if status == "completed" else None,
            container=card.get("idBoard") or board_id,
        )

    # --- webhooks ------------------------------------------------------------------------------
    def webhook_secret(self) -> str:
        return self.setting("client_secret", "")

    def verify_webhook(self, *, method, headers, body, callback_url, secret):
        if method == "HEAD":
            return WebhookEvent(delivery_id="", kind="ping")  # Trello's creation check
        if not secret:
            raise WebhookRejected("no Trello app secret configured")
        digest = hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()
        expected = base64.b64encode(digest).decode()
        signature = header(headers, "X-Trello-Webhook")
        if not signature or not hmac.compare_digest(signature, expected):
            raise WebhookRejected("bad X-Trello-Webhook")
        try:
            payload = json.loads(body or b"{}")
        except ValueError as exc:
            raise WebhookRejected("body is not JSON") from exc
        action = payload.get("action") or {}
        board = (payload.get("webhook") or {}).get("idModel") or (payload.get("model") or {}).get("id") or ""
        card = ((action.get("data") or {}).get("card") or {}).get("id")
        return WebhookEvent(
            delivery_id=str(action.get("id") or ""),
            routing={"board_ids": [board] if board else []},
            refs=[card] if card else [],
        )

    def register_webhooks(self, client, *, connection_id, sources, callback_url, secret):
        hooks = []
        for source in sources:
            try:
                hook = client.request(
                    "POST",
                    self.api("/1/webhooks"),
                    params={
                        "callbackURL": callback_url,
                        "idModel": source.id,
                        "description": f"Deepiri {connection_id}",
                    },
                ).json()
            except ProviderError:
                continue  # Trello refused (HEAD check failed); the periodic sync still covers the board
            hooks.append({"id": hook.get("id"), "board_id": source.id})
        return hooks

    def unregister_webhooks(self, client, hooks):
        for hook in hooks:
            if hook.get("id"):
                try:
                    client.request("DELETE", self.api(f"/1/webhooks/{hook['id']}"))
                except NotFound:
                    pass


def _norm(value: str | None) -> str:
    dt = parse_dt(value)
    return iso(dt) if dt else ""
