"""Engine.IO v4 / Socket.IO v5 framing for one WebSocket, on the libraries' own packet codecs.

No I/O here: the consumer (`realtime.socketio`) hands in each text frame it receives and sends
the strings these functions return. Encoding and decoding are python-engineio's
`engineio.packet.Packet` and python-socketio's `socketio.packet.Packet` (the codecs their own
servers use); this module only adds what a server on Channels needs around them:

- Engine.IO over WebSocket alone (no polling, no upgrade): the server opens with an OPEN
  packet naming the heartbeat (`pingInterval`/`pingTimeout`, milliseconds), then sends PING
  and expects PONG (Engine.IO v4: the server pings); every Socket.IO packet rides in a
  MESSAGE packet, one per frame.
- Decoding never raises anything but ProtocolError, whatever a client sends (bad packet
  types, broken or deeply nested JSON, binary attachments, which this server does not take).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engineio import packet as eio
from socketio import packet as sio

from kernel import jsonlimits

DEFAULT_NAMESPACE = "/"


class ProtocolError(ValueError):
    pass


class LimitError(ProtocolError):
    """A well-formed packet whose JSON breaks a limit of `kernel.jsonlimits`; `code` says which."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass
class Inbound:
    """One decoded client frame.

    kind: `ping`, `pong`, `close`, `noop`, `upgrade` (Engine.IO), or `connect`, `disconnect`,
    `event`, `ack` (Socket.IO, in a MESSAGE). For `event`: `name` and `args`; for `connect`:
    `data` (the client's `auth` object, or None); `id` is the ack id when the client wants one.
    """

    kind: str
    namespace: str = DEFAULT_NAMESPACE
    data: object = None
    name: str | None = None
    args: list = field(default_factory=list)
    id: int | None = None


_EIO_KINDS = {eio.PING: "ping", eio.PONG: "pong", eio.CLOSE: "close", eio.NOOP: "noop", eio.UPGRADE: "upgrade"}


def decode(frame: str | bytes) -> Inbound:
    if not isinstance(frame, str):
        raise ProtocolError("binary frames are not supported")
    try:
        outer = eio.Packet(encoded_packet=frame)
    except Exception as exc:  # an empty frame, a non-digit type, ...
        raise ProtocolError(f"not an Engine.IO packet: {exc}") from None
    if outer.packet_type in _EIO_KINDS:
        return Inbound(_EIO_KINDS[outer.packet_type], data=outer.data)
    if outer.packet_type != eio.MESSAGE:
        raise ProtocolError(f"unexpected Engine.IO packet type {outer.packet_type}")
    if outer.binary or not isinstance(outer.data, str) or not outer.data:
        raise ProtocolError("binary or empty Socket.IO packets are not supported")
    try:
        inner = sio.Packet(encoded_packet=outer.data)
    except RecursionError:
        raise ProtocolError("packet nested too deeply") from None
    except Exception as exc:
        raise ProtocolError(f"not a Socket.IO packet: {exc}") from None
    if inner.attachment_count or inner.packet_type in (sio.BINARY_EVENT, sio.BINARY_ACK):
        raise ProtocolError("binary attachments are not supported")
    # The same limits as every other JSON input (depth, NUL, numbers a reader can take back);
    # python-socketio's codec also accepts NaN and Infinity, which this refuses.
    try:
        jsonlimits.check(inner.data, path="The packet")
    except jsonlimits.JSONLimitError as exc:
        raise LimitError(exc.message, exc.code) from None
    namespace = inner.namespace or DEFAULT_NAMESPACE
    if inner.packet_type == sio.CONNECT:
        return Inbound("connect", namespace, data=inner.data)
    if inner.packet_type == sio.DISCONNECT:
        return Inbound("disconnect", namespace)
    if inner.packet_type == sio.EVENT:
        data = inner.data
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise ProtocolError("an event is a list whose first item is its name")
        return Inbound("event", namespace, name=data[0], args=data[1:], id=inner.id)
    if inner.packet_type == sio.ACK:
        return Inbound("ack", namespace, data=inner.data, id=inner.id)
    raise ProtocolError(f"unexpected Socket.IO packet type {inner.packet_type}")


# ------------------------------------------------------------------ Engine.IO frames out
def open_frame(sid: str, *, ping_interval: float, ping_timeout: float, max_payload: int) -> str:
    """The handshake; intervals in seconds (the wire wants whole milliseconds)."""
    return eio.Packet(
        eio.OPEN,
        {
            "sid": sid,
            "upgrades": [],
            "pingInterval": int(ping_interval * 1000),
            "pingTimeout": int(ping_timeout * 1000),
            "maxPayload": max_payload,
        },
    ).encode()


def ping_frame() -> str:
    return eio.Packet(eio.PING).encode()


def pong_frame(data=None) -> str:
    return eio.Packet(eio.PONG, data).encode()


def close_frame() -> str:
    return eio.Packet(eio.CLOSE).encode()


def noop_frame() -> str:
    return eio.Packet(eio.NOOP).encode()


# ------------------------------------------------------------------ Socket.IO frames out
def _message(inner: sio.Packet) -> str:
    return eio.Packet(eio.MESSAGE, inner.encode()).encode()


def connect_frame(sid: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    return _message(sio.Packet(sio.CONNECT, {"sid": sid}, namespace=namespace, binary=False))


def connect_error_frame(message: str, data: dict | None = None, namespace: str = DEFAULT_NAMESPACE) -> str:
    body: dict = {"message": message}
    if data is not None:
        body["data"] = data
    return _message(sio.Packet(sio.CONNECT_ERROR, body, namespace=namespace, binary=False))


def event_frame(name: str, *args, namespace: str = DEFAULT_NAMESPACE) -> str:
    return _message(sio.Packet(sio.EVENT, [name, *args], namespace=namespace, binary=False))


def ack_frame(ack_id: int, *args, namespace: str = DEFAULT_NAMESPACE) -> str:
    return _message(sio.Packet(sio.ACK, list(args), namespace=namespace, id=ack_id, binary=False))


def disconnect_frame(namespace: str = DEFAULT_NAMESPACE) -> str:
    return _message(sio.Packet(sio.DISCONNECT, namespace=namespace, binary=False))
