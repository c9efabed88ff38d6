"""The PROXY protocol header from a trusted load balancer (`--proxy-from`): parsed sans-IO, then on a real socket."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multichat_trio.protocol.proxy import V2_SIGNATURE, Parsed, ProxyError, ProxyHeader

from .conftest import Connect, OpenClient, StartServer
from .ircclient import IrcClient

V1 = b"PROXY TCP4 203.0.113.9 10.0.0.1 40000 6667\r\n"


def v2(address: str, *, command: int = 1) -> bytes:
    ip = ipaddress.ip_address(address)
    family, body = (
        (0x11, ip.packed + bytes(4) + b"\x9c\x40\x1a\x0b")
        if ip.version == 4
        else (0x21, ip.packed + bytes(16) + bytes(4))
    )
    return V2_SIGNATURE + bytes([0x20 | command, family]) + len(body).to_bytes(2, "big") + body


def feed_all(*chunks: bytes) -> Parsed | None:
    header = ProxyHeader()
    result = None
    for chunk in chunks:
        result = header.feed(chunk)
    return result


def test_version_1_and_2_name_the_client_and_keep_what_followed() -> None:
    assert feed_all(V1 + b"NICK a\r\n") == Parsed("203.0.113.9", b"NICK a\r\n")
    assert feed_all(b"PROXY TCP6 2001:db8::1 ::1 1 2\r\n") == Parsed("2001:db8::1", b"")
    assert feed_all(b"PROXY UNKNOWN\r\nhi") == Parsed(None, b"hi")
    assert feed_all(v2("198.51.100.7") + b"CAP LS") == Parsed("198.51.100.7", b"CAP LS")
    assert feed_all(v2("2001:db8::2")) == Parsed("2001:db8::2", b"")
    assert feed_all(v2("198.51.100.7", command=0)) == Parsed(None, b"")  # LOCAL: a health check


@given(st.sampled_from([V1, v2("198.51.100.7"), v2("2001:db8::2")]), st.data())
def test_a_header_split_anywhere_reads_the_same(whole: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(1, len(whole)))
    header = ProxyHeader()
    first = header.feed(whole[:cut])
    result = first if cut == len(whole) else header.feed(whole[cut:])
    assert first is None or cut == len(whole)
    assert result == feed_all(whole)


@pytest.mark.parametrize(
    "data",
    [
        b"NICK alice\r\n",
        b"PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n",
        b"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 10.0.0.1 1 99999\r\n",
        b"PROXY " + b"x" * 120,
        V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12),
        V2_SIGNATURE + b"\x21\x11\x00\x04" + bytes(4),
    ],
)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ProxyError):
        ProxyHeader().feed(data)


async def test_a_balancer_s_client_is_known_by_its_real_address(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(proxy_from="127.0.0.0/8", max_clients_per_ip=1)
    alice = await open_client(server.port)
    await alice.send(V1.rstrip(b"\r\n"), "NICK alice", "USER u 0 * :A")
    welcome = await alice.expect("001")
    assert welcome.params[1].endswith("alice!u@203.0.113.9")
    bob = await IrcClient.connect(server.port)  # also through the balancer: the per-address limit is bob's own
    try:
        await bob.send(v2("198.51.100.7") + b"NICK bob", "USER u 0 * :B")
        assert (await bob.expect("001")).params[1].endswith("bob!u@198.51.100.7")
        stray = await open_client(server.port)
        await stray.send("NICK mallory", "USER u 0 * :M")  # no header from a balancer's address: closed
        assert await stray.wait_closed() == []
    finally:
        await bob.aclose()


async def test_a_header_from_anyone_else_is_just_a_bad_line(connect: Connect) -> None:
    client = await connect()
    await client.send(V1.rstrip(b"\r\n"), "NICK alice", "USER u 0 * :A")
    welcome = await client.expect("001")
    assert welcome.params[1].endswith("alice!u@127.0.0.1")
