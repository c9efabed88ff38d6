"""The PROXY protocol header (HAProxy's, versions 1 and 2), sans-IO: a load balancer's word on who connected.

A balancer in front of the nodes (docs/cluster.md) opens each connection with one header naming the
client's address, then relays the bytes. Only a connection from a trusted balancer (`--proxy-from`) may
send one, and it must: `ProxyHeader.feed` says whether the header is complete, what it named and what
followed it, or raises `ProxyError` for anything else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
#: Version 1's longest header (the specification's 107 bytes, CR LF included).
V1_MAX = 107
#: Version 2's address block at most (unix sockets are 216 bytes; TLVs past the addresses are skipped).
V2_MAX = 16 + 1024


class ProxyError(ValueError):
    """Not a PROXY header: the connection is closed."""


@dataclass(frozen=True, slots=True)
class Parsed:
    #: The client's address, or None when the balancer speaks for itself (LOCAL, UNKNOWN: a health check).
    address: str | None
    #: The bytes after the header: the client's first.
    rest: bytes


class ProxyHeader:
    """Feed it what the connection receives until it returns the parsed header."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> Parsed | None:
        self._buffer += data
        buffer = self._buffer
        if buffer.startswith(V2_SIGNATURE[: len(buffer)]) and len(buffer) < len(V2_SIGNATURE):
            return None
        if buffer.startswith(V2_SIGNATURE):
            return _v2(buffer)
        if not b"PROXY ".startswith(buffer[:6]):
            raise ProxyError("no PROXY header")
        end = buffer.find(b"\r\n")
        if end < 0:
            if len(buffer) >= V1_MAX:
                raise ProxyError("PROXY header too long")
            return None
        return _v1(buffer[:end], buffer[end + 2 :])


def _v1(line: bytes, rest: bytes) -> Parsed:
    words = line.decode("ascii", "replace").split(" ")
    if len(words) >= 2 and words[1] == "UNKNOWN":
        return Parsed(None, rest)
    if len(words) != 6 or words[1] not in ("TCP4", "TCP6"):
        raise ProxyError("malformed PROXY v1 header")
    try:
        address = ipaddress.ip_address(words[2])
        ipaddress.ip_address(words[3])
        if not all(0 <= int(port) <= 65535 and port.isdigit() for port in words[4:]):
            raise ValueError
    except ValueError:
        raise ProxyError("malformed PROXY v1 addresses") from None
    if address.version != (4 if words[1] == "TCP4" else 6):
        raise ProxyError("PROXY v1 address of the wrong family")
    return Parsed(str(address), rest)


def _v2(buffer: bytes) -> Parsed | None:
    if len(buffer) < 16:
        return None
    version_command, family, length = buffer[12], buffer[13], int.from_bytes(buffer[14:16], "big")
    if version_command >> 4 != 2 or version_command & 0xF not in (0, 1) or length > V2_MAX:
        raise ProxyError("malformed PROXY v2 header")
    if len(buffer) < 16 + length:
        return None
    body, rest = buffer[16 : 16 + length], buffer[16 + length :]
    if version_command & 0xF == 0:  # LOCAL: the balancer's own connection (a health check)
        return Parsed(None, rest)
    if family >> 4 == 1 and length >= 12:
        return Parsed(str(ipaddress.IPv4Address(body[:4])), rest)
    if family >> 4 == 2 and length >= 36:
        return Parsed(str(ipaddress.IPv6Address(body[:16])), rest)
    if family >> 4 in (0, 3):  # UNSPEC or a unix socket: no address to take
        return Parsed(None, rest)
    raise ProxyError("malformed PROXY v2 addresses")
