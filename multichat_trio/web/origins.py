"""Which web pages may read the live feed: the monitor page's own origin, plus `--web-origins` (sans-IO).

A browser sends `Origin` with every WebSocket upgrade, and lets any website open one: without a
check, a page on another site, opened in a browser that can reach the monitor, would read the room.
The monitor page's own origin is `http://<address the browser reached us at>:<HTTP port>`: the
address the connection arrived on (for a loopback address also `localhost` and the other loopback
spellings), so a wildcard bind needs no name, and a DNS name pointed at us by another site does not
pass. A page served under a name (or behind a proxy) is allowed with `--web-origins`. An upgrade
without `Origin` comes from no browser (a script, a CLI tool) and is accepted. The HTTP side checks
the name in `Host` the same way (`allows_host`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

#: An origin as compared: scheme, host (lower case, IPv6 without brackets), port.
Origin = tuple[str, str, int]

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def parse_origin(text: str) -> Origin | None:
    """`http://Name:8000` is ("http", "name", 8000); None for `null` or anything but scheme://host[:port]."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def parse_origins(listed: str) -> frozenset[Origin]:
    """The `--web-origins` comma list; a bad entry is a setup error (ValueError)."""
    origins: set[Origin] = set()
    for entry in (item.strip() for item in listed.split(",")):
        if not entry:
            continue
        parsed = parse_origin(entry)
        if parsed is None:
            raise ValueError(f"setting web_origins: {entry!r} is not an origin like http://chat.example:8000")
        origins.add(parsed)
    return frozenset(origins)


def own_hosts(local_address: str) -> frozenset[str]:
    """The names a page of ours has in its origin, given the address a connection arrived on."""
    try:
        address = ipaddress.ip_address(local_address.split("%", 1)[0])
    except ValueError:
        return frozenset({local_address.lower()})
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    if address.is_loopback:
        return LOOPBACK_NAMES | {str(address)}
    return frozenset({str(address)})


@dataclass
class OriginPolicy:
    """The check done before each feed upgrade. `http_port` is set once the page's port is bound."""

    extra: frozenset[Origin] = frozenset()
    http_port: int | None = None
    #: The page's scheme: "https" when the monitor serves HTTPS.
    scheme: str = "http"

    def allows(self, origin: str | None, local_address: str) -> bool:
        """True for no `Origin` at all, a listed origin, or the monitor page's own origin."""
        if origin is None:
            return True
        parsed = parse_origin(origin)
        if parsed is None:
            return False
        if parsed in self.extra:
            return True
        scheme, host, port = parsed
        return scheme == self.scheme and port == self.http_port and host in own_hosts(local_address)

    def allows_host(self, host_header: str | None, local_address: str) -> bool:
        """The HTTP side's check against DNS rebinding: the `Host` a request names must be ours too.

        A page of another site whose name was pointed at this machine is same-origin with the
        answers it fetches: only the name in `Host` tells it apart. No `Host`: no browser.
        """
        if host_header is None:
            return True
        try:
            host = urlsplit("//" + host_header.strip()).hostname
        except ValueError:
            return False
        return host is not None and (host in own_hosts(local_address) or any(host == h for _, h, _ in self.extra))
