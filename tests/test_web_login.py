"""The monitor asks who you are: beyond loopback (or with --monitor-login always) the API, /metrics and
the feed need a session, which the token (or an account, through the `verify` hook) opens."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from argon2 import PasswordHasher
from wsproto.events import AcceptConnection, RejectConnection, Request, TextMessage

from multichat_trio.app import Running
from multichat_trio.chat import rehash
from multichat_trio.config import OperEntry, ServerConfig
from multichat_trio.web import login as login_module
from multichat_trio.web.login import (
    FAILURE_WINDOW,
    MAX_FAILURES,
    MAX_SESSIONS,
    SESSION_SECONDS,
    MonitorLogin,
    cookie_value,
    is_loopback,
    login_required,
    token_for_server,
)

from .conftest import OpenClient, StartMonitor, test_config
from .processes import read_banner
from .test_hub import make_hub
from .test_web import TIMEOUT
from .test_web_trust import RawViewer, body

TOKEN = "s3cret-monitor-token"


async def request(
    port: int | None, method: str, target: str, headers: dict[str, str] | None = None, form: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request over a real socket: status, headers (lower-case; Set-Cookie kept), body."""
    assert port is not None
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if method == "POST":
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(form.encode())}"]
    with trio.fail_after(TIMEOUT):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(("\r\n".join(lines) + "\r\n\r\n" + form).encode())
            data = b""
            while chunk := await stream.receive_some(65536):
                data += chunk
    head, _, answer = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), found, answer


async def log_in(running: Running, form: str = f"password={TOKEN}") -> str:
    """Log in with the form; returns the `Cookie` header to send afterwards."""
    status, headers, answer = await request(running.http_port, "POST", "/api/login", form=form)
    assert status == 200, answer
    return headers["set-cookie"].split(";", 1)[0]


async def upgrade(port: int | None, cookie: str | None) -> tuple[RawViewer, object]:
    """Ask for the feed from the monitor's own page, with this `Cookie` header (None: none)."""
    assert port is not None
    viewer = RawViewer(await trio.open_tcp_stream("127.0.0.1", port))
    headers = [(b"Cookie", cookie.encode())] if cookie else []
    request = Request(host=f"127.0.0.1:{port}", target="/", extra_headers=headers)
    await viewer.stream.send_all(viewer.ws.send(request))
    with trio.fail_after(TIMEOUT):
        return viewer, await viewer.receive()


@pytest.fixture
async def guarded(start_monitor: StartMonitor) -> Running:
    return await start_monitor(monitor_login="always", monitor_token=TOKEN)


# --- the rules, without sockets ---------------------------------------------------------------


def test_a_login_is_asked_beyond_loopback_or_when_always() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost")] == [True] * 5
    assert [is_loopback(h) for h in ("0.0.0.0", "", "::", "192.168.1.5", "chat.example")] == [False] * 5
    assert not login_required(ServerConfig())
    assert login_required(ServerConfig(web_host="0.0.0.0"))
    assert login_required(ServerConfig(monitor_login="always"))
    with pytest.raises(ValueError, match="monitor_login"):
        ServerConfig(monitor_login="never")


def test_sessions_expire_are_bounded_and_end_at_logout() -> None:
    now = [0.0]
    login = MonitorLogin(required=True, token=TOKEN, clock=lambda: now[0])
    first = login.open_session("127.0.0.1", "")
    assert "HttpOnly" in first and "SameSite=Strict" in first and "Path=/" in first and "Secure" not in first
    cookie = first.split(";", 1)[0]
    assert login.allows(cookie) and login.allows(f"other=1; {cookie}")
    assert not login.allows(None) and not login.allows("multichat_session=forged")
    now[0] = SESSION_SECONDS + 1
    assert not login.allows(cookie) and login.session_count == 0
    sessions = [login.open_session("127.0.0.1", "").split(";", 1)[0] for _ in range(MAX_SESSIONS + 1)]
    assert login.session_count == MAX_SESSIONS and not login.allows(sessions[0]) and login.allows(sessions[-1])
    assert "Max-Age=0" in login.close_session(sessions[-1]) and not login.allows(sessions[-1])
    secure = MonitorLogin(required=True, token=None, secure=True, clock=lambda: 0.0)
    assert secure.open_session("::1", "").endswith("; Secure")
    assert MonitorLogin(required=False, token=None).allows(None)


def test_failed_logins_wait_out_their_window_per_address() -> None:
    now = [100.0]
    login = MonitorLogin(required=True, token=TOKEN, clock=lambda: now[0])
    for _ in range(MAX_FAILURES):
        assert login.retry_after("10.0.0.1") is None
        login.failed("10.0.0.1", "")
    assert login.retry_after("10.0.0.1") == FAILURE_WINDOW
    assert login.retry_after("10.0.0.2") is None  # another address is not held back
    now[0] += FAILURE_WINDOW
    assert login.retry_after("10.0.0.1") is None
    assert not login.check_token(TOKEN[:-1]) and login.check_token(TOKEN)
    assert not MonitorLogin(required=True, token=None).check_token("")
    assert cookie_value('a=1; multichat_session="x y"') == "x y" and cookie_value("a=1") is None


def test_the_token_is_generated_into_a_file_once_and_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "monitor.token"
    assert token_for_server(ServerConfig(monitor_token_file=str(path))).monitor_token is None  # loopback
    assert not path.exists()
    config = token_for_server(ServerConfig(web_host="0.0.0.0", monitor_token_file=str(path)))
    assert config.monitor_token and path.read_text().strip() == config.monitor_token
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0  # the owner's only
    again = token_for_server(ServerConfig(monitor_login="always", monitor_token_file=str(path)))
    assert again.monitor_token == config.monitor_token
    given = ServerConfig(monitor_login="always", monitor_token="mine", monitor_token_file=str(tmp_path / "no"))
    assert token_for_server(given).monitor_token == "mine" and not (tmp_path / "no").exists()
    assert ServerConfig().monitor_token_file == login_module.TOKEN_FILE


# --- over real sockets ------------------------------------------------------------------------


async def test_on_loopback_by_default_no_login_is_asked(start_monitor: StartMonitor) -> None:
    running = await start_monitor()
    status, _, answer = await request(running.http_port, "GET", "/api/config")
    assert status == 200 and json.loads(answer)["login_required"] is False
    viewer, answer = await upgrade(running.ws_port, None)
    assert isinstance(answer, AcceptConnection)
    await viewer.stream.aclose()


async def test_an_anonymous_viewer_is_refused_everything_but_the_pages_and_config(guarded: Running) -> None:
    for target in ("/api/stats", "/api/users", "/api/events", "/metrics"):
        status, _, answer = await request(guarded.http_port, "GET", target)
        assert status == 401 and json.loads(answer)["login"] is True, target
    for target in ("/", "/monitor", "/monitor/monitor.js", "/chat/main.js", "/healthz"):  # no chat in them
        assert (await request(guarded.http_port, "GET", target))[0] == 200
    # The chat page needs the config to find the IRC WebSocket: ports and names, nothing of the chat's.
    status, _, answer = await request(guarded.http_port, "GET", "/api/config")
    config = json.loads(answer)
    assert status == 200 and config["login_required"] is True
    assert set(config) == {"ws_port", "chat_port", "irc_ws_port", "server_name", "network", "login_required"}
    viewer, answer = await upgrade(guarded.ws_port, None)
    assert isinstance(answer, RejectConnection) and answer.status_code == 403
    assert b"log in" in body(await viewer.until_eof())
    await viewer.stream.aclose()
    viewer, answer = await upgrade(guarded.ws_port, "multichat_session=guessed")
    assert isinstance(answer, RejectConnection) and answer.status_code == 403
    await viewer.stream.aclose()


async def test_the_token_opens_the_api_metrics_and_feed_until_logout(guarded: Running) -> None:
    status, headers, _ = await request(guarded.http_port, "POST", "/api/login", form=f"name=&password={TOKEN}")
    assert status == 200
    flags = [flag.strip() for flag in headers["set-cookie"].split(";")]
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(flags) and "Secure" not in flags
    cookie = flags[0]
    assert (await request(guarded.http_port, "GET", "/api/stats", {"Cookie": cookie}))[0] == 200
    assert (await request(guarded.http_port, "GET", "/metrics", {"Cookie": cookie}))[0] == 200
    viewer, answer = await upgrade(guarded.ws_port, cookie)
    assert isinstance(answer, AcceptConnection)
    snapshot = await viewer.receive()
    assert isinstance(snapshot, TextMessage) and json.loads(snapshot.data)["type"] == "snapshot"
    await viewer.stream.aclose()

    status, headers, _ = await request(guarded.http_port, "POST", "/api/logout", {"Cookie": cookie})
    assert status == 200 and "Max-Age=0" in headers["set-cookie"]
    assert (await request(guarded.http_port, "GET", "/api/stats", {"Cookie": cookie}))[0] == 401
    viewer, answer = await upgrade(guarded.ws_port, cookie)
    assert isinstance(answer, RejectConnection) and answer.status_code == 403
    await viewer.stream.aclose()


async def test_an_account_logs_in_through_the_verify_hook(guarded: Running) -> None:
    assert guarded.login is not None
    assert (await request(guarded.http_port, "POST", "/api/login", form="name=alice&password=pw"))[0] == 401
    guarded.login.verify = lambda name, password: (name, password) == ("alice", "pw")
    cookie = await log_in(guarded, "name=alice&password=pw")
    assert (await request(guarded.http_port, "GET", "/api/users", {"Cookie": cookie}))[0] == 200
    assert (await request(guarded.http_port, "POST", "/api/login", form=f"name=alice&password={TOKEN}"))[0] == 401


async def test_bad_tokens_are_limited_per_address(guarded: Running) -> None:
    for _ in range(MAX_FAILURES):
        status, _, answer = await request(guarded.http_port, "POST", "/api/login", form="password=wrong")
        assert status == 401 and TOKEN.encode() not in answer
    status, headers, answer = await request(guarded.http_port, "POST", "/api/login", form=f"password={TOKEN}")
    assert status == 429 and int(headers["retry-after"]) > 0 and b"too many failed logins" in answer


async def test_a_login_from_another_sites_page_or_a_huge_form_is_refused(guarded: Running) -> None:
    evil = {"Origin": "http://evil.example"}
    status, headers, _ = await request(guarded.http_port, "POST", "/api/login", evil, form=f"password={TOKEN}")
    assert status == 403 and "set-cookie" not in headers
    own = {"Origin": f"http://127.0.0.1:{guarded.http_port}"}
    assert (await request(guarded.http_port, "POST", "/api/login", own, form=f"password={TOKEN}"))[0] == 200
    assert (await request(guarded.http_port, "POST", "/api/login", form="password=" + "x" * 5000))[0] == 413
    assert (await request(guarded.http_port, "GET", "/api/login"))[0] == 405
    assert (await request(guarded.http_port, "POST", "/api/stats"))[0] == 405


async def test_serve_writes_the_token_file_and_says_where(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "multichat_trio", "serve", "--monitor-login", "always", "--db", ""]
    with socket.socket() as probe:  # `serve --http-port 0` turns the page off: take a free port
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    argv += ["--port", "0", "--http-port", str(free), "--ws-port", "0", "--stats-interval", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    pipe = subprocess.PIPE
    process = await trio.lowlevel.open_process(argv, stdout=pipe, stderr=pipe, env=env, cwd=tmp_path)
    assert process.stdout is not None and process.stderr is not None
    try:
        port, banner = await read_banner(process, rb"web monitor: http://127\.0\.0\.1:(\d+)/monitor")
        token = (tmp_path / "multichat-monitor.token").read_text().strip()
        assert (await request(port, "GET", "/api/stats"))[0] == 401
        status, headers, _ = await request(port, "POST", "/api/login", form=f"password={token}")
        assert status == 200
        assert (await request(port, "GET", "/api/stats", {"Cookie": headers["set-cookie"].split(";")[0]}))[0] == 200
    finally:
        process.terminate()
        with trio.fail_after(10):
            await process.wait()
    errors = b""
    while chunk := await process.stderr.receive_some(65536):
        errors += chunk
    assert b"monitor login: the token is in " in errors and b"multichat-monitor.token (new)" in errors
    assert token.encode() not in errors + banner  # where it is, never what it is


def test_a_rehash_does_not_report_the_token_files_token_as_changed() -> None:
    hub, _ = make_hub(monitor_login="always", monitor_token="from-the-file")
    report = rehash.apply(hub, rehash.read(lambda: test_config(monitor_login="always")))
    assert report == "Rehashed: nothing changed" and hub.config.monitor_token == "from-the-file"


async def test_an_operator_account_logs_in_to_the_monitor_and_a_plain_account_does_not(
    start_monitor: StartMonitor, open_client: OpenClient
) -> None:
    hashed = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("unused")
    running = await start_monitor(
        monitor_login="always", monitor_token=TOKEN, opers=(OperEntry("admin", hashed, account="alice"),)
    )
    for nick in ("alice", "bob"):  # both register an account; only alice's is tied to an operator entry
        client = await open_client(running.server.port)
        await client.register(nick)
        await client.send(f"REGISTER * * {nick}-password")
        assert (await client.expect("REGISTER")).params[:2] == ("SUCCESS", nick)
    cookie = await log_in(running, "name=alice&password=alice-password")
    assert (await request(running.http_port, "GET", "/api/users", {"Cookie": cookie}))[0] == 200
    for form in ("name=bob&password=bob-password", "name=alice&password=bob-password"):
        assert (await request(running.http_port, "POST", "/api/login", form=form))[0] == 401
