"""nx-27017, a MongoDB wire-protocol server (pinned in requirements-dev.txt), as a subprocess on
a free port, for tests whose processes must share one MongoDB:

    with NxServer(workdir) as uri:      # "mongodb://127.0.0.1:<port>/"
        ...
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo import MongoClient


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nx_binary() -> str:
    beside_python = Path(sys.executable).with_name("nx-27017")
    found = str(beside_python) if beside_python.exists() else shutil.which("nx-27017")
    if not found:
        pytest.fail("nx-27017 is not installed: pip install -r requirements-dev.txt")
    return found


class NxServer:
    def __init__(self, workdir: Path, startup_timeout: float = 20):
        self.workdir = Path(workdir)
        self.port = _free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(  # noqa: S603
            [
                nx_binary(), "--host", "127.0.0.1", "-p", str(self.port), "--db", "memory",
                "--log-file", str(self.workdir / "nx.log"), "--pid-file", str(self.workdir / "nx.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"nx-27017 exited with {self.proc.returncode}; see {self.workdir / 'nx.log'}")
            try:
                with MongoClient(self.uri, serverSelectionTimeoutMS=250) as client:
                    client.admin.command("ping")
                return self.uri
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"nx-27017 did not answer ping within {self.startup_timeout:.0f} s")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
