"""Interop over TLS: jaraco's `irc` library, wrapping its socket with the standard library's `ssl`,
registers on the TLS port (verified by a test CA) and talks with a plain-TCP client.

The library is blocking, so its event loop runs in `trio.to_thread` for a bounded time.
"""

from __future__ import annotations

import ssl
import time
from functools import partial
from pathlib import Path
from typing import Any

import irc.client
import irc.connection
import trio

from .conftest import OpenClient, StartServer
from .test_tls import Certs


def _run_library_client(port: int, context: ssl.SSLContext, seen: dict[str, Any], deadline: float) -> None:
    reactor = irc.client.Reactor()
    factory = irc.connection.Factory(wrapper=partial(context.wrap_socket, server_hostname="127.0.0.1"))
    connection = reactor.server().connect("127.0.0.1", port, "tlsbot", ircname="TLS Bot", connect_factory=factory)
    seen["cipher"] = connection.socket.version()

    def on_join(conn: Any, event: Any) -> None:
        if irc.client.NickMask(event.source).nick == "tlsbot":
            conn.privmsg("alice", "hello over TLS")

    reactor.add_global_handler("welcome", lambda c, e: seen.__setitem__("welcome", e.arguments[0]))
    reactor.add_global_handler("join", on_join)
    reactor.add_global_handler("privmsg", lambda c, e: seen.__setitem__("privmsg", e.arguments[0]))
    try:
        while time.monotonic() < deadline and "privmsg" not in seen:
            reactor.process_once(0.05)
        connection.quit("done")
    finally:
        connection.close()


async def test_a_client_library_registers_and_chats_over_tls(
    start_server: StartServer, open_client: OpenClient, tmp_path: Path
) -> None:
    certs = Certs(tmp_path)
    server = await start_server(**certs.settings())
    assert server.tls_port is not None
    alice = await open_client(server.port)
    await alice.register("alice")
    seen: dict[str, Any] = {}
    run = partial(_run_library_client, server.tls_port, certs.client_context(), seen, time.monotonic() + 15)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, run)
        said = await alice.expect("PRIVMSG", lambda m: m.params[0] == "alice")
        assert [c.tls for c in server.hub.clients if c.nick == "tlsbot"] == [True]
        await alice.send("PRIVMSG tlsbot :hello back in plain")
    assert said.source is not None and said.source.startswith("tlsbot!") and said.params[1] == "hello over TLS"
    assert "Welcome" in seen["welcome"] and seen["privmsg"] == "hello back in plain"
    assert seen["cipher"] in ("TLSv1.2", "TLSv1.3")


def _log_in_with_sasl(port: int, context: ssl.SSLContext, seen: dict[str, Any], deadline: float) -> None:
    reactor = irc.client.Reactor()
    factory = irc.connection.Factory(wrapper=partial(context.wrap_socket, server_hostname="127.0.0.1"))
    connection = reactor.server().connect(
        "127.0.0.1", port, "alice", password=PASSWORD, sasl_login="alice", connect_factory=factory
    )
    reactor.add_global_handler("saslsuccess", lambda c, e: seen.__setitem__("sasl", e.arguments))
    reactor.add_global_handler("login_failed", lambda c, e: seen.__setitem__("failed", e.arguments))
    reactor.add_global_handler("welcome", lambda c, e: seen.__setitem__("welcome", c.get_nickname()))
    try:
        while time.monotonic() < deadline and "welcome" not in seen and "failed" not in seen:
            reactor.process_once(0.05)
        connection.quit("done")
    finally:
        connection.close()


PASSWORD = "library-password"


async def test_a_client_library_logs_in_with_sasl_over_tls(
    start_server: StartServer, open_client: OpenClient, tmp_path: Path
) -> None:
    certs = Certs(tmp_path)
    server = await start_server(**certs.settings())
    assert server.tls_port is not None
    first = await open_client(server.port)  # the account exists: registered over plain TCP, then gone
    await first.register("alice")
    await first.send(f"REGISTER * * {PASSWORD}", "QUIT")
    assert (await first.expect("REGISTER")).params[:2] == ("SUCCESS", "alice")
    await first.wait_closed()
    seen: dict[str, Any] = {}
    run = partial(_log_in_with_sasl, server.tls_port, certs.client_context(), seen, time.monotonic() + 15)
    await trio.to_thread.run_sync(run)
    assert "failed" not in seen and seen["welcome"] == "alice"
    assert "SASL authentication successful" in " ".join(seen["sasl"])
