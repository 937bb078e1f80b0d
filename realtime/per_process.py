"""One object per process, made on first use, for the realtime layer's background threads.

A forked child (a gunicorn or Celery worker) makes its own: fork copies the parent's objects but
none of its threads, so an object that owns a thread must not be inherited.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerProcess(Generic[T]):
    def __init__(self, factory: Callable[[], T]):
        self._factory = factory
        self._value: T | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    self._value, self._pid = self._factory(), pid
        return self._value
