"""TLS contexts for the chat listener, the relay and the web monitor, from PEM files (stdlib `ssl`).

Every context speaks TLS 1.2 or later without compression. A certificate or key that cannot be
used is a `StartupError` naming the file and the flag, so `serve` stops with one clear line. A
`LiveCertificate` is read again on REHASH/SIGHUP (a renewed certificate in the same files): a new
context is built on a worker thread, and if that fails the old one stays. Only handshakes made
after it use the new one: connected clients keep their session.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from typing import TYPE_CHECKING

from .config import StartupError

if TYPE_CHECKING:
    import trio

log = logging.getLogger(__name__)


class LiveCertificate:
    """The certificate a listener presents, replaced by `reloaded` (REHASH) for the next handshakes."""

    def __init__(self, what: str, cert: str, key: str | None, *, client_ca: str | None = None, flag: str) -> None:
        self.what = what
        self._files = (cert, key, client_ca, flag)
        #: The context new handshakes use.
        self.context = self.load()

    def load(self) -> ssl.SSLContext:
        """A fresh context from the files (blocking: a worker thread at rehash); StartupError if unusable."""
        cert, key, client_ca, flag = self._files
        return server_context(cert, key, client_ca=client_ca, flag=flag)

    def reloaded(self, result: ssl.SSLContext | str) -> str:
        """Take `load()`'s result (or its error's text); the report's words."""
        if isinstance(result, str):
            log.warning("%s certificate not reloaded, the old one stays: %s", self.what, result)
            return f"{self.what} certificate not reloaded (the old one stays): {result}"
        self.context = result
        return f"{self.what} certificate reloaded"

    def front(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        """A context that hands each handshake to the current one, for a listener that keeps its context."""
        context = self.load()
        if alpn:
            context.set_alpn_protocols(alpn)

        def switch(connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
            if self.context is not context:
                if alpn:
                    self.context.set_alpn_protocols(alpn)
                connection.context = self.context

        context.sni_callback = switch
        return context


def server_context(
    cert: str, key: str | None, *, client_ca: str | None = None, flag: str = "--tls-cert"
) -> ssl.SSLContext:
    """A server-side context with `cert` (and `key`, when it is not in the same file).

    With `client_ca`, clients may present a certificate issued by one of its CAs (or one of its
    self-signed certificates): it is requested, not required, and its fingerprint is the client's
    CERTFP. The standard library cannot request a certificate without verifying it, so without a
    CA file none is requested.
    """
    key_flag = flag.replace("cert", "key")
    _readable(cert, "certificate", flag)
    if key:
        _readable(key, "key", key_flag)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    try:
        context.load_cert_chain(cert, key or None)
    except ssl.SSLError as exc:
        files = f"{cert} and {key}" if key else cert
        raise StartupError(
            f"TLS certificate ({flag}) {files}: not a PEM certificate with its private key ({exc.reason or exc})"
        ) from exc
    if client_ca:
        _readable(client_ca, "client CA file", "--tls-client-ca")
        try:
            context.load_verify_locations(client_ca)
        except ssl.SSLError as exc:
            raise StartupError(f"TLS client CA file (--tls-client-ca) {client_ca}: not PEM certificates") from exc
        context.verify_mode = ssl.CERT_OPTIONAL
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a self-signed client certificate listed alone
    return context


def client_context(ca: str | None) -> ssl.SSLContext:
    """A client-side context verifying the server against `ca` (a PEM file) or the system's store."""
    if ca:
        _readable(ca, "CA file", "--server-ca")
    context = ssl.create_default_context(cafile=ca or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    return context


def certfp(stream: trio.SSLStream[trio.SocketStream]) -> str | None:
    """SHA-256 (lower-case hex) of the certificate the peer presented, or None without one."""
    der = stream.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None


def _readable(path: str, what: str, flag: str) -> None:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise StartupError(f"TLS {what} ({flag}) {path}: {exc.strerror or exc}") from exc
