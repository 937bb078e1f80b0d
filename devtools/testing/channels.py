"""Capture what the publisher sends to a channel-layer group, from a synchronous test.

    listener = GroupListener(user_group(user.pk))     # joins the group now
    ... run a service (its sends happen after commit) ...
    events = listener.events()                        # the `event` dicts that arrived
    listener.close()

(or `with GroupListener(group) as listener: ...`). Works with every layer the settings pick:

- channels_redis pub/sub (production) keeps per-event-loop state: the channel, its group
  subscription and its receive queue live in the loop that created them. The listener therefore
  owns one event loop in a background thread and does everything there, while the code under
  test publishes from its own loops through Redis.
- the in-memory layer (embedded, REDIS_URL unset) is process-global and delivered synchronously
  into its queues, so the listener drains it from the calling thread.
"""

from __future__ import annotations

import asyncio
import threading
import time

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer


class GroupListener:
    def __init__(self, group: str):
        self.group = group
        self.layer = get_channel_layer()
        self._received: list[dict] = []
        self._memory = isinstance(self.layer, InMemoryChannelLayer)
        if self._memory:
            self.channel = async_to_sync(self.layer.new_channel)()
            async_to_sync(self.layer.group_add)(group, self.channel)
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"listener {group}", daemon=True)
        self._thread.start()
        self.channel = self._call(self.layer.new_channel())
        self._call(self.layer.group_add(group, self.channel))
        self._pump = asyncio.run_coroutine_threadsafe(self._receive_forever(), self._loop)

    def _call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _receive_forever(self):
        while True:
            message = await self.layer.receive(self.channel)
            self._received.append(message)

    def messages(self, timeout: float = 2.0, quiet: float = 0.3) -> list[dict]:
        """Wait up to `timeout` for the first message, then until none came for `quiet` seconds."""
        if self._memory:
            return self._drain_memory(timeout, quiet)
        deadline = time.monotonic() + timeout
        seen = 0
        last_change = time.monotonic()
        while True:
            now = time.monotonic()
            if len(self._received) != seen:
                seen, last_change = len(self._received), now
            if seen and now - last_change >= quiet:
                break
            if not seen and now >= deadline:
                break
            time.sleep(0.02)
        out, self._received = self._received[:seen], self._received[seen:]
        return out

    def _drain_memory(self, timeout: float, quiet: float) -> list[dict]:
        async def drain():
            out = []
            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), quiet if out else timeout)
                except TimeoutError:
                    return out
                out.append(message)

        return async_to_sync(drain)()

    def events(self, timeout: float = 2.0, quiet: float = 0.3) -> list[dict]:
        """The API.md events (`{"type", "id"?, "ts", ...}`) that arrived."""
        return [m["event"] for m in self.messages(timeout, quiet) if "event" in m]

    def close(self) -> None:
        if self._memory:
            async_to_sync(self.layer.group_discard)(self.group, self.channel)
            return
        self._pump.cancel()
        try:
            self._call(self.layer.group_discard(self.group, self.channel))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()  # channels_redis closes this loop's connections on close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
