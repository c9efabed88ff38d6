"""The IRCv3 WebSocket transport over real sockets: subprotocols, one line per message, UTF-8, size caps,
the Origin check, and a WebSocket client as a full client of the hub (chat with TCP, flood, SendQ, SASL)."""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, connect_websocket

from multichat_trio.chat import opers
from multichat_trio.ircd.server import ChatServer
from multichat_trio.ircd.websocket import BINARY, MAX_MESSAGE, TEXT, IrcWebSocket, choose_subprotocol

from .conftest import OpenClient, test_config
from .ircclient import IrcClient
from .test_accounts_server import PASSWORD, sasl_register
from .test_opers import CHEAP
from .test_tls import Certs, cap_ls


class ClientSide(trio.abc.Stream):
    """A WebSocket as the CRLF byte stream `IrcClient` reads and writes: one message per line."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.messages: list[str | bytes] = []  # every message received, as it came

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        for line in bytes(data).split(b"\r\n")[:-1]:
            await self.ws.send_message(line.decode())

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        try:
            message = await self.ws.get_message()
        except ConnectionClosed:
            return b""
        self.messages.append(message)
        return (message.encode() if isinstance(message, str) else message) + b"\r\n"

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await self.ws.aclose()


OpenWs = Callable[..., Awaitable[WebSocketConnection]]


@pytest.fixture
async def server(nursery: trio.Nursery) -> ChatServer:
    return await start(nursery)


async def start(nursery: trio.Nursery, **overrides: Any) -> ChatServer:
    server = ChatServer(test_config(**overrides), irc_ws_port=0)
    return await nursery.start(server.serve)


@pytest.fixture
async def open_ws(nursery: trio.Nursery) -> AsyncIterator[OpenWs]:
    opened: list[WebSocketConnection] = []

    async def open_one(port: int, subprotocols: list[str] | None = None, origin: str | None = None) -> Any:
        headers = [(b"Origin", origin.encode())] if origin else None
        ws = await connect_websocket(
            nursery, "127.0.0.1", port, "/", use_ssl=False, subprotocols=subprotocols, extra_headers=headers
        )
        opened.append(ws)
        return ws

    yield open_one
    for ws in opened:
        with contextlib.suppress(Exception):
            await trio.aclose_forcefully(ws._stream)  # no close handshake at teardown


async def ws_client(open_ws: OpenWs, server: ChatServer, subprotocols: list[str] | None = None) -> IrcClient:
    ws = await open_ws(server.irc_ws_port, [TEXT] if subprotocols is None else subprotocols)
    return IrcClient(ClientSide(ws))  # type: ignore[arg-type]  # any trio Stream will do


def test_the_first_known_subprotocol_the_client_offers_wins() -> None:
    assert choose_subprotocol([TEXT, BINARY]) == TEXT
    assert choose_subprotocol([BINARY, TEXT]) == BINARY
    assert choose_subprotocol(["x.example", BINARY]) == BINARY
    assert choose_subprotocol(["x.example"]) is None
    assert choose_subprotocol([]) is None


@pytest.mark.parametrize(
    ("offered", "chosen", "kind"),
    [
        ([TEXT], TEXT, str),
        ([BINARY], BINARY, bytes),
        ([TEXT, BINARY], TEXT, str),
        ([BINARY, TEXT], BINARY, bytes),
        ([], None, str),
        (["unknown.example"], None, str),
    ],
)
async def test_subprotocol_negotiation(
    server: ChatServer, open_ws: OpenWs, offered: list[str], chosen: str | None, kind: type
) -> None:
    ws = await open_ws(server.irc_ws_port, offered)
    assert ws.subprotocol == chosen
    client = IrcClient(ClientSide(ws))  # type: ignore[arg-type]
    await client.register("webby")
    side = client.stream
    assert isinstance(side, ClientSide)
    assert side.messages and all(isinstance(message, kind) for message in side.messages)


async def test_one_line_per_message_without_crlf(server: ChatServer, open_ws: OpenWs) -> None:
    client = await ws_client(open_ws, server)
    await client.register("webby")
    side = client.stream
    assert isinstance(side, ClientSide)
    assert len(side.messages) > 3  # the welcome burst: many lines, many messages
    for message in side.messages:
        assert isinstance(message, str) and "\r" not in message and "\n" not in message


async def test_a_websocket_and_a_tcp_client_chat(server: ChatServer, open_ws: OpenWs, open_client: OpenClient) -> None:
    web = await ws_client(open_ws, server)
    tcp = await open_client(server.port)
    await web.register("webby")
    await tcp.register("tcpy")
    await web.send("JOIN #room")
    await tcp.send("JOIN #room")
    await web.expect("JOIN", lambda m: m.source is not None and m.source.startswith("tcpy!"))
    await web.send("PRIVMSG #room :hello from the browser")
    assert (await tcp.expect("PRIVMSG")).params == ("#room", "hello from the browser")
    await tcp.send("PRIVMSG webby :héllo back")
    assert (await web.expect("PRIVMSG")).params == ("webby", "héllo back")


async def test_invalid_utf8_in_a_binary_message_is_discarded_not_relayed(server: ChatServer, open_ws: OpenWs) -> None:
    sender = await ws_client(open_ws, server, [BINARY])
    reader = await ws_client(open_ws, server, [TEXT])
    await sender.register("sender")
    await reader.register("reader")
    await sender.stream.ws.send_message(b"PRIVMSG reader :caf\xe9 \xff")  # type: ignore[attr-defined]
    assert (await sender.expect("FAIL")).params[:2] == ("*", "INVALID_UTF8")
    await sender.send("PRIVMSG reader :caf\u00e9")
    assert (await reader.expect("PRIVMSG")).params == ("reader", "caf\u00e9")  # only the valid one came


def test_outgoing_text_frames_are_valid_utf8() -> None:
    sent: list[str | bytes] = []

    class Socket:
        async def send_message(self, message: str | bytes) -> None:
            sent.append(message)

    adapter = IrcWebSocket(Socket(), TEXT, None)  # type: ignore[arg-type]
    trio.run(adapter.send_all, b":a PRIVMSG b :caf\xe9\r\n:a PRIVMSG b :ok\r\n:a PRIV")
    assert sent == [":a PRIVMSG b :caf\ufffd", ":a PRIVMSG b :ok"]  # the unfinished line waits for its end


async def test_a_cr_or_lf_inside_a_message_ends_the_connection(server: ChatServer, open_ws: OpenWs) -> None:
    client = await ws_client(open_ws, server)
    await client.register("webby")
    await client.stream.ws.send_message("PRIVMSG webby :one\r\nQUIT :smuggled")  # type: ignore[attr-defined]
    seen = await client.wait_closed()
    assert not any(m.command == "PRIVMSG" for m in seen)
    assert client.stream.ws.closed.code == 1008  # type: ignore[attr-defined]


async def test_an_overlong_line_gets_417_and_an_oversize_message_is_refused(
    server: ChatServer, open_ws: OpenWs
) -> None:
    client = await ws_client(open_ws, server)
    await client.register("webby")
    await client.send("PRIVMSG webby :" + "x" * 600)
    assert (await client.expect("417")).command == "417"
    tags = "@+draft/reply=" + "r" * 4081 + " "  # a 4096-byte tags part: the most a client may send
    await client.send(tags + "PRIVMSG webby :" + "x" * 496)  # and 511 bytes after it: one too many
    assert (await client.expect("417")).command == "417"
    await client.send(tags + "PRIVMSG webby :" + "x" * 495)  # the longest line there is
    echoed = await client.expect("PRIVMSG")  # cut to 512 bytes with our source in front, as every line is
    assert echoed.params[0] == "webby" and 400 < len(echoed.params[1]) < 495 and set(echoed.params[1]) == {"x"}
    await client.sync()  # still connected
    await client.stream.ws.send_message("PRIVMSG webby :" + "x" * MAX_MESSAGE)  # type: ignore[attr-defined]
    await client.wait_closed()
    assert client.stream.ws.closed.code == 1009  # type: ignore[attr-defined]


async def test_a_foreign_origin_is_refused(server: ChatServer, open_ws: OpenWs, nursery: trio.Nursery) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", server.irc_ws_port)
    async with stream:
        upgrade = (
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: text.ircv3.net\r\nOrigin: http://evil.example\r\n\r\n"
        )
        await stream.send_all(upgrade.encode())
        with trio.fail_after(5):
            answer = await stream.receive_some(4096)
    assert answer.startswith(b"HTTP/1.1 403")
    # No Origin (no browser) and a listed one are accepted.
    await (await ws_client(open_ws, server)).register("script")
    listed = await start(nursery, web_origins="http://chat.example:8000")
    ws = await open_ws(listed.irc_ws_port, [TEXT], origin="http://chat.example:8000")
    await IrcClient(ClientSide(ws)).register("browser")  # type: ignore[arg-type]


async def test_a_flooding_websocket_client_is_cut_off(
    server: ChatServer, open_ws: OpenWs, open_client: OpenClient
) -> None:
    observer = await open_client(server.port)
    await observer.register("observer")
    await observer.send("JOIN #room")
    await observer.sync()
    flooder = await ws_client(open_ws, server)
    await flooder.register("flooder")
    await flooder.send("JOIN #room")
    await observer.expect("JOIN")
    with trio.fail_after(10):
        with contextlib.suppress(trio.BrokenResourceError, ConnectionClosed):  # closed while we still send
            await flooder.send(*[f"PRIVMSG #room :{n}" for n in range(2000)])
    seen = await observer.collect_until("QUIT")
    assert seen[-1].params == ("Excess Flood",)
    assert sum(m.command == "PRIVMSG" for m in seen) <= 20


async def test_a_flood_before_registering_is_cut_off_and_told_why(server: ChatServer, open_ws: OpenWs) -> None:
    flooder = await ws_client(open_ws, server)
    with trio.fail_after(10):
        with contextlib.suppress(trio.BrokenResourceError, ConnectionClosed):
            await flooder.send(*["PING :x"] * 2000)
    seen = await flooder.wait_closed()
    assert seen[-1].command == "ERROR" and seen[-1].params == ("Excess Flood",)
    assert sum(m.command == "PONG" for m in seen) <= 10


async def test_a_websocket_client_that_reads_nothing_exceeds_its_sendq(nursery: trio.Nursery, open_ws: OpenWs) -> None:
    server = await start(nursery, flood_rate=0, sendq=4096)
    slow = await ws_client(open_ws, server)
    await slow.register("slow")
    await slow.send("JOIN #room")
    await slow.sync()
    talker = await ws_client(open_ws, server)
    await talker.register("talker")
    await talker.send("JOIN #room")
    with trio.fail_after(10):
        sent = 0
        while "slow" in server.hub.nicks:  # slow never reads: its queue grows until the hub drops it
            await talker.send(*[f"PRIVMSG #room :{'y' * 400} {sent + k}" for k in range(50)])
            sent += 50
            await talker.sync()
    side = talker.stream
    assert isinstance(side, ClientSide)
    assert any(str(m).startswith(":slow!") and "QUIT :SendQ exceeded" in str(m) for m in side.messages)


async def test_registration_with_sasl_over_a_websocket(
    monkeypatch: pytest.MonkeyPatch, nursery: trio.Nursery, open_ws: OpenWs
) -> None:
    monkeypatch.setattr(opers, "hash_password", CHEAP.hash)
    server = await start(nursery, flood_rate=0)
    alice = await ws_client(open_ws, server)
    await alice.register("alice")
    await alice.send(f"REGISTER * * {PASSWORD}")
    await alice.expect("900")
    await alice.send("QUIT")
    await alice.wait_closed()
    again = await ws_client(open_ws, server)
    assert "903" in await sasl_register(again, "alice", PASSWORD)
    assert server.hub.nicks["alice"].account == "alice"


async def test_wss_under_tls_with_a_client_certificate(nursery: trio.Nursery, tmp_path: Path) -> None:
    certs = Certs(tmp_path)
    server = await start(nursery, **certs.settings(tls_client_ca=str(certs.write_ca())))
    mine = certs.ca.issue_cert("alice@example.org")
    context = certs.client_context()
    mine.configure_cert(context)
    ws = await connect_websocket(nursery, "127.0.0.1", server.irc_ws_port, "/", use_ssl=context, subprotocols=[TEXT])
    client = IrcClient(ClientSide(ws))  # type: ignore[arg-type]
    try:
        await client.register("alice")
        (alice,) = server.hub.clients
        der = ssl.PEM_cert_to_DER_cert(mine.cert_chain_pems[0].bytes().decode())
        assert alice.tls and alice.certfp == hashlib.sha256(der).hexdigest()
    finally:
        await trio.aclose_forcefully(ws._stream)


async def test_a_websocket_client_is_offered_no_sts(nursery: trio.Nursery, tmp_path: Path) -> None:
    """IRCv3 STS is IRC over TCP's: a page cannot move its socket to the TLS port, and a policy learnt over
    WSS would send the client's later TLS connections to the WebSocket's port."""
    certs = Certs(tmp_path)
    server = await start(nursery, **certs.settings(sts_duration=3600))
    tcp = await IrcClient.connect(server.port)
    ws = await connect_websocket(
        nursery, "127.0.0.1", server.irc_ws_port, "/", use_ssl=certs.client_context(), subprotocols=[TEXT]
    )
    client = IrcClient(ClientSide(ws))  # type: ignore[arg-type]
    try:
        assert f"sts=port={server.tls_port}" in await cap_ls(tcp)  # plain TCP still is told where TLS is
        caps = await cap_ls(client)
        assert "sasl=PLAIN,EXTERNAL" in caps and not [cap for cap in caps if cap.startswith("sts")]
    finally:
        await trio.aclose_forcefully(ws._stream)
        await tcp.aclose()


async def test_a_silent_websocket_client_gets_a_ping_then_a_ping_timeout(
    nursery: trio.Nursery, open_ws: OpenWs, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start(nursery, ping_interval=60, ping_timeout=30)
    client = await ws_client(open_ws, server)
    client.timeout = 1000  # virtual seconds
    await client.register("quiet")
    seen = await client.wait_closed()
    assert [m.command for m in seen[-2:]] == ["PING", "ERROR"]
    assert seen[-1].params == ("Ping timeout: 30 seconds",)


async def test_websocket_and_tcp_connections_share_the_per_address_limit(
    nursery: trio.Nursery, open_ws: OpenWs, open_client: OpenClient
) -> None:
    server = await start(nursery, max_clients_per_ip=2)
    await (await ws_client(open_ws, server)).register("one")
    await (await open_client(server.port)).register("two")
    third = await ws_client(open_ws, server)
    seen = await third.wait_closed()
    assert [str(m.params) for m in seen] == ["('Too many connections from your host',)"]


async def test_a_websocket_still_upgrading_counts_against_the_client_cap(
    nursery: trio.Nursery, open_client: OpenClient
) -> None:
    server = await start(nursery, max_clients=1)
    async with await trio.open_tcp_stream("127.0.0.1", server.irc_ws_port):  # connects, never upgrades
        with trio.fail_after(5):
            while server._upgrading == 0:
                await trio.sleep(0.01)
        refused = await open_client(server.port)
        assert [m.params for m in await refused.wait_closed()] == [("Server is full",)]
