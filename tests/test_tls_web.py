"""The web monitor over TLS: HTTPS page and API, WSS feed, the certificate reread on rehash."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import trio
import trustme
from trio_websocket import ConnectionRejected, wrap_client_stream

from .conftest import OpenClient, StartMonitor
from .test_tls import Certs

TIMEOUT = 10


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return Certs(tmp_path)


async def https_get(port: int, target: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    """GET over TLS, verified by `context`: the status and the body."""
    with trio.fail_after(TIMEOUT):
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        stream = trio.SSLStream(tcp, context, server_hostname="127.0.0.1", https_compatible=True)
        async with stream:
            request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            await stream.send_all(request.encode())
            data = b""
            while chunk := await stream.receive_some(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def wss_first_message(port: int, origin: str, context: ssl.SSLContext) -> dict[str, object]:
    """The feed's first message over WSS, sent with `origin` as a browser would."""
    with trio.fail_after(TIMEOUT):
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        stream = trio.SSLStream(tcp, context, server_hostname="127.0.0.1", https_compatible=True)
        try:
            async with trio.open_nursery() as nursery:
                ws = await wrap_client_stream(
                    nursery, stream, "127.0.0.1", "/", extra_headers=[(b"origin", origin.encode())]
                )
                message = json.loads(await ws.get_message())
                await ws.aclose()
                return message  # type: ignore[no-any-return]
        finally:
            await trio.aclose_forcefully(stream)


async def test_the_monitor_serves_https_and_wss_with_the_chats_certificate(
    start_monitor: StartMonitor, certs: Certs, open_client: OpenClient
) -> None:
    running = await start_monitor(**certs.settings())
    assert running.http_port is not None and running.ws_port is not None and running.web_tls
    assert running.monitor_url("127.0.0.1") == f"https://127.0.0.1:{running.http_port}/monitor"
    trusted = certs.client_context()
    status, page = await https_get(running.http_port, "/monitor", trusted)
    assert status == 200 and b"/monitor/monitor.js" in page
    status, body = await https_get(running.http_port, "/api/config", trusted)
    assert status == 200 and json.loads(body)["ws_port"] == running.ws_port
    alice = await open_client(running.server.port)
    await alice.register("alice")
    snapshot = await wss_first_message(running.ws_port, f"https://127.0.0.1:{running.http_port}", trusted)
    assert snapshot["type"] == "snapshot" and [u["nick"] for u in snapshot["users"]] == ["alice"]  # type: ignore[index, union-attr]
    with pytest.raises(BaseExceptionGroup) as refused:  # the page is https now: its http twin is another origin
        await wss_first_message(running.ws_port, f"http://127.0.0.1:{running.http_port}", trusted)
    assert refused.group_contains(ConnectionRejected)


async def test_the_monitor_certificate_is_reread_on_rehash(
    start_monitor: StartMonitor, certs: Certs, tmp_path: Path
) -> None:
    (tmp_path / "web").mkdir()
    web = Certs(tmp_path / "web", "web")
    running = await start_monitor(web_tls_cert=str(web.cert), web_tls_key=str(web.key))
    assert running.http_port is not None and running.ws_port is not None and running.server.tls_port is None
    before = web.client_context()
    assert (await https_get(running.http_port, "/healthz", before))[0] == 200
    web.ca = trustme.CA()
    web.issue_server()
    running.server.hub.reload = lambda: running.server.config
    assert "web monitor certificate reloaded" in await running.server.rehash()
    after = web.client_context()
    assert (await https_get(running.http_port, "/healthz", after))[0] == 200
    origin = f"https://127.0.0.1:{running.http_port}"
    assert (await wss_first_message(running.ws_port, origin, after))["type"] == "snapshot"
    with pytest.raises(trio.BrokenResourceError):
        await https_get(running.http_port, "/healthz", before)
