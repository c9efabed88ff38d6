"""Command line: `python -m multichat_trio serve|relay [options]`, and `hash-password` for operator entries.

Each subcommand runs one trio program whose root nursery owns everything, and turns Ctrl+C or
SIGTERM into an orderly stop: clients are told, sockets close, the exit status is 0.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import trio

from . import config as settings
from .app import LOOPBACK_URL_HOSTS, Running, serve_all
from .config import RelayConfig, ServerConfig, StartupError
from .ircd.server import ChatServer
from .relay import secret
from .web import login

log = logging.getLogger("multichat_trio")

STOP_SIGNALS = [sig for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if sig is not None]
#: Reads the settings again, where the platform has it (not on Windows: REHASH works everywhere).
RELOAD_SIGNAL: signal.Signals | None = getattr(signal, "SIGHUP", None)


#: What ends the program at start with a one-line message and status 1 instead of a traceback.
SETUP_ERRORS = (StartupError, ValueError, OSError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; exit status 2 for a usage error, 1 for a setup error (bad setting, port in use, database)."""
    parser = argparse.ArgumentParser(prog="multichat-trio", description="MultiChat: a small IRC chat server on trio.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the chat server",
        description="Run the chat server. Settings: flags, MULTICHAT_* variables, a --config file's top-level keys"
        " (or its [serve] table).",
        usage="%(prog)s [options]",
    )
    settings.add_arguments(serve, ServerConfig)
    relay = commands.add_parser(
        "relay",
        help="run the * relay proxy",
        description="Run the relay proxy. Settings: flags, MULTICHAT_RELAY_* variables, a --config file's [relay]"
        " table.",
        usage="%(prog)s [options]",
    )
    settings.add_arguments(relay, RelayConfig)
    hashing = commands.add_parser(
        "hash-password",
        help="print the argon2 hash of an operator password, for [opers.NAME] password in the config file",
        description="Print the argon2 hash of a password (asked without echo; read from stdin when it is not a"
        ' terminal), to put in the config file as [opers.NAME] password = "...".',
    )
    args, unknown = parser.parse_known_args(argv)
    command = {"serve": serve, "relay": relay, "hash-password": hashing}[args.command]
    if unknown:  # argparse reports these with the main usage: say them with the subcommand's
        command.error(f"unrecognized arguments: {' '.join(unknown)} (see {command.prog} --help)")
    if args.command == "hash-password":
        return _hash_password(hashing)
    try:
        if args.command == "serve":
            server_config = settings.load(ServerConfig, args, os.environ, "serve")
            _setup_logging(server_config.log_level)
            server_config = login.token_for_server(secret.for_server(server_config))
            reload = partial(settings.load, ServerConfig, args, os.environ, "serve")
            trio.run(_run_until_signal, partial(_serve, server_config, reload=reload))
        else:
            relay_config = settings.load(RelayConfig, args, os.environ, "relay")
            _setup_logging(relay_config.log_level)
            relay_config = secret.for_relay(relay_config)
            from .relay.proxy import run_relay

            trio.run(_run_until_signal, partial(run_relay, relay_config))
    except SETUP_ERRORS as exc:
        parser.exit(1, f"{command.prog}: error: {exc}\n")
    except BaseExceptionGroup as group:
        problem = _setup_problem(group)
        if problem is None:
            raise
        parser.exit(1, f"{command.prog}: error: {problem}\n")
    return 0


def _hash_password(command: argparse.ArgumentParser) -> int:
    """Ask for the password twice on a terminal (once from a pipe), print its hash; status 1 if unusable."""
    from .chat.opers import hash_password

    try:
        if sys.stdin.isatty():
            password = getpass.getpass("Operator password: ")
            if getpass.getpass("Again: ") != password:
                command.exit(1, f"{command.prog}: error: the two passwords differ\n")
        else:
            password = sys.stdin.readline().rstrip("\r\n")
    except (EOFError, KeyboardInterrupt):
        command.exit(1, f"\n{command.prog}: error: no password given\n")
    if not password:
        command.exit(1, f"{command.prog}: error: the password is empty\n")
    print(hash_password(password), flush=True)
    return 0


def _setup_problem(group: BaseExceptionGroup) -> BaseException | None:
    """The first error, when every error in trio's group is a setup problem (port in use, bad setting)."""
    matched, rest = group.split(SETUP_ERRORS)
    if matched is None or rest is not None:
        return None
    first: BaseException = matched
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def _setup_logging(level: str) -> None:
    if not isinstance(logging.getLevelName(level.upper()), int):
        raise ValueError(f"setting log_level: unknown level {level!r} (DEBUG, INFO, WARNING or ERROR)")
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


async def _run_until_signal(program: Callable[[trio.Event], Awaitable[object]]) -> None:
    """Run `program(stop)` until it returns; the first stop signal sets `stop`, a second cancels."""
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:
            stop_requested = trio.Event()

            async def watch_signals() -> None:
                async for signum in signals:
                    if stop_requested.is_set():
                        nursery.cancel_scope.cancel()  # a second Ctrl+C: stop at once
                        return
                    log.info("received %s, shutting down", signal.Signals(signum).name)
                    stop_requested.set()

            async def run_program() -> None:
                await program(stop_requested)
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_signals)
            nursery.start_soon(run_program)


async def _serve(config: ServerConfig, stop: trio.Event, *, reload: Callable[[], ServerConfig] | None = None) -> None:
    raise_file_limit(config.max_clients)
    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(serve_all, config, stop)
        running.server.hub.reload = reload  # REHASH, and SIGHUP where there is one
        if RELOAD_SIGNAL is not None:
            nursery.start_soon(_rehash_on_signal, running.server, stop)
        port = running.server.port
        monitor = running.monitor_url(config.web_host)
        web = f"  web chat: {running.web_url(config.web_host)}\n  web monitor: {monitor}" if monitor else "  web: off"
        if running.ws_port is not None:
            web += f" (live feed: ws port {running.ws_port})"
        if monitor and config.web_host in LOOPBACK_URL_HOSTS:
            web += "; on every interface: from elsewhere, use this machine's address"
        tls_port = running.server.tls_port
        tls = f"  over TLS: {config.host}:{tls_port} (irssi -c {config.host} -p {tls_port} -tls)\n" if tls_port else ""
        if (irc_ws := running.server.irc_ws_port) is not None:
            tls += f"  over WebSocket (IRCv3, web clients): {'wss' if tls_port else 'ws'}://{config.host}:{irc_ws}/\n"
        print(
            f"MultiChat is running. Chat (IRC): {config.host}:{port}\n"
            f"  connect with e.g.: irssi -c {config.host} -p {port} -n yourname\n"
            f"{tls}"
            f"{web}\n"
            f"  stop with Ctrl+C",
            flush=True,
        )


async def _rehash_on_signal(server: ChatServer, stop: trio.Event) -> None:
    """SIGHUP reads the settings again (as REHASH does) until the server stops; the log says what changed."""
    assert RELOAD_SIGNAL is not None
    with trio.open_signal_receiver(RELOAD_SIGNAL) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for _ in signals:
                    log.info("received SIGHUP, reading the settings again")
                    await server.rehash()  # rehash.apply logs its report

            nursery.start_soon(watch)
            await stop.wait()
            nursery.cancel_scope.cancel()


def raise_file_limit(wanted: int) -> None:
    """Lift the soft open-file limit to the hard one (POSIX only); the chat server keeps within what is left."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted + 64)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


if __name__ == "__main__":
    sys.exit(main())
