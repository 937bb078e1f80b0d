"""The socket publisher's work is part of the trace that caused it: the publish is a span of
that trace, and the channel-layer message carries the context to the consumer that delivers it."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from devtools.testing.tracing import from_sdk
from kernel import tracing
from realtime import publisher

pytestmark = pytest.mark.django_db


def _messages_during(group, action):
    async def go():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await sync_to_async(action)()
        out = []
        while True:
            try:
                out.append(await asyncio.wait_for(layer.receive(channel), 0.5))
            except TimeoutError:
                break
        await layer.group_discard(group, channel)
        return out

    return async_to_sync(go)()


def test_published_event_carries_the_causing_trace(traced, user):
    def action():
        with tracing.span("cause"):
            publisher.send_to_user_now(user.pk, "notification", {"notification": {"title": "hi"}})

    (message,) = _messages_during(publisher.user_group(user.pk), action)
    spans = {s.name: s for s in map(from_sdk, traced.get_finished_spans())}
    publish, cause = spans["realtime.publish"], spans["cause"]
    assert publish.parent_id == cause.span_id and publish.trace_id == cause.trace_id
    assert message["trace"]["traceparent"].split("-")[1:3] == [publish.trace_id, publish.span_id]
    assert message["event"]["type"] == "notification"


def test_untraced_message_has_no_trace_key(user):
    (message,) = _messages_during(
        publisher.user_group(user.pk), lambda: publisher.send_to_user_now(user.pk, "notification", {})
    )
    assert "trace" not in message
