"""Where a user's webhook URL may point (checked at save and again before every attempt).

    target = check_url(url)   -> Target(scheme, host, port, address, path)   or raises Refused

The host is resolved once here and the attempt connects to that address (`Target.address`),
with the name only in the Host header and TLS's SNI/certificate check: a name that resolves to a
public address at the check and to a private one a moment later (DNS rebinding) cannot move
the connection. Refused: any scheme but http(s), user info in the URL, a port outside
WEBHOOK_ALLOWED_PORTS, and a host with ANY address that is not globally routable (loopback,
private, link-local with the cloud metadata address, CGNAT, multicast, reserved, unspecified)
including the IPv4 forms hidden in IPv6 (mapped, 6to4, Teredo) and the numeric spellings the
resolver accepts (`2130706433`, `0x7f.1`). An operator lets self-hosted receivers through with
WEBHOOK_ALLOWED_NETWORKS (CIDRs); an address in it may use any port.

Written on the standard library's `ipaddress` rather than requests-hardened: that library
filters at connect time inside its own session, while here the same decision is needed at save
(to answer 400) and the address must be pinned for the later connection, which it does not expose.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class Refused(ValueError):
    """The URL may not be called; the message says why (shown to the user)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name as written (Host header, SNI)
    port: int
    address: str  # the pinned address
    path: str  # path and query

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _allowed_networks() -> list:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.WEBHOOK_ALLOWED_NETWORKS]


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64: the last 32 bits are the IPv4 target
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def public(ip) -> bool:
    """Whether `ip` is a globally routable unicast address (and so is any IPv4 inside it)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None and not public(inner):
            return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved and not ip.is_unspecified


def address_allowed(ip) -> tuple[bool, bool]:
    """(allowed, by the operator's allow-list)."""
    for network in _allowed_networks():
        if ip.version == network.version and ip in network:
            return True, True
    return public(ip), False


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"The host {host!r} does not resolve.") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_url(url: str) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused("Not a valid URL.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused("Only http and https URLs can receive webhooks.")
    if parts.username is not None or parts.password is not None:
        raise Refused("Credentials in the URL are not allowed.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Refused("The URL has no host.")
    port = port or (443 if scheme == "https" else 80)
    addresses = resolve(host, port)
    if not addresses:
        raise Refused(f"The host {host!r} does not resolve.")
    by_operator = True
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        allowed, listed = address_allowed(ip)
        if not allowed:
            raise Refused(f"The host {host!r} resolves to an address that may not be called.")
        by_operator = by_operator and listed
    if not by_operator and port not in settings.WEBHOOK_ALLOWED_PORTS:
        raise Refused(f"Port {port} is not allowed; use one of {sorted(settings.WEBHOOK_ALLOWED_PORTS)}.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, address=addresses[0].split("%", 1)[0], path=path)
