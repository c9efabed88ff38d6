"""The WebSocket feed server (trio-websocket over our own TCP listener): one task per viewer.

Each viewer gets its snapshot, then every live event as one JSON text message. An upgrade from a
web page other than the monitor's own (see `origins.py`), or without a session when a login is
required (`login.py`: the page's cookie comes along, cookies ignore ports), is refused with 403
before it is accepted.
Viewers only listen: anything they send closes them (1003), an oversized message is closed by
trio-websocket (1009). A viewer that falls behind is closed by the feed's verdict (1008), one beyond
the cap gets 1013, and at shutdown every viewer gets what was still queued for it, then 1001.

We own each TCP stream and close it ourselves, in bounded time, when the viewer ends: with
`serve_websocket`, trio-websocket's 1009 close went out from its reader task, which could wait
forever behind a send to a viewer that had stopped reading, and its handler waited for that task:
the socket stayed open long after the viewer was dropped, counted by nobody. A handler never lets
an exception escape: it would take the server down.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from contextlib import suppress
from functools import partial

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, wrap_server_stream

from ..tls import LiveCertificate
from .feed import CLOSE_GOING_AWAY, Feed, FeedUnavailable, Viewer
from .login import MonitorLogin
from .origins import OriginPolicy

log = logging.getLogger(__name__)

#: Largest message a viewer may send (they should send none); bigger ones close it with 1009.
MAX_INCOMING = 1024
#: Seconds a new connection has to send its upgrade request.
HANDSHAKE_TIMEOUT = 10.0
#: Seconds a viewer gets to take what is queued for it, to answer our close frame, and for its TCP close.
CLOSE_TIMEOUT = 2.0
#: Close code for a viewer that sent a message: "unsupported data".
CLOSE_READ_ONLY = 1003
#: `struct linger` {on, 0 seconds}: two u_shorts on Windows, two ints elsewhere.
LINGER_OFF = struct.pack("HH" if os.name == "nt" else "ii", 1, 0)


async def serve_feed(
    feed: Feed,
    host: str,
    port: int,
    origins: OriginPolicy,
    *,
    login: MonitorLogin | None = None,
    tls: LiveCertificate | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the feed on `host:port` until cancelled (WSS with `tls`); `nursery.start` returns the bound port."""
    listeners = await trio.open_tcp_listeners(port, host=host or None)
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(partial(handle_connection, feed, origins, login=login, tls=tls), listeners)


async def handle_connection(
    feed: Feed,
    origins: OriginPolicy,
    stream: trio.SocketStream,
    *,
    login: MonitorLogin | None = None,
    tls: LiveCertificate | None = None,
) -> None:
    """One TCP connection from handshake to close; the socket is closed here whatever happened."""
    request: WebSocketRequest | None = None
    try:
        async with trio.open_nursery() as nursery:  # trio-websocket's reader task for this connection
            with trio.move_on_after(HANDSHAKE_TIMEOUT):
                carrier: trio.abc.Stream = stream
                if tls is not None:  # WSS: TLS first, within the same deadline as the upgrade
                    carrier = secure = trio.SSLStream(stream, tls.context, server_side=True, https_compatible=True)
                    try:
                        await secure.do_handshake()
                    except trio.BrokenResourceError:
                        return
                request = await wrap_server_stream(nursery, carrier, max_message_size=MAX_INCOMING)
            if request is not None:
                await handle_viewer(feed, origins, request, stream.socket.getsockname()[0], login)
            nursery.cancel_scope.cancel()
    except Exception:
        log.exception("feed connection failed")
    finally:
        await _close_stream(stream)


async def handle_viewer(
    feed: Feed, origins: OriginPolicy, request: WebSocketRequest, local_address: str, login: MonitorLogin | None = None
) -> None:
    """Serve one viewer whose upgrade request arrived; contains every error to this viewer."""
    origin = next((value.decode("latin-1") for name, value in request.headers if name == b"origin"), None)
    cookies = "; ".join(value.decode("latin-1") for name, value in request.headers if name == b"cookie")
    try:
        if not origins.allows(origin, local_address):
            log.info("refused a feed viewer from origin %s", origin)
            await request.reject(403, body=b"this page's origin may not read the feed (see --web-origins)\n")
            return
        if login is not None and not login.allows(cookies or None):
            await request.reject(403, body=b"log in on the monitor page first\n")
            return
        ws = await request.accept()
    except ConnectionClosed:
        return
    try:
        await _serve_viewer(feed, ws)
    except ConnectionClosed:
        pass  # the viewer went away mid-close
    except Exception:
        log.exception("feed viewer %s failed", ws.remote)
        await _close(ws, 1011, "internal error")


async def _serve_viewer(feed: Feed, ws: WebSocketConnection) -> None:
    try:
        viewer, snapshot = feed.subscribe()
    except FeedUnavailable as refusal:
        await _close(ws, refusal.code, refusal.reason)
        return
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch_incoming, ws, viewer)
            with trio.CancelScope() as sending:
                nursery.start_soon(_bound_after_end, viewer, sending)
                await _send_events(ws, viewer, snapshot)
            nursery.cancel_scope.cancel()
        assert viewer.close_code is not None
        await _close(ws, viewer.close_code, viewer.close_reason)
    finally:
        feed.unsubscribe(viewer)  # a closing viewer holds its slot until its close is done (bounded)


async def _send_events(ws: WebSocketConnection, viewer: Viewer, snapshot: str) -> None:
    """The snapshot, then each live event; drains what is queued after a graceful end."""
    try:
        await ws.send_message(snapshot)
        async for batch in viewer.batches:
            for text in batch:
                if viewer.close_code not in (None, CLOSE_GOING_AWAY):
                    return  # dropped or misbehaving: stop at a message boundary
                await ws.send_message(text)
            viewer.sent(batch)
    except ConnectionClosed:
        viewer.end(CLOSE_GOING_AWAY, "viewer disconnected")


async def _bound_after_end(viewer: Viewer, sending: trio.CancelScope) -> None:
    await viewer.ended.wait()
    sending.deadline = min(sending.deadline, trio.current_time() + CLOSE_TIMEOUT)


async def _watch_incoming(ws: WebSocketConnection, viewer: Viewer) -> None:
    """Viewers only listen: a message from one ends it; its disconnect is noticed here at once."""
    try:
        await ws.get_message()
    except ConnectionClosed:
        viewer.end(CLOSE_GOING_AWAY, "viewer disconnected")
        return
    log.info("closing feed viewer %s: it sent a message", ws.remote)
    viewer.end(CLOSE_READ_ONLY, "this feed is read-only: viewers must not send messages")


async def _close(ws: WebSocketConnection, code: int, reason: str) -> None:
    """Close with `code`, waiting at most CLOSE_TIMEOUT for the peer (then the TCP stream closes)."""
    with trio.move_on_after(CLOSE_TIMEOUT):
        await ws.aclose(code, reason)


async def _close_stream(stream: trio.SocketStream) -> None:
    """Half-close, read what the peer still sends until its EOF, then close; a peer that has not
    closed its side within CLOSE_TIMEOUT is reset.

    Closing with unread data resets the connection, which may destroy the close frame or the 403
    just sent before the peer reads it; and a peer that neither reads nor closes would otherwise
    keep the connection, with its buffers, in the kernel for minutes after we let go of it.
    """
    try:
        with trio.move_on_after(CLOSE_TIMEOUT) as waiting:
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_eof()
                while await stream.receive_some(65536):
                    pass
        if waiting.cancelled_caught:
            with suppress(OSError):  # SO_LINGER 0: close() resets the connection at once
                stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_OFF)
    finally:
        await trio.aclose_forcefully(stream)
