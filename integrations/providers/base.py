"""The one provider interface every task source implements, and the HTTP plumbing they share.

A provider is stateless: it turns our calls into the provider's wire format and its answers into
plain dataclasses (`TokenSet`, `Account`, `Source`, `Item`, `Page`, `WebhookEvent`). Everything
that touches the database (tokens at rest, cursors, upserts, locks) lives in `integrations.services`.

Errors are one small taxonomy so Celery and the services can react the same way to all four:

    AuthError      the access token was refused (401): refresh once, then `needs_reauth`
    InvalidGrant   the grant itself is dead (revoked, refresh token reused): `needs_reauth`
    RateLimited    back off for `retry_after` seconds, as the provider named them
    NotFound       the object is gone or no longer visible
    TransientError 5xx / network failure after bounded retries
    ProviderError  anything else the provider refused (bad request, misconfiguration)

Every base URL comes from `settings.INTEGRATIONS_PROVIDERS[slug]`, so tests and development point
them at the fake servers in `integrations/tests/fakes/`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from kernel import http

logger = logging.getLogger("integrations.providers")


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------
class ProviderError(Exception):
    code = "provider_error"
    # How the call failed, for staff: refused / dns / timeout / connection / circuit_open (no
    # answer), or the provider's HTTP status (`failure_class`).
    failure = ""

    def __init__(self, message: str = "", *, status: int | None = None, code: str | None = None):
        super().__init__(message or self.__class__.__name__)
        self.status = status
        if code:
            self.code = code

    @property
    def failure_class(self) -> str:
        if self.failure:
            return self.failure
        if self.status:
            return f"http_{self.status}"
        return self.code


class AuthError(ProviderError):
    code = "unauthorized"


class InvalidGrant(ProviderError):
    code = "invalid_grant"


class NotFound(ProviderError):
    code = "not_found"


class TransientError(ProviderError):
    code = "transient"


class RateLimited(ProviderError):
    code = "rate_limited"

    def __init__(self, message: str = "", *, retry_after: float, status: int | None = 429, code: str | None = None):
        super().__init__(message or f"rate limited, retry in {retry_after:.0f}s", status=status, code=code)
        self.retry_after = max(0.0, float(retry_after))


class WebhookRejected(Exception):
    """The delivery failed verification (bad or missing signature): answer 401 and log."""


# ----------------------------------------------------------------------------------------------
# Plain data exchanged with the services layer
# ----------------------------------------------------------------------------------------------
@dataclass
class TokenSet:
    access_token: str
    refresh_token: str = ""
    token_secret: str = ""  # OAuth 1.0a token secret (Trello)
    expires_at: float | None = None  # epoch seconds, None = does not expire / unknown
    refresh_expires_at: float | None = None
    scope: str = ""
    account: Account | None = None  # identity returned with the token (Notion owner, ...)


@dataclass
class Account:
    id: str
    name: str = ""
    workspace_id: str = ""  # Notion workspace, used to route webhooks
    extra: dict = field(default_factory=dict)


@dataclass
class Source:
    id: str
    name: str
    kind: str  # data_source | board | assigned_issues | tasklist | document
    url: str = ""
    updated_at: str = ""  # provider's own "last activity" stamp where it has one (Trello boards)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Item:
    """One upstream task, already mapped to our fields."""

    external_id: str
    source_id: str
    ref: str  # what `fetch_item` needs to re-read just this item
    title: str
    description: str = ""
    status: str = "open"  # open | in_progress | completed | cancelled | deleted
    due_at: datetime | None = None  # an instant (UTC)
    due_date: date | None = None  # a calendar date: never shifted by time zones
    tags: list[str] = field(default_factory=list)
    url: str = ""
    updated_at: str = ""  # the provider's timestamp string, for watermarks
    completed_at: datetime | None = None
    container: str = ""  # repository / board / list the item sits in (for syncFilters.projects)

    def content_hash(self) -> str:
        payload = [
            self.title,
            self.description,
            self.status,
            self.due_at.isoformat() if self.due_at else None,
            self.due_date.isoformat() if self.due_date else None,
            sorted(self.tags),
            self.url,
            self.source_id,
        ]
        return hashlib.sha1(json.dumps(payload, ensure_ascii=False).encode(), usedforsecurity=False).hexdigest()


@dataclass
class Page:
    """One page of items. `resume` continues the loop after this page (None on the last page);
    `watermark` is the incremental cursor to store once the whole loop has committed."""

    items: list[Item]
    resume: str | None = None
    watermark: str | None = None
    complete_listing: bool = False  # this loop saw every live item of the source (deletion check allowed)
    skipped: bool = False  # nothing changed upstream (304, board untouched)
    extra: dict = field(default_factory=dict)  # more cursor state to store with the watermark (ETag)


@dataclass
class WebhookEvent:
    delivery_id: str
    kind: str = "change"  # change | handshake | ping
    routing: dict = field(default_factory=dict)  # account ids / workspace / board / channel to find connections
    refs: list[str] = field(default_factory=list)  # items to re-fetch; empty = sync the whole connection
    response: dict | None = None  # body to answer with (handshakes)


@dataclass
class AuthorizeStart:
    url: str
    extra: dict = field(default_factory=dict)  # kept server-side with the state (OAuth1 request token secret)


# ----------------------------------------------------------------------------------------------
# HTTP: `kernel.http` with the providers' policy; answers classified per provider
# ----------------------------------------------------------------------------------------------
class CircuitOpen(TransientError):
    code = "circuit_open"


def policy() -> http.Policy:
    """Provider calls: 5xx (but Notion's 529 overload, a rate limit) and network errors are
    retried inline; a 429 is not (it is a per-user quota that can last minutes: the sync pauses
    and resumes when the provider said). A failing provider's host opens its circuit."""
    return http.Policy(
        connect_timeout=settings.INTEGRATIONS_HTTP_CONNECT_TIMEOUT,
        read_timeout=settings.INTEGRATIONS_HTTP_READ_TIMEOUT,
        total_timeout=settings.INTEGRATIONS_HTTP_TOTAL_TIMEOUT,
        max_retries=settings.INTEGRATIONS_HTTP_RETRIES,
        backoff=settings.INTEGRATIONS_HTTP_BACKOFF,
        max_backoff=2.0,
        max_retry_after=settings.INTEGRATIONS_HTTP_MAX_RETRY_AFTER,
        retry_statuses=http.SERVER_ERRORS - {529},
        breaker_threshold=settings.INTEGRATIONS_BREAKER_THRESHOLD,
        breaker_window=settings.INTEGRATIONS_BREAKER_WINDOW,
        breaker_cooldown=settings.INTEGRATIONS_BREAKER_COOLDOWN,
        max_response_bytes=settings.INTEGRATIONS_HTTP_MAX_RESPONSE_BYTES,
        failures=(TransientError,),
    )


def send(method: str, url: str, *, classify: Callable[[requests.Response], None], **kwargs) -> requests.Response:
    """One provider call; `classify` raises the right `ProviderError` for an answer we cannot
    use (a 5xx left after the retries becomes `TransientError`) or returns for a usable one."""

    def handle(response: requests.Response) -> requests.Response:
        classify(response)
        return response

    try:
        return http.request(method, url, policy=policy(), handle=handle, **kwargs)
    except http.Unavailable as exc:
        if exc.reason == "circuit_open":
            error = CircuitOpen("the provider is failing; calls are paused for a while")
            error.failure = "circuit_open"
            raise error from exc
        error = TransientError(f"{method} {url.split('?')[0]}: {exc.cause or exc.reason}")
        error.failure = exc.cause or exc.reason  # refused, dns, reset, timeout, connection, ...
        raise error from exc


def default_classify(response: requests.Response) -> None:
    status = response.status_code
    if status < 400 or status == 304:
        return
    text = response.text[:300]
    if status == 401:
        raise AuthError(text, status=status)
    if status == 404 or status == 410:
        raise NotFound(text, status=status)
    if status == 429:
        raise RateLimited(text, retry_after=http.parse_retry_after(response.headers.get("Retry-After")) or 60.0)
    if status >= 500:
        raise TransientError(text, status=status)
    raise ProviderError(text, status=status)


class ApiClient:
    """An authenticated client for one connection. `on_unauthorized(failed_token)` (the services'
    token manager) returns a fresh access token; a 401 is retried once with it."""

    def __init__(self, provider: Provider, tokens: TokenSet, on_unauthorized: Callable[[str], TokenSet] | None = None):
        self.provider = provider
        self.tokens = tokens
        self.on_unauthorized = on_unauthorized
        self.account_id = tokens.account.id if tokens.account else ""
        self.calls = 0

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in (0, 1):
            full_headers = {**self.provider.api_headers(self.tokens), **headers}
            self.calls += 1
            try:
                return send(
                    method,
                    url,
                    classify=self.provider.classify,
                    headers=full_headers,
                    **self.provider.auth_request_kwargs(self.tokens, method, url, kwargs),
                )
            except AuthError:
                if attempt or self.on_unauthorized is None:
                    raise
                self.tokens = self.on_unauthorized(self.tokens.access_token)
        raise AssertionError("unreachable")

    def get_json(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs).json()


# ----------------------------------------------------------------------------------------------
# The interface
# ----------------------------------------------------------------------------------------------
class Provider:
    slug: str = ""
    name: str = ""
    auth_type: str = "oauth2"  # oauth2 | oauth1
    supports_pkce: bool = False
    supports_refresh: bool = True
    token_connect: bool = False  # accepts POST /api/integrations/connect {credentials}
    credential_fields: tuple[str, ...] = ()
    webhook_scheme: str = ""  # human description, shown by GET /providers
    # The signature covers the whole body: an identical body seen again is a replay.
    webhook_signs_body: bool = False
    # Deliveries start with an unsigned handshake carrying the signing key (Notion).
    webhook_handshake: bool = False

    # --- configuration -------------------------------------------------------------------------
    @property
    def config(self) -> dict:
        try:
            return settings.INTEGRATIONS_PROVIDERS[self.slug]
        except (AttributeError, KeyError) as exc:
            raise ImproperlyConfigured(f"INTEGRATIONS_PROVIDERS['{self.slug}'] is missing") from exc

    def setting(self, name: str, default=None):
        value = self.config.get(name, default)
        return default if value in (None, "") else value

    @property
    def configured(self) -> bool:
        """OAuth needs a client id and secret; token connections work without them."""
        return bool(self.setting("client_id") and self.setting("client_secret"))

    @property
    def page_size(self) -> int:
        return int(self.setting("page_size", 100))

    def url(self, base_name: str, path: str) -> str:
        return self.setting(base_name).rstrip("/") + path

    # --- HTTP hooks ----------------------------------------------------------------------------
    def api_headers(self, tokens: TokenSet) -> dict:
        return {"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"}

    def auth_request_kwargs(self, tokens: TokenSet, method: str, url: str, kwargs: dict) -> dict:
        return kwargs

    def classify(self, response: requests.Response) -> None:
        default_classify(response)

    # --- auth ----------------------------------------------------------------------------------
    def authorize(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> AuthorizeStart:
        raise NotImplementedError

    def exchange_code(self, *, params: dict, redirect_uri: str, code_verifier: str | None, extra: dict) -> TokenSet:
        raise NotImplementedError

    def refresh(self, tokens: TokenSet) -> TokenSet:
        raise InvalidGrant("this provider has no refresh tokens")

    def revoke(self, tokens: TokenSet) -> bool:
        """Revoke the grant at the provider. True when the provider confirmed it."""
        return False

    def tokens_from_credentials(self, credentials: dict) -> TokenSet:
        raise ProviderError("this provider connects through OAuth only", code="oauth_only")

    def identify(self, client: ApiClient) -> Account:
        raise NotImplementedError

    # --- data ----------------------------------------------------------------------------------
    def list_sources(self, client: ApiClient, filters: dict) -> list[Source]:
        raise NotImplementedError

    def iter_pages(
        self, client: ApiClient, source: Source, *, cursor: dict, resume: str | None, full: bool
    ) -> Iterator[Page]:
        """Yield pages of items of `source` changed since `cursor` (all of them when `full` or
        when there is no cursor), starting after `resume` when a previous attempt stopped."""
        raise NotImplementedError

    def fetch_item(self, client: ApiClient, ref: str) -> Item | None:
        """Re-read one item; None when it is gone upstream."""
        raise NotImplementedError

    # --- webhooks ------------------------------------------------------------------------------
    def verify_webhook(
        self, *, method: str, headers: dict, body: bytes, callback_url: str, secret: str
    ) -> WebhookEvent:
        """Check the delivery on the raw body with `secret` (the provider's webhook key) and say
        what changed. Raises WebhookRejected when the signature does not match."""
        raise WebhookRejected("webhooks are not supported for this provider")

    def webhook_secret(self) -> str:
        return self.setting("webhook_secret", "")

    def merge_watermark(self, a: str | None, b: str | None) -> str | None:
        """The later of two cursors (ours are fixed-format UTC timestamps, so max() works)."""
        return max((w for w in (a, b) if w), default=None)

    def register_webhooks(
        self, client: ApiClient, *, connection_id: str, sources: list[Source], callback_url: str, secret: str
    ) -> list[dict]:
        """Subscribe to changes of this connection's sources where the provider lets a user-level
        token do it (Trello boards, Google Drive changes). Notion and GitHub deliver app-level
        webhooks configured once in their developer consoles: nothing to do per connection."""
        return []

    def unregister_webhooks(self, client: ApiClient, hooks: list[dict]) -> None:
        return None


def header(headers: dict, name: str) -> str:
    """Case-insensitive header lookup on a plain dict."""
    lname = name.lower()
    for k, v in headers.items():
        if k.lower() == lname:
            return v
    return ""


# ----------------------------------------------------------------------------------------------
# Time helpers
# ----------------------------------------------------------------------------------------------
def parse_dt(value: str | None) -> datetime | None:
    """An RFC 3339 instant -> aware UTC datetime (None for empty or malformed input)."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_date_or_dt(value: str | None) -> tuple[datetime | None, date | None]:
    """Notion-style `date.start`: a bare date stays a date; a datetime becomes a UTC instant."""
    if not value:
        return None, None
    if len(value) == 10:
        try:
            return None, date.fromisoformat(value)
        except ValueError:
            return None, None
    return parse_dt(value), None


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
