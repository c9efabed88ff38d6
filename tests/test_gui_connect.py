"""Connecting from the GUI: TLS (trustme certificates on the real server), SASL PLAIN, saved
profiles (pure file I/O) and the reconnect back-off (pure)."""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path

import pytest
import trio
from multichat_gui import profiles
from multichat_gui.backoff import Backoff
from multichat_gui.events import Disconnected, Registered, ServerNotice
from multichat_gui.profiles import Profile
from multichat_gui.userinput import ConnectTarget

from multichat_trio.chat import opers

from .conftest import StartServer
from .test_gui_session import client, open_session
from .test_opers import CHEAP
from .test_tls import Certs

PASSWORD = "correct-horse"


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return Certs(tmp_path)


async def test_tls_without_verification_connects_to_a_self_signed_server(
    start_server: StartServer, nursery: trio.Nursery, certs: Certs
) -> None:
    server = await start_server(**certs.settings())
    assert server.tls_port is not None
    target = ConnectTarget("gui", "127.0.0.1", server.tls_port, tls=True, tls_verify=False)
    session, rec = await open_session(nursery, server.tls_port, target=target)
    await rec.users("gui")
    (gui,) = server.hub.clients
    assert gui.tls
    session.close()
    await rec.wait_for(lambda e: isinstance(e, Disconnected))


async def test_tls_with_verification_refuses_an_untrusted_certificate_in_plain_words(
    start_server: StartServer, nursery: trio.Nursery, certs: Certs
) -> None:
    server = await start_server(**certs.settings())
    assert server.tls_port is not None
    target = ConnectTarget("gui", "127.0.0.1", server.tls_port, tls=True)
    _, rec = await open_session(nursery, server.tls_port, target=target)
    got = await rec.wait_for(lambda e: isinstance(e, Disconnected))
    assert isinstance(got, Disconnected) and got.kind == "tls" and not got.can_reconnect
    assert "not trusted" in got.text and "turn off certificate checking" in got.text


async def test_tls_to_a_plain_port_says_so(start_server: StartServer, nursery: trio.Nursery) -> None:
    server = await start_server()
    target = ConnectTarget("gui", "127.0.0.1", server.port, tls=True, tls_verify=False)
    _, rec = await open_session(nursery, server.port, target=target)
    got = await rec.wait_for(lambda e: isinstance(e, Disconnected))
    assert isinstance(got, Disconnected) and got.kind == "tls"
    assert "does not speak TLS" in got.text or "secure connection" in got.text


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opers, "hash_password", CHEAP.hash)


async def register_account(port: int, nick: str) -> None:
    irc = await client(port, nick)
    await irc.send(f"REGISTER * * {PASSWORD}")
    await irc.expect("900")
    await irc.send("QUIT")
    await irc.wait_closed()
    await irc.aclose()


async def test_a_password_logs_in_with_sasl_plain(
    start_server: StartServer, nursery: trio.Nursery, cheap_hashes: None
) -> None:
    server = await start_server(db=":memory:")
    await register_account(server.port, "gui")
    target = ConnectTarget("gui", "127.0.0.1", server.port, password=PASSWORD)
    session, rec = await open_session(nursery, server.port, target=target)
    await rec.users("gui")
    assert "sasl" in session.caps
    hub_gui = server.hub.find_client("gui")
    assert hub_gui is not None and hub_gui.account == "gui"
    assert "password" not in repr(target) and PASSWORD not in repr(target)


async def test_a_wrong_password_ends_the_attempt_with_a_clear_reason(
    start_server: StartServer, nursery: trio.Nursery, cheap_hashes: None
) -> None:
    server = await start_server(db=":memory:")
    await register_account(server.port, "gui")
    target = ConnectTarget("gui", "127.0.0.1", server.port, password="wrong")
    _, rec = await open_session(nursery, server.port, target=target)
    got = await rec.wait_for(lambda e: isinstance(e, Disconnected))
    assert isinstance(got, Disconnected) and got.kind == "login" and not got.can_reconnect
    assert "refused the login as gui" in got.text
    assert not any(isinstance(e, Registered) for e in rec.events)


async def test_a_password_on_a_server_without_sasl_is_a_notice(nursery: trio.Nursery) -> None:
    """A server that offers no `sasl`: the user is told they are not logged in, and chats on."""
    heard: list[bytes] = []

    async def no_sasl_server(stream: trio.SocketStream) -> None:
        while b"CAP END" not in b"".join(heard):
            heard.append(await stream.receive_some() or b"CAP END")
        await stream.send_all(b":srv 001 gui :Welcome\r\n")
        while b"QUIT" not in b"".join(heard):
            heard.append(await stream.receive_some() or b"QUIT")  # then trio closes the stream

    async def replying_server(stream: trio.SocketStream) -> None:
        first = await stream.receive_some()
        heard.append(first)
        await stream.send_all(b":srv CAP * LS :cap-notify\r\n")
        await no_sasl_server(stream)

    listeners = await nursery.start(partial(trio.serve_tcp, replying_server, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    target = ConnectTarget("gui", "127.0.0.1", port, password=PASSWORD)
    session, rec = await open_session(nursery, port, target=target)
    notice = await rec.wait_for(lambda e: isinstance(e, ServerNotice) and e.error)
    assert isinstance(notice, ServerNotice) and "not logged in" in notice.text
    assert b"AUTHENTICATE" not in b"".join(heard) and PASSWORD.encode() not in b"".join(heard)
    session.close()
    await rec.wait_for(lambda e: isinstance(e, Disconnected))


# --- profiles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("win32", {"APPDATA": "C:/Users/i/AppData/Roaming"}, Path("C:/Users/i/AppData/Roaming/MultiChat")),
        ("darwin", {}, Path("/home/i/Library/Application Support/MultiChat")),
        ("linux", {"XDG_CONFIG_HOME": "/xdg"}, Path("/xdg/multichat")),
        ("linux", {"XDG_CONFIG_HOME": "relative"}, Path("/home/i/.config/multichat")),
        ("linux", {}, Path("/home/i/.config/multichat")),
    ],
)
def test_profiles_live_in_the_platforms_config_dir(platform: str, env: dict[str, str], expected: Path) -> None:
    assert profiles.config_dir(platform, env, Path("/home/i")) == expected


def test_profiles_round_trip_and_never_hold_a_password(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "profiles.json"
    saved = [Profile("home", "iclal", "192.168.1.5", 6697, tls=True, tls_verify=False), Profile("work", "ic", "chat")]
    profiles.save(saved, path)
    assert profiles.load(path) == saved
    assert "password" not in path.read_text()
    assert saved[0].target("pw") == ConnectTarget("iclal", "192.168.1.5", 6697, "pw", True, False)


def test_a_missing_profiles_file_is_no_profiles(tmp_path: Path) -> None:
    assert profiles.load(tmp_path / "none.json") == []


@pytest.mark.parametrize(
    "content",
    [b"not json", b"\xff\xfe", b"[]", b'{"version": 2, "profiles": []}', b'{"version": 1, "profiles": {}}'],
)
def test_a_bad_profiles_file_is_ignored_with_a_logged_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = tmp_path / "profiles.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert profiles.load(path) == []
    assert len(caplog.records) == 1 and str(path) in caplog.records[0].getMessage()


def test_bad_entries_are_left_out_and_the_good_ones_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = {"name": "ok", "nick": "bob", "server": "h", "port": 1, "password": "dropped"}
    bad = [
        "text",
        {"name": "", "nick": "bob", "server": "h"},
        {"name": "n", "nick": "9bad", "server": "h"},
        {"name": "n", "nick": "bob", "server": "a b"},
        {"name": "n", "nick": "bob", "server": "h", "port": 70000},
        {"name": "n", "nick": "bob", "server": "h", "port": True},
        {"name": "n", "nick": "bob", "server": "h", "tls": "yes"},
        {"name": "ok", "nick": "other", "server": "h"},  # the name again
    ]
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"version": 1, "profiles": [good, *bad]}))
    with caplog.at_level(logging.WARNING):
        assert profiles.load(path) == [Profile("ok", "bob", "h", 1)]
    assert len(caplog.records) == len(bad)


# --- back-off ---------------------------------------------------------------------------------


def test_backoff_doubles_to_a_minute_and_resets_after_a_steady_session() -> None:
    backoff = Backoff(random=lambda: 0.0)
    assert [backoff.next_delay(0) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.next_delay(29) == 60  # up, but not long enough to count as steady
    assert backoff.next_delay(30) == 1
    assert backoff.next_delay(0) == 2


def test_backoff_jitter_only_shortens_a_delay() -> None:
    backoff = Backoff(random=lambda: 1.0, jitter=0.25)
    assert backoff.next_delay(0) == 0.75
    delays = [Backoff().next_delay(0) for _ in range(50)]
    assert all(0.75 <= d <= 1 for d in delays) and len(set(delays)) > 1
