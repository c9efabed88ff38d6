"""The WebSocket feed server (trio-websocket): one handler task per viewer, streaming the `Feed`.

Each viewer gets its snapshot, then every live event as one JSON text message. Viewers only
listen: anything they send closes them (1003), an oversized message is closed by trio-websocket
(1009). A viewer that falls behind is closed by the feed's verdict (1008), one beyond the cap gets
1013, and at shutdown every viewer gets what was still queued for it, then 1001. Every close is
bounded in time, and a handler never lets an exception escape: it would take the server down.
"""

from __future__ import annotations

import logging
from functools import partial

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, WebSocketServer, serve_websocket

from .feed import CLOSE_GOING_AWAY, Feed, FeedUnavailable, Viewer

log = logging.getLogger(__name__)

#: Largest message a viewer may send (they should send none); bigger ones close it with 1009.
MAX_INCOMING = 1024
#: Seconds a viewer gets to take what is queued for it, and then to answer our close frame.
CLOSE_TIMEOUT = 2.0
#: Close code for a viewer that sent a message: "unsupported data".
CLOSE_READ_ONLY = 1003


async def serve_feed(
    feed: Feed,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[WebSocketServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the feed on `host:port` until cancelled; `nursery.start` returns the server (`.port`)."""
    await serve_websocket(
        partial(handle_viewer, feed), host, port, None, max_message_size=MAX_INCOMING, task_status=task_status
    )


async def handle_viewer(feed: Feed, request: WebSocketRequest) -> None:
    """Serve one viewer from handshake to close; contains every error to this viewer."""
    try:
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
        feed.unsubscribe(viewer)


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
