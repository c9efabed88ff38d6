"""The IRCv3 WebSocket transport: a WebSocket connection as the byte stream a `Connection` reads and writes.

Per the spec (ircv3.net/specs/extensions/websocket): one IRC line per WebSocket message, without
CR/LF; the `text.ircv3.net` and `binary.ircv3.net` subprotocols, the first the client offers that
we know winning (none offered, or none known: text). Incoming messages become CRLF lines for the
connection's `LineFramer`, so the length cap (417) and everything after it is the TCP path's; a
message with CR or LF inside it is a protocol error that ends the connection (close 1008), and one
above `MAX_MESSAGE` is refused by the WebSocket layer (close 1009). Outgoing lines go one per
message; in text frames invalid UTF-8 is replaced, since a text frame must be valid UTF-8.
"""

from __future__ import annotations

import socket

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from ..protocol.framing import MAX_CLIENT_TAGS, MAX_LINE

TEXT, BINARY = "text.ircv3.net", "binary.ircv3.net"
SUBPROTOCOLS = (TEXT, BINARY)
#: A message above this ends the connection (close 1009): the longest line the framer takes (a tags part
#: and a 512-byte rest), so one just below it whose tags part or rest is too long gets the framer's 417.
MAX_MESSAGE = MAX_CLIENT_TAGS + MAX_LINE
#: Seconds the closing handshake may take.
CLOSE_GRACE = 2.0


def choose_subprotocol(proposed: list[str]) -> str | None:
    """The first subprotocol the client offers that we speak, honouring its order; None if none."""
    return next((name for name in proposed if name in SUBPROTOCOLS), None)


def origin_header(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The upgrade request's `Origin`, if any (a browser always sends one)."""
    for name, value in headers:
        if name.lower() == b"origin":
            return value.decode("latin-1")
    return None


class IrcWebSocket(trio.abc.Stream):
    """Lines in and out of one WebSocket, shaped as the CRLF byte stream `Connection` expects."""

    def __init__(self, ws: WebSocketConnection, subprotocol: str | None, sock: trio.socket.SocketType) -> None:
        self.ws = ws
        self.binary = subprotocol == BINARY
        #: The TCP socket underneath (for Nagle).
        self.socket = sock
        self._pending = b""

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """One message as one CRLF line; b"" once the WebSocket is closed (or the peer broke the rules)."""
        try:
            message = await self.ws.get_message()
        except ConnectionClosed:
            return b""
        data = message.encode() if isinstance(message, str) else message
        if b"\r" in data or b"\n" in data:
            await self.ws.aclose(1008, "CR or LF inside a message")
            return b""
        return data + b"\r\n"

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Each CRLF-ended line as its own message (text or binary, as negotiated)."""
        *lines, self._pending = (self._pending + bytes(data)).split(b"\r\n")
        try:
            for line in lines:
                await self.ws.send_message(line if self.binary else line.decode("utf-8", "replace"))
        except ConnectionClosed as exc:
            raise trio.BrokenResourceError("WebSocket closed") from exc

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """The closing handshake, for at most `CLOSE_GRACE` (at once when cancelled).

        Meanwhile the WebSocket goes on reading (and discarding) what the peer sent: closing the TCP
        socket with unread bytes would reset it, and the peer would lose our goodbye (`ERROR`).
        """
        with trio.move_on_after(CLOSE_GRACE):
            await self.ws.aclose()


def tcp_socket(stream: trio.abc.Stream) -> trio.socket.SocketType | socket.socket:
    """The TCP socket under a plain or TLS stream."""
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    assert isinstance(stream, trio.SocketStream)
    return stream.socket
