"""Server errors in plain words: what the user reads when a connection fails or ends.

Pure functions, so each mapping is tested without sockets.
"""

from __future__ import annotations

import errno
import socket
import ssl

from multichat_trio.protocol import Message

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


def tls_failure(host: str, port: int, exc: BaseException) -> Disconnected:
    """Why the TLS handshake failed: an untrusted certificate, or a port that does not speak TLS."""
    where = f"{host}:{port}"
    causes = _causes(exc)
    verify = next((e for e in causes if isinstance(e, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        reason = verify.verify_message or str(verify)
        why = (
            f"its certificate is not trusted ({reason}). For a server on your own network with a "
            "self-signed certificate, turn off certificate checking."
        )
    elif any(isinstance(e, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(e).upper() for e in causes):
        why = "it does not speak TLS on that port. Is this its TLS port (often 6697)?"
    elif exc.__class__.__name__ == "TooSlowError":
        why = "the secure connection took too long to set up."
    else:
        why = f"the secure connection failed ({causes[-1]})."
    return Disconnected("tls", f"Cannot connect securely to {where}: {why}")


def login_refused(account: str, text: str) -> str:
    """SASL said no (904 and friends)."""
    return f"The server refused the login as {account}: wrong account name or password ({text or 'no reason'})."


def whois_line(msg: Message) -> str:
    """One WHOIS reply line in plain words."""
    nick, rest = msg.param(1), msg.params[2:]
    match msg.command:
        case "311":
            return f"{nick} is {nick}!{msg.param(2)}@{msg.param(3)} ({msg.params[-1]})"
        case "319":
            return f"{nick} is on {msg.params[-1]}"
        case "312":
            return f"{nick} is connected to {msg.param(2)} ({msg.param(3)})"
        case "313":
            return f"{nick} is a server operator"
        case "301":
            return f"{nick} is away: {msg.params[-1]}"
        case "317":
            return f"{nick} has been idle {msg.param(2)} s"
        case "330":
            return f"{nick} is logged in as {msg.param(2)}"
        case "671":
            return f"{nick} uses a secure connection"
    return f"{nick} {' '.join(rest)}"
