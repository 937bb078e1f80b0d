"""Engine.IO v4 / Socket.IO v5 framing: what goes out is what the protocol specifies (literal
wire strings from the specs' examples), and nothing a client sends raises anything but
ProtocolError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime import socketio_protocol as proto


def test_open_frame_announces_the_heartbeat_in_milliseconds_and_no_upgrades():
    frame = proto.open_frame("abc", ping_interval=25, ping_timeout=20, max_payload=16384)
    assert frame[0] == "0"
    assert json.loads(frame[1:]) == {
        "sid": "abc",
        "upgrades": [],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 16384,
    }


def test_engine_frames():
    assert proto.ping_frame() == "2"
    assert proto.pong_frame() == "3"
    assert proto.pong_frame("probe") == "3probe"
    assert proto.close_frame() == "1"
    assert proto.noop_frame() == "6"


def test_socketio_frames_ride_in_message_packets():
    assert proto.connect_frame("sid1") == '40{"sid":"sid1"}'
    assert proto.connect_frame("sid1", "/admin") == '40/admin,{"sid":"sid1"}'
    assert proto.connect_error_frame("Not authorized", {"code": "unauthorized"}) == (
        '44{"message":"Not authorized","data":{"code":"unauthorized"}}'
    )
    assert proto.event_frame("notification", {"message": "hi", "type": "badge_earned"}) == (
        '42["notification",{"message":"hi","type":"badge_earned"}]'
    )
    assert proto.ack_frame(12, {"ok": True}) == '4312[{"ok":true}]'
    assert proto.disconnect_frame() == "41"


def test_bytes_in_an_event_are_not_turned_into_binary_attachments():
    # the payloads we emit are JSON already; no scan for bytes, no 45x packets
    assert proto.event_frame("x", {"n": 1}).startswith("42[")


@pytest.mark.parametrize(
    ("frame", "kind", "fields"),
    [
        ("2", "ping", {}),
        ("3", "pong", {}),
        ("1", "close", {}),
        ("6", "noop", {}),
        ("5", "upgrade", {}),
        ("40", "connect", {"data": None, "namespace": "/"}),
        ('40{"token":"t","userId":"u1"}', "connect", {"data": {"token": "t", "userId": "u1"}}),
        ("40/chat,", "connect", {"namespace": "/chat"}),
        ("41", "disconnect", {}),
        ('42["join_user_room","u1"]', "event", {"name": "join_user_room", "args": ["u1"], "id": None}),
        ('427["ping"]', "event", {"name": "ping", "args": [], "id": 7}),
        ('42/chat,3["x",{"a":1}]', "event", {"namespace": "/chat", "name": "x", "args": [{"a": 1}], "id": 3}),
        ("435[]", "ack", {"id": 5, "data": []}),
    ],
)
def test_decode(frame, kind, fields):
    inbound = proto.decode(frame)
    assert inbound.kind == kind
    for name, value in fields.items():
        assert getattr(inbound, name) == value


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "x",
        "9",
        b"\x04binary",
        "4",
        "4x",
        "49",
        "42",
        "42{}",
        "42[]",
        "42[1,2]",
        '42["unterminated',
        '451-["upload",{"_placeholder":true,"num":0}]',
        "4" + "2" + "[" * 5000 + "]" * 5000,
        "42" + "1" * 200 + '["x"]',
    ],
)
def test_hostile_frames_are_protocol_errors(frame):
    with pytest.raises(proto.ProtocolError):
        proto.decode(frame)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('42["x",{"n":9007199254740992}]', "number_out_of_range"),
        ('42["x",[-18446744073709551616]]', "number_out_of_range"),
        ('42["x",1e300]', "number_out_of_range"),
        ('42["x",NaN]', "number_out_of_range"),  # python-socketio's codec accepts these
        ('42["x",Infinity]', "number_out_of_range"),
        ('40{"token":"a\\u0000b"}', "null_character"),
    ],
)
def test_json_beyond_the_shared_limits_is_a_limit_error(frame, code):
    with pytest.raises(proto.LimitError) as refused:
        proto.decode(frame)
    assert refused.value.code == code
    assert proto.decode('42["x",9007199254740991,-9007199254740991,1.5]').args == [9007199254740991, -9007199254740991, 1.5]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_decode_raises_nothing_but_protocol_error(text):
    try:
        proto.decode(text)
    except proto.ProtocolError:
        pass


# Inbound text never carries NUL (refused like in every JSON input: test above).
_text = st.characters(blacklist_characters="\x00")


@settings(max_examples=100, deadline=None)
@given(
    st.text(_text, min_size=1, max_size=30),
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(_text, max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(_text, max_size=8), inner, max_size=4),
        max_leaves=10,
    ),
    st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_event_round_trip(name, payload, ack_id):
    from engineio import packet as eio
    from socketio import packet as sio

    frame = proto.event_frame(name, payload)
    if ack_id is not None:  # what a client sends when it wants an acknowledgement
        frame = eio.Packet(eio.MESSAGE, sio.Packet(sio.EVENT, [name, payload], id=ack_id).encode()).encode()
    inbound = proto.decode(frame)
    assert inbound.kind == "event" and inbound.name == name and inbound.args == [payload] and inbound.id == ack_id


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("badge_earned", "badge_earned"),
        ("level_up", "points_earned"),
        ("streak_at_risk", "step_reminder"),
        ("friend_request", "friend_joined"),
        ("session_invite", "session_invite"),  # no counterpart: the client shows its bell
        ("system", "system"),
    ],
)
def test_notifications_in_the_web_clients_words_with_ours_beside(ours, theirs):
    from realtime.socketio import _web_notification

    notification = {"_id": "n1", "type": ours, "title": "T", "message": "M", "priority": "high", "data": {"a": 1}}
    event = {"type": "notification", "id": 7, "ts": "2026-11-30T10:00:00.000Z", "notification": notification}
    out = _web_notification(event)
    assert out["type"] == theirs and out["message"] == "M" and out["title"] == "T"
    assert out["id"] == 7 and out["ts"] == event["ts"] and out["notification"] == notification
    assert _web_notification({**event, "notification": {**notification, "message": ""}})["message"] == "T"
