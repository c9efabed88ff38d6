"""TLS on the chat listener: handshake with a test CA, CERTFP, STS, certificate reload, startup errors."""

from __future__ import annotations

import hashlib
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme
from argon2 import PasswordHasher

from multichat_trio.__main__ import main
from multichat_trio.config import OperEntry, RelayConfig, StartupError
from multichat_trio.ircd.server import ChatServer
from multichat_trio.relay.proxy import Relay, RelayLimits
from multichat_trio.tls import server_context

from .conftest import RELAY_SECRET, StartServer, test_config
from .ircclient import IrcClient
from .processes import TLS as TLS_BANNER
from .processes import read_port


class Certs:
    """A test CA and a server certificate for 127.0.0.1/localhost, written to PEM files under `path`."""

    def __init__(self, path: Path, name: str = "server") -> None:
        self.ca = trustme.CA()
        self.path = path
        self.cert = path / f"{name}.pem"
        self.key = path / f"{name}.key"
        self.issue_server()

    def issue_server(self) -> None:
        issued = self.ca.issue_cert("127.0.0.1", "localhost")
        issued.cert_chain_pems[0].write_to_path(str(self.cert))
        for blob in issued.cert_chain_pems[1:]:
            blob.write_to_path(str(self.cert), append=True)
        issued.private_key_pem.write_to_path(str(self.key))

    def write_ca(self, name: str = "ca.pem") -> Path:
        path = self.path / name
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {"tls_port": 0, "tls_cert": str(self.cert), "tls_key": str(self.key), **overrides}


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return Certs(tmp_path)


async def tls_client(port: int, context: ssl.SSLContext, host: str = "127.0.0.1") -> IrcClient:
    tcp = await trio.open_tcp_stream(host, port)
    stream = trio.SSLStream(tcp, context, server_hostname=host, https_compatible=True)  # EOF without close_notify
    try:
        await stream.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return IrcClient(stream)  # type: ignore[arg-type]  # any trio stream will do


async def cap_ls(client: IrcClient) -> list[str]:
    await client.send("CAP LS 302")
    reply = await client.expect("CAP")
    return reply.params[-1].split()


async def test_a_client_registers_over_tls_verified_by_the_test_ca(start_server: StartServer, certs: Certs) -> None:
    server = await start_server(**certs.settings())
    assert server.tls_port and server.tls_port != server.port
    client = await tls_client(server.tls_port, certs.client_context())
    try:
        welcome = await client.register("alice")
        assert any(m.command == "001" for m in welcome)
        stream = client.stream
        assert isinstance(stream, trio.SSLStream)
        assert stream.version() in ("TLSv1.2", "TLSv1.3") and stream.compression() is None
        (alice,) = server.hub.clients
        assert alice.tls and alice.certfp is None  # no client certificate requested without --tls-client-ca
    finally:
        await client.stream.aclose()


async def test_connections_still_in_their_handshake_count_and_are_dropped_at_the_registration_deadline(
    start_server: StartServer, certs: Certs, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(**certs.settings(max_clients_per_ip=2, register_timeout=20))
    assert server.tls_port is not None
    silent = [await trio.open_tcp_stream("127.0.0.1", server.tls_port) for _ in range(2)]
    try:
        await trio.testing.wait_all_tasks_blocked()
        assert len(server.hub.clients) == 2
        refused = await tls_client(server.tls_port, certs.client_context())
        (error,) = await refused.wait_closed()  # told why, encrypted
        await refused.stream.aclose()
        assert error.command == "ERROR" and error.params[0].startswith("Too many connections")
        with trio.fail_after(30):  # virtual seconds: the deadline is 20
            for stream in silent:
                while await stream.receive_some(4096):
                    pass
        assert not server.hub.clients
        late = await tls_client(server.tls_port, certs.client_context())
        late.timeout = 60
        await late.register("late")
        await late.stream.aclose()
    finally:
        for stream in silent:
            await stream.aclose()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_tls_below_1_2_is_refused(start_server: StartServer, certs: Certs) -> None:
    server = await start_server(**certs.settings())
    assert server.tls_port is not None
    old = certs.client_context()
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(trio.BrokenResourceError):
        await tls_client(server.tls_port, old)


async def test_a_client_certificate_gives_its_sha256_fingerprint(start_server: StartServer, certs: Certs) -> None:
    server = await start_server(**certs.settings(tls_client_ca=str(certs.write_ca())))
    assert server.tls_port is not None
    mine = certs.ca.issue_cert("alice@example.org")
    context = certs.client_context()
    mine.configure_cert(context)
    client = await tls_client(server.tls_port, context)
    try:
        await client.register("alice")
        (alice,) = server.hub.clients
        der = ssl.PEM_cert_to_DER_cert(mine.cert_chain_pems[0].bytes().decode())
        assert alice.certfp == hashlib.sha256(der).hexdigest()
    finally:
        await client.stream.aclose()


async def test_a_client_without_certificate_still_connects_when_they_are_requested(
    start_server: StartServer, certs: Certs
) -> None:
    server = await start_server(**certs.settings(tls_client_ca=str(certs.write_ca())))
    assert server.tls_port is not None
    client = await tls_client(server.tls_port, certs.client_context())
    try:
        await client.register("bob")
        assert [c.certfp for c in server.hub.clients] == [None]
    finally:
        await client.stream.aclose()


async def test_sts_points_plain_clients_to_the_tls_port_and_tells_tls_clients_a_duration(
    start_server: StartServer, open_client: Any, certs: Certs
) -> None:
    server = await start_server(**certs.settings(sts_duration=3600))
    assert server.tls_port is not None
    plain = await open_client(server.port)
    assert f"sts=port={server.tls_port}" in await cap_ls(plain)
    secure = await tls_client(server.tls_port, certs.client_context())
    try:
        assert "sts=duration=3600" in await cap_ls(secure)
    finally:
        await secure.stream.aclose()
    await plain.send("CAP REQ :sts")  # not a capability to request (IRCv3 STS)
    assert (await plain.expect("CAP")).params[1] == "NAK"


async def test_no_sts_without_tls(server: ChatServer, open_client: Any) -> None:
    client = await open_client(server.port)
    assert not [cap for cap in await cap_ls(client) if cap.startswith("sts")]


async def test_rehash_reloads_the_certificate_while_a_client_stays_connected(
    start_server: StartServer, certs: Certs, tmp_path: Path
) -> None:
    server = await start_server(**certs.settings())
    assert server.tls_port is not None
    server.hub.reload = lambda: server.config
    first = certs.client_context()
    staying = await tls_client(server.tls_port, first)
    try:
        await staying.register("stay")
        certs.ca = trustme.CA()  # a new certificate from another CA, in the same files
        certs.issue_server()
        report = await server.rehash()
        assert "TLS certificate reloaded" in report
        await staying.sync()  # still connected, on its old session
        with pytest.raises(trio.BrokenResourceError):  # new handshakes present the new certificate
            await tls_client(server.tls_port, first)
        fresh = await tls_client(server.tls_port, certs.client_context())
        await fresh.register("fresh")
        await fresh.stream.aclose()
        await staying.sync()
    finally:
        await staying.stream.aclose()


async def test_the_rehash_command_reloads_and_a_broken_certificate_keeps_the_old_one(
    start_server: StartServer, certs: Certs, open_client: Any
) -> None:
    admin = OperEntry("admin", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("hunter2"))
    server = await start_server(**certs.settings(opers=(admin,)))
    assert server.tls_port is not None
    server.hub.reload = lambda: server.config
    oper = await open_client(server.port)
    await oper.register("oper")
    await oper.send("OPER admin hunter2")
    await oper.expect("381")
    certs.ca = trustme.CA()
    certs.issue_server()
    await oper.send("REHASH")
    assert (await oper.expect("NOTICE")).params[-1] == "Rehashed: nothing changed; TLS certificate reloaded"
    fresh = await tls_client(server.tls_port, certs.client_context())
    await fresh.stream.aclose()
    certs.key.write_text("not a key\n")
    await oper.send("REHASH")
    report = (await oper.expect("NOTICE")).params[-1]
    assert "TLS certificate not reloaded (the old one stays)" in report and str(certs.key) in report
    client = await tls_client(server.tls_port, certs.client_context())
    await client.register("still")
    await client.stream.aclose()


async def test_a_missing_or_unusable_certificate_is_a_startup_error_naming_the_file(
    certs: Certs, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(StartupError, match=rf"\(--tls-cert\) {missing}: No such file"):
        server_context(str(missing), None)
    with pytest.raises(StartupError, match=rf"\(--tls-key\) {missing}: No such file"):
        server_context(str(certs.cert), str(missing))
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    with pytest.raises(StartupError, match=rf"{junk}: not a PEM certificate"):
        server_context(str(junk), None)
    with pytest.raises(StartupError, match="not a PEM certificate"):
        ChatServer(test_config(tls_cert=str(certs.cert), tls_key=str(junk)))


def test_serve_stops_with_one_line_naming_the_missing_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where serve writes its relay secret before it reads the certificate
    missing = tmp_path / "cert.pem"
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", "0", "--no-web", "--db", "", "--tls-cert", str(missing)])
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert f"TLS certificate (--tls-cert) {missing}: No such file" in err and "Traceback" not in err


async def test_the_relay_accepts_tls_and_reaches_the_server_over_tls(
    start_server: StartServer, open_client: Any, certs: Certs, nursery: trio.Nursery
) -> None:
    server = await start_server(**certs.settings())
    assert server.tls_port is not None
    config = RelayConfig(
        port=0,
        server_port=server.tls_port,
        stats_interval=0,
        relay_secret=RELAY_SECRET,
        tls_cert=str(certs.cert),
        tls_key=str(certs.key),
        server_tls=True,
        server_ca=str(certs.write_ca()),
    )
    relay = await nursery.start(Relay(config, RelayLimits(connect_timeout=5, send_timeout=5, shutdown_grace=1)).serve)
    user = await tls_client(relay.port, certs.client_context())
    try:
        seen = await user.register("hidden")
        assert any(m.command == "001" and m.params[0] == "*hidden" for m in seen)
        await user.send("CAP LS 302")
        caps = (await user.expect("CAP")).params[-1].split()
        assert not [cap for cap in caps if cap.startswith("sts")]  # the relay, not the server, has the ports
        (starred,) = server.hub.clients
        assert starred.relayed and starred.tls and starred.host == "127.0.0.1"
    finally:
        await user.stream.aclose()


async def test_the_relay_refuses_a_server_certificate_it_cannot_verify(
    start_server: StartServer, open_client: Any, certs: Certs, nursery: trio.Nursery, tmp_path: Path
) -> None:
    server = await start_server(**certs.settings())
    (tmp_path / "other").mkdir()
    other = Certs(tmp_path / "other", "other")  # a CA that did not sign the server's certificate
    assert server.tls_port is not None
    config = RelayConfig(
        port=0,
        server_port=server.tls_port,
        stats_interval=0,
        relay_secret=RELAY_SECRET,
        server_tls=True,
        server_ca=str(other.write_ca()),
    )
    relay = await nursery.start(Relay(config, RelayLimits(connect_timeout=5, send_timeout=5, shutdown_grace=1)).serve)
    user = await open_client(relay.port)
    (error,) = [m for m in await user.wait_closed() if m.command == "ERROR"]
    assert "upstream unavailable" in error.params[0] and "CERTIFICATE_VERIFY_FAILED" in error.params[0]


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGHUP on Windows (REHASH works there)")
async def test_sighup_reloads_the_certificate_of_a_running_serve(certs: Certs, tmp_path: Path) -> None:
    argv = ["serve", "--port", "0", "--tls-port", "0", "--no-web", "--db", "", "--stats-interval", "0"]
    argv += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key), "--relay-secret", RELAY_SECRET]
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "multichat_trio", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        port = await read_port(process, TLS_BANNER)
        staying = await tls_client(port, certs.client_context())
        await staying.register("stay")
        certs.ca = trustme.CA()
        certs.issue_server()
        process.send_signal(signal.SIGHUP)
        errors = b""
        with trio.fail_after(20):
            while b"TLS certificate reloaded" not in errors:
                chunk = await process.stderr.receive_some(4096)
                assert chunk, "serve exited"
                errors += chunk
        fresh = await tls_client(port, certs.client_context())
        await fresh.register("fresh")
        await fresh.stream.aclose()
        await staying.sync()
        await staying.stream.aclose()
    finally:
        process.kill()
        await process.wait()


async def test_sasl_external_logs_in_with_a_registered_client_certificate(
    start_server: StartServer, certs: Certs
) -> None:
    server = await start_server(**certs.settings(tls_client_ca=str(certs.write_ca())))
    assert server.tls_port is not None
    mine = certs.ca.issue_cert("alice@example.org")
    context = certs.client_context()
    mine.configure_cert(context)
    first = await tls_client(server.tls_port, context)
    try:  # register the account, then tie this certificate to it
        await first.register("alice")
        await first.send("REGISTER * * a-password", "PRIVMSG NickServ :CERT ADD", "QUIT")
        assert (await first.expect("REGISTER")).params[:2] == ("SUCCESS", "alice")
        await first.wait_closed()
    finally:
        await first.stream.aclose()
    again = await tls_client(server.tls_port, context)
    try:
        await again.send("CAP LS 302", "NICK alice", "USER u 0 * :Real", "CAP REQ :sasl", "AUTHENTICATE EXTERNAL")
        await again.expect("AUTHENTICATE")
        await again.send("AUTHENTICATE +")
        assert (await again.expect("900")).params[2] == "alice"
        await again.expect("903")
        await again.send("CAP END")
        await again.expect("001")
        assert [c.account for c in server.hub.clients] == ["alice"]
    finally:
        await again.stream.aclose()
