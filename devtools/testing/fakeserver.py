"""Run a fake external HTTP peer (the AI service, a provider) on 127.0.0.1 in a thread.

    server = FakeServer(MyHandler)        # MyHandler: an http.server.BaseHTTPRequestHandler subclass
    server.start(); server.url  -> "http://127.0.0.1:54321"
    server.stop()

The code under test makes real HTTP calls to it. State shared with the test lives on
`server.state` (a dict), reachable from the handler as `self.server.state`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler], state: dict | None = None):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.state = state if state is not None else {}
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def state(self) -> dict:
        return self.httpd.state

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
