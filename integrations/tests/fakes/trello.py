"""A fake Trello (providers.md §2, §6.1): OAuth 1.0a with HMAC-SHA1 signatures checked on every
step (request token, authorize, access token), the `/1/authorize` fragment flow, key + token
checks from the `Authorization: OAuth` header or the query, boards / lists / cards / single card,
token revocation, webhooks created only after a HEAD check of the callback, `X-Trello-Webhook`
signed deliveries, and the per-token 100-requests-per-10-seconds limiter answering 429
`API_TOKEN_LIMIT_EXCEEDED` (no Retry-After, as Trello)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import parse_qsl, unquote, urlencode
from urllib.request import parse_http_list, parse_keqv_list

import requests
from authlib.oauth1.rfc5849.signature import construct_base_string, hmac_sha1_signature

from integrations.tests.fakes.base import FakeHandler, FakeProvider, now_iso, with_query


def _hex24() -> str:
    return f"{int(time.time()):08x}" + secrets.token_hex(8)


class TrelloHandler(FakeHandler):
    routes = [
        ("POST", r"/1/OAuthGetRequestToken", "request_token"),
        ("GET", r"/1/OAuthAuthorizeToken", "authorize_token"),
        ("POST", r"/1/OAuthGetAccessToken", "access_token"),
        ("GET", r"/1/authorize", "authorize_fragment"),
        ("GET", r"/1/members/me", "me"),
        ("GET", r"/1/members/me/boards", "boards"),
        ("GET", r"/1/boards/([0-9a-f]+)/lists", "lists"),
        ("GET", r"/1/boards/([0-9a-f]+)/cards(?:/all)?", "cards"),
        ("GET", r"/1/cards/([0-9a-f]+)", "card"),
        ("GET", r"/1/lists/([0-9a-f]+)", "list_"),
        ("DELETE", r"/1/tokens/([^/]+)", "delete_token"),
        ("POST", r"/1/webhooks/?", "create_webhook"),
        ("DELETE", r"/1/webhooks/([0-9a-f]+)", "delete_webhook"),
    ]

    # --- OAuth 1.0a ----------------------------------------------------------------------------
    def _oauth_params(self) -> dict:
        auth = self.headers.get("Authorization") or ""
        if not auth.lower().startswith("oauth "):
            return {}
        return {k: unquote(v) for k, v in parse_keqv_list(parse_http_list(auth[6:])).items()}

    def _signature_ok(self, params: dict, token_secret: str) -> bool:
        fake = self.fake
        if params.get("oauth_consumer_key") != fake.api_key or params.get("oauth_signature_method") != "HMAC-SHA1":
            return False
        uri = f"http://{self.headers.get('Host')}{self.path}"
        all_params = list(self.query.items()) + list(self.form_body().items()) + list(params.items())
        base = construct_base_string(self.command, uri, all_params)
        expected = hmac_sha1_signature(base, fake.oauth_secret, token_secret)
        return hmac.compare_digest(expected, params.get("oauth_signature", ""))

    def request_token(self):
        fake, params = self.fake, self._oauth_params()
        if not self._signature_ok(params, ""):
            return self.send_text(401, "invalid signature")
        token, secret = secrets.token_hex(16), secrets.token_hex(16)
        with fake.lock:
            fake.request_tokens[token] = {
                "secret": secret,
                "callback": params.get("oauth_callback", ""),
                "verifier": None,
                "user": None,
            }
        self.send_text(
            200,
            urlencode({"oauth_token": token, "oauth_token_secret": secret, "oauth_callback_confirmed": "true"}),
            content_type="application/x-www-form-urlencoded",
        )

    def authorize_token(self):
        fake = self.fake
        entry = fake.request_tokens.get(self.query.get("oauth_token", ""))
        if not entry:
            return self.send_text(400, "invalid token")
        entry["verifier"], entry["user"] = secrets.token_hex(16), fake.login_as
        self.redirect(
            with_query(
                entry["callback"], {"oauth_token": self.query["oauth_token"], "oauth_verifier": entry["verifier"]}
            )
        )

    def access_token(self):
        fake, params = self.fake, self._oauth_params()
        with fake.lock:
            entry = fake.request_tokens.get(params.get("oauth_token", ""))
        if not entry or not self._signature_ok(params, entry["secret"]):
            return self.send_text(401, "invalid signature")
        if not entry["verifier"] or params.get("oauth_verifier") != entry["verifier"]:
            return self.send_text(401, "invalid verifier")
        with fake.lock:
            fake.request_tokens.pop(params["oauth_token"], None)  # single use
        token, _ = fake.issue(entry["user"], access_prefix="ATTA", with_refresh=False)
        fake.counters["code_exchanged"] += 1
        self.send_text(
            200,
            urlencode({"oauth_token": token, "oauth_token_secret": secrets.token_hex(16)}),
            content_type="application/x-www-form-urlencoded",
        )

    def authorize_fragment(self):
        fake, q = self.fake, self.query
        if q.get("key") != fake.api_key:
            return self.send_text(400, "invalid key")
        token, _ = fake.issue(fake.login_as, access_prefix="ATTA", with_refresh=False)
        self.redirect(f"{q['return_url']}#token={token}")

    # --- API -----------------------------------------------------------------------------------
    def _auth(self) -> str | None:
        fake = self.fake
        params = self._oauth_params()
        key = params.get("oauth_consumer_key") or self.query.get("key")
        token = params.get("oauth_token") or self.query.get("token") or ""
        if key != fake.api_key:
            self.send_text(401, "invalid key")
            return None
        user = fake.user_for(token)
        if not user:
            self.send_text(401, "invalid token")
            return None
        with fake.lock:  # 100 requests / 10 s per token
            window = fake.windows.setdefault(token, [])
            now = time.time()
            window[:] = [t for t in window if t > now - 10]
            if len(window) >= fake.token_limit:
                fake.counters["injected_429"] += 1
                self.send_json(
                    429,
                    {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"},
                    headers={"x-rate-limit-api-token-remaining": "0", "x-rate-limit-api-token-interval-ms": "10000"},
                )
                return None
            window.append(now)
            fake.counters["api_calls"] += 1
        return user

    def me(self):
        user = self._auth()
        if user:
            self.send_json(200, {"id": self.fake.member_id(user), "username": user, "fullName": user.title()})

    def boards(self):
        if not self._auth():
            return
        fake = self.fake
        rows = [b for b in fake.boards.values() if self.query.get("filter") != "open" or not b["closed"]]
        self.send_json(
            200,
            [
                {
                    "id": b["id"],
                    "name": b["name"],
                    "url": f"https://trello.com/b/{b['id'][:8]}",
                    "closed": b["closed"],
                    "dateLastActivity": b["dateLastActivity"],
                }
                for b in rows
            ],
        )

    def lists(self, board_id):
        if not self._auth():
            return
        fake = self.fake
        if board_id not in fake.boards:
            return self.send_text(404, "The requested resource was not found.")
        self.send_json(
            200, [{"id": lid, "name": name, "closed": False} for lid, name in fake.boards[board_id]["lists"].items()]
        )

    def cards(self, board_id):
        if not self._auth():
            return
        fake = self.fake
        if board_id not in fake.boards:
            return self.send_text(404, "The requested resource was not found.")
        flt = self.query.get("filter", "open")
        with fake.lock:
            rows = [c for c in fake.cards.values() if c["idBoard"] == board_id and (flt == "all" or not c["closed"])]
        fake.counters["card_pages"] += 1
        self.send_json(200, rows)

    def card(self, card_id):
        if not self._auth():
            return
        card = self.fake.cards.get(card_id)
        if not card:
            return self.send_text(404, "The requested resource was not found.")
        self.send_json(200, card)

    def list_(self, list_id):
        if not self._auth():
            return
        for board in self.fake.boards.values():
            if list_id in board["lists"]:
                return self.send_json(200, {"id": list_id, "name": board["lists"][list_id]})
        self.send_text(404, "The requested resource was not found.")

    def delete_token(self, token):
        if not self._auth():
            return
        self.fake.revoke_token(token)
        self.send_json(200, {"_value": None})

    def create_webhook(self):
        if not self._auth():
            return
        fake = self.fake
        callback, model = self.query.get("callbackURL", ""), self.query.get("idModel", "")
        try:
            check = requests.head(fake.deliver_to or callback, timeout=5)
        except requests.RequestException:
            check = None
        if check is None or check.status_code != 200:
            return self.send_text(
                400,
                "URL (callbackURL) did not return 200 status code, got " + str(getattr(check, "status_code", "none")),
            )
        hook_id = _hex24()
        with fake.lock:
            fake.webhooks[hook_id] = {
                "id": hook_id,
                "idModel": model,
                "callbackURL": callback,
                "active": True,
                "description": self.query.get("description", ""),
            }
        self.send_json(200, fake.webhooks[hook_id])

    def delete_webhook(self, hook_id):
        if not self._auth():
            return
        if self.fake.webhooks.pop(hook_id, None) is None:
            return self.send_text(404, "The requested resource was not found.")
        self.send_json(200, {"_value": None})


class FakeTrello(FakeProvider):
    handler = TrelloHandler

    def __init__(self, *, token_limit: int = 100, **kwargs):
        kwargs.setdefault("access_ttl", None)  # expiration=never
        super().__init__(**kwargs)
        self.api_key = "trello-api-key"
        self.oauth_secret = "trello-oauth-secret"
        self.login_as = "ada"
        self.token_limit = token_limit
        self.windows: dict[str, list[float]] = {}
        self.request_tokens: dict[str, dict] = {}
        self.boards: dict[str, dict] = {}
        self.cards: dict[str, dict] = {}
        self.webhooks: dict[str, dict] = {}
        self.deliver_to = ""  # where the HEAD check goes when Django is not served over HTTP

    def settings(self) -> dict:
        return {
            "client_id": self.api_key,
            "client_secret": self.oauth_secret,
            "auth_base": self.url,
            "api_base": self.url,
        }

    def member_id(self, user: str) -> str:
        return hashlib.sha1(user.encode(), usedforsecurity=False).hexdigest()[:24]

    def _touch(self, board_id: str) -> str:
        stamp = now_iso(self.now())
        self.boards[board_id]["dateLastActivity"] = stamp
        return stamp

    def add_board(self, name: str, lists=("To Do", "Doing", "Done")) -> str:
        board_id = _hex24()
        with self.lock:
            self.boards[board_id] = {
                "id": board_id,
                "name": name,
                "closed": False,
                "dateLastActivity": now_iso(self.now()),
                "lists": {_hex24(): n for n in lists},
            }
        return board_id

    def list_id(self, board_id: str, name: str) -> str:
        return next(lid for lid, n in self.boards[board_id]["lists"].items() if n == name)

    def add_card(
        self, board_id: str, name: str, *, list_name="To Do", desc="", due=None, labels=(), due_complete=False
    ) -> str:
        card_id = _hex24()
        with self.lock:
            stamp = self._touch(board_id)
            self.cards[card_id] = {
                "id": card_id,
                "name": name,
                "desc": desc,
                "closed": False,
                "idList": self.list_id(board_id, list_name),
                "idBoard": board_id,
                "due": due,
                "dueComplete": due_complete,
                "start": None,
                "dateLastActivity": stamp,
                "labels": [{"id": _hex24(), "name": n, "color": "green"} for n in labels],
                "idMembers": [],
                "url": f"https://trello.com/c/{card_id[:8]}/{name.lower().replace(' ', '-')}",
                "shortUrl": f"https://trello.com/c/{card_id[:8]}",
            }
        return card_id

    def edit_card(self, card_id: str, *, list_name: str | None = None, **changes) -> None:
        with self.lock:
            card = self.cards[card_id]
            if list_name:
                changes["idList"] = self.list_id(card["idBoard"], list_name)
            card.update(changes)
            card["dateLastActivity"] = self._touch(card["idBoard"])

    def delete_card(self, card_id: str) -> None:
        with self.lock:
            card = self.cards.pop(card_id)
            self._touch(card["idBoard"])

    def rate_limit_response(self, status):
        return (
            {"x-rate-limit-api-token-remaining": "0", "x-rate-limit-api-token-interval-ms": "10000"},
            {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"},
        )

    def signed_event(
        self,
        action_type: str,
        card_id: str,
        *,
        callback_url: str,
        action_id: str | None = None,
        secret: str | None = None,
    ):
        card = self.cards.get(card_id) or {"id": card_id, "idBoard": next(iter(self.boards))}
        board_id = card["idBoard"]
        body = json.dumps(
            {
                "action": {
                    "id": action_id or _hex24(),
                    "type": action_type,
                    "date": now_iso(self.now()),
                    "data": {"card": {"id": card_id, "name": card.get("name", "")}, "board": {"id": board_id}},
                    "memberCreator": {"id": self.member_id("ada"), "username": "ada"},
                },
                "model": {"id": board_id, "name": self.boards[board_id]["name"]},
                "webhook": {"id": _hex24(), "idModel": board_id, "callbackURL": callback_url, "active": True},
            }
        ).encode()
        digest = hmac.new((secret or self.oauth_secret).encode(), body + callback_url.encode(), hashlib.sha1).digest()
        return body, {"X-Trello-Webhook": base64.b64encode(digest).decode()}


def deliver(fake: FakeTrello, action_type: str, card_id: str) -> list[int]:
    """Fire a signed delivery to every webhook registered on the card's board (as Trello does)."""
    board = (fake.cards.get(card_id) or {}).get("idBoard") or next(iter(fake.boards))
    statuses = []
    for hook in [h for h in fake.webhooks.values() if h["idModel"] == board and h["active"]]:
        body, headers = fake.signed_event(action_type, card_id, callback_url=hook["callbackURL"])
        response = requests.post(
            hook["callbackURL"], data=body, headers={**headers, "Content-Type": "application/json"}, timeout=10
        )
        statuses.append(response.status_code)
    return statuses


def parse_form(text: str) -> dict:
    return dict(parse_qsl(text))
