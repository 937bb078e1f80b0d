"""kernel.http against a real HTTP peer on 127.0.0.1: retries, Retry-After, the total budget,
the body cap, redirects, and the circuit breaker shared per host by every caller."""

from __future__ import annotations

import json
import socket
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler

import pytest

from devtools.testing.fakeserver import FakeServer
from kernel import http


class Handler(BaseHTTPRequestHandler):
    """Answers from a script: `state["script"]` is a list of (status, headers, body) taken in
    order (the last one repeats); every request is recorded in `state["requests"]`."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        state["requests"].append({"method": self.command, "path": self.path, "body": body})
        script = state["script"]
        status, headers, payload = script.pop(0) if len(script) > 1 else script[0]
        if state.get("delay"):
            time.sleep(state["delay"])
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (timeout tests)

    do_GET = do_POST = _answer


@pytest.fixture
def peer():
    with FakeServer(Handler, {"requests": [], "script": [(200, {}, {"ok": True})]}) as server:
        yield server


def policy(**overrides) -> http.Policy:
    values = {
        "connect_timeout": 0.5,
        "read_timeout": 0.5,
        "total_timeout": 3.0,
        "max_retries": 2,
        "backoff": 0.01,
        "max_backoff": 0.05,
        "max_retry_after": 2.0,
        "retry_statuses": http.SERVER_ERRORS,
        "breaker_threshold": 2,
        "breaker_window": 60,
        "breaker_cooldown": 0.4,
        **overrides,
    }
    return http.Policy(**values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Refused(Exception):
    pass


def test_ok_body_is_read_and_usable(peer):
    response = http.request("GET", peer.url + "/x", policy=policy())
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert len(peer.state["requests"]) == 1


def test_5xx_is_retried_a_bounded_number_of_times_then_handed_back(peer):
    peer.state["script"] = [(503, {}, {"error": "down"})]
    response = http.request("GET", peer.url, policy=policy())
    assert response.status_code == 503
    assert len(peer.state["requests"]) == 3  # 1 + max_retries


def test_status_outside_the_retry_set_is_not_retried(peer):
    peer.state["script"] = [(429, {"Retry-After": "1"}, {"error": "quota"})]
    assert http.request("GET", peer.url, policy=policy()).status_code == 429
    assert len(peer.state["requests"]) == 1


def test_retry_after_is_honoured(peer):
    peer.state["script"] = [(503, {"Retry-After": "1"}, {}), (200, {}, {"ok": True})]
    started = time.monotonic()
    assert http.request("GET", peer.url, policy=policy()).status_code == 200
    assert time.monotonic() - started >= 1.0
    assert len(peer.state["requests"]) == 2


def test_retry_after_longer_than_allowed_hands_the_answer_back_at_once(peer):
    peer.state["script"] = [(503, {"Retry-After": "120"}, {})]
    started = time.monotonic()
    assert http.request("GET", peer.url, policy=policy()).status_code == 503
    assert time.monotonic() - started < 0.5 and len(peer.state["requests"]) == 1


def test_the_total_budget_bounds_retries_and_waits(peer):
    peer.state["delay"] = 5
    started = time.monotonic()
    with pytest.raises(http.Unavailable) as err:
        http.request("GET", peer.url, policy=policy(read_timeout=0.3, total_timeout=0.8))
    assert err.value.reason == "timeout"
    assert time.monotonic() - started < 1.3


def test_unreachable_peer():
    with pytest.raises(http.Unavailable) as err:
        http.request("GET", f"http://127.0.0.1:{free_port()}/", policy=policy())
    assert err.value.reason == "connection"


def test_body_over_the_cap_is_refused_and_not_retried(peer):
    peer.state["script"] = [(200, {}, b"x" * 5000)]
    with pytest.raises(http.Unavailable) as err:
        http.request("GET", peer.url, policy=policy(max_response_bytes=1000))
    assert err.value.reason == "too_large"
    assert len(peer.state["requests"]) == 1


def test_redirects_are_not_followed(peer):
    peer.state["script"] = [(302, {"Location": "http://169.254.169.254/latest"}, {})]
    response = http.request("GET", peer.url, policy=policy())
    assert response.status_code == 302 and len(peer.state["requests"]) == 1


def test_breaker_is_per_host_and_shared_by_every_caller(peer):
    """Two callers with different handling share one circuit for the host; another host is
    unaffected. Open -> no request leaves; after the cool-down one probe decides."""
    peer.state["script"] = [(500, {}, {})]
    tight = policy(max_retries=0)
    for _ in range(2):
        assert http.request("GET", peer.url, policy=tight).status_code == 500  # no handle: a 5xx is handed back
    assert http.breaker_for(peer.url, tight).state() == "closed"  # ...and judged by the caller only

    def strict(response):
        if response.status_code >= 500:
            raise Refused(response.status_code)
        return response.json()

    judged = policy(max_retries=0, failures=(Refused,))
    for _ in range(2):
        with pytest.raises(Refused):
            http.request("GET", peer.url, policy=judged, handle=strict)
    assert len(peer.state["requests"]) == 4
    with pytest.raises(http.Unavailable) as err:  # any caller of this host now stops at once
        http.request("POST", peer.url + "/other", policy=tight)
    assert err.value.reason == "circuit_open" and err.value.host == http.host_of(peer.url)
    assert len(peer.state["requests"]) == 4

    with FakeServer(Handler, {"requests": [], "script": [(200, {}, {"ok": True})]}) as other:
        assert http.request("GET", other.url, policy=tight).status_code == 200

    time.sleep(0.5)
    breaker = http.breaker_for(peer.url, judged)
    assert breaker.state() == "half_open"
    peer.state["script"] = [(200, {}, {"ok": True})]
    assert http.request("GET", peer.url, policy=judged, handle=strict) == {"ok": True}
    assert breaker.state() == "closed"


def test_a_failed_probe_opens_again_and_an_answer_the_caller_dislikes_is_not_a_failure(peer):
    peer.state["script"] = [(404, {}, {"error": "nope"})]

    def not_found(response):
        raise LookupError(response.status_code)

    p = policy(max_retries=0, breaker_threshold=1, failures=(Refused,))
    for _ in range(3):  # the host answers: a 404 the caller refuses says nothing against it
        with pytest.raises(LookupError):
            http.request("GET", peer.url, policy=p, handle=not_found)
    breaker = http.breaker_for(peer.url, p)
    assert breaker.state() == "closed"

    peer.state["delay"] = 2
    with pytest.raises(http.Unavailable):
        http.request("GET", peer.url, policy=policy(max_retries=0, breaker_threshold=1, read_timeout=0.2))
    assert breaker.state() == "open"
    time.sleep(0.45)
    with pytest.raises(http.Unavailable) as err:  # the probe times out too: open again
        http.request("GET", peer.url, policy=policy(max_retries=0, breaker_threshold=1, read_timeout=0.2))
    assert err.value.reason == "timeout" and breaker.state() == "open"


def test_breaker_fails_open_when_redis_is_down(peer):
    import redis

    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    breaker = http.breaker_for(peer.url, policy(breaker_threshold=1), client=dead)
    breaker.record_failure()  # logged, not raised
    assert breaker.allow() is True and breaker.state() == "closed"
    assert http.request("GET", peer.url, policy=policy(), breaker=breaker).status_code == 200


def test_retry_after_header_forms():
    assert http.parse_retry_after("3") == 3.0
    assert http.parse_retry_after(" 0.5 ") == 0.5
    assert http.parse_retry_after("-4") == 0.0
    assert 8 <= http.parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert http.parse_retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert http.parse_retry_after("soon") is None
    assert http.parse_retry_after("nan") is None
    assert http.parse_retry_after("") is None
    assert http.parse_retry_after(None) is None
