"""TLS contexts for the chat listener, the relay and the web monitor, from PEM files (stdlib `ssl`).

Every context speaks TLS 1.2 or later without compression. A certificate or key that cannot be
used is a `StartupError` naming the file and the flag, so `serve` stops with one clear line; a
rehash builds a new context the same way and keeps the old one if that fails. A new context only
affects handshakes made after it: connected clients keep theirs.
"""

from __future__ import annotations

import hashlib
import ssl

import trio

from .config import StartupError


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


def certfp(stream: trio.SSLStream[trio.abc.Stream]) -> str | None:
    """SHA-256 (lower-case hex) of the certificate the peer presented, or None without one."""
    der = stream.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None


def _readable(path: str, what: str, flag: str) -> None:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise StartupError(f"TLS {what} ({flag}) {path}: {exc.strerror or exc}") from exc
