"""Server errors in plain words: what the user reads when a connection fails or ends.

Pure functions, so each mapping is tested without sockets.
"""

from __future__ import annotations

import errno
import socket

from .events import Disconnected


def server_error(text: str) -> Disconnected:
    """Map the text of the server's `ERROR` line to a cause and a sentence for the user."""
    lowered = text.lower()
    if "excess flood" in lowered:
        return Disconnected("flood", "The server disconnected you for sending too many messages too fast.")
    if "sendq" in lowered:
        return Disconnected("sendq", "The server disconnected you because messages to you piled up unread.")
    if "ping timeout" in lowered:
        return Disconnected("ping", "The server stopped hearing from this app and disconnected it (ping timeout).")
    if "shutting down" in lowered:
        return Disconnected("shutdown", "The server is shutting down.")
    if "client quit" in lowered:
        return Disconnected("quit", "You left the chat.")
    return Disconnected("closed", f"The server closed the connection: {text}")


def connect_failure(host: str, port: int, exc: BaseException) -> Disconnected:
    """Why `open_tcp_stream` failed, phrased for someone who just clicked Connect."""
    where = f"{host}:{port}"
    causes = _causes(exc)
    if any(isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED for e in causes):
        why = "nothing is listening there. Is the server running, and is the port right?"
    elif isinstance(exc, TimeoutError) or exc.__class__.__name__ == "TooSlowError":
        why = "no answer in time. Check the address, the port and the network."
    elif isinstance(exc, socket.gaierror):
        why = "that server name is unknown. Check the address."
    else:
        why = str(exc) or exc.__class__.__name__
    return Disconnected("refused", f"Cannot connect to {where}: {why}")


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: trio reports each failed address inside an exception group cause."""
    found = [exc]
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup):
        found.extend(cause.exceptions)
    elif cause is not None:
        found.append(cause)
    return found
