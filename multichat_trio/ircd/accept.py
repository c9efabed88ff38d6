"""The accept loop (the chat's and the relay's), and the client cap the open-file limit allows.

trio's `serve_tcp` logs a traceback every 0.1 s while `accept` fails for want of file descriptors.
Here a failing `accept` backs off (0.1 s doubling to 2 s) and is logged once per interval with a
count; and `client_cap` keeps the chat below the process's open-file limit, with room left for
the web monitor, the history files and the listeners, so a full server refuses newcomers with
`ERROR :Server is full` instead of running out of descriptors.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Awaitable, Callable

import trio

from ..chat.limits import LogEvery
from ..config import ServerConfig

log = logging.getLogger(__name__)

#: What `accept` fails with when the process or the system is out of something (not our peer's fault).
CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
#: Back-off after such a failure: first, and at most.
BACKOFF_FIRST, BACKOFF_MOST = 0.1, 2.0
#: Seconds between two log lines about the same trouble.
LOG_INTERVAL = 10.0
#: Descriptors kept for everything but chat clients: listeners, SQLite (db, WAL, shm), HTTP requests, stdio.
FD_RESERVE = 64


def client_cap(config: ServerConfig) -> int:
    """`max_clients`, lowered to what the open-file limit leaves once the rest has its share (POSIX)."""
    try:
        import resource
    except ImportError:  # Windows: no per-process descriptor limit of this kind
        return config.max_clients
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return config.max_clients
    reserve = FD_RESERVE + (config.max_viewers if config.web and config.ws_port else 0)
    return max(1, min(config.max_clients, soft - reserve))


Start = Callable[[trio.SocketStream, trio.Nursery, str], None]


def task_each(handle: Callable[[trio.SocketStream], Awaitable[None]]) -> Start:
    """`accept_forever`'s `start` for a handler that serves one connection: a task running `handle(stream)`."""

    def start(stream: trio.SocketStream, nursery: trio.Nursery, name: str) -> None:
        nursery.start_soon(handle, stream, name=name)

    return start


async def accept_forever(
    listener: trio.SocketListener, start: Start, nursery: trio.Nursery, what: str = "chat"
) -> None:
    """`start(stream, nursery, name)` for each accepted connection; back off while out of resources.

    `start` owns the stream: it starts the task (in `nursery`, named `name`) that closes it on every path.
    Its own choice of task: the chat's plain connections run `Connection.run` itself (no wrapper's frame
    is memory every client holds).

    `what` names the listener in the log line (the relay uses this loop too).
    """
    complaints = LogEvery(LOG_INTERVAL)
    backoff = BACKOFF_FIRST
    name = f"{what} connection"  # one string for every task (trio would build one per task)
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in CAPACITY_ERRNOS:
                    raise
                if (count := complaints.note(trio.current_time())) is not None:
                    name = errno.errorcode.get(exc.errno or 0, "?")
                    why = f"{name}: {os.strerror(exc.errno or 0)}"
                    log.error("cannot accept %s connections (%s), %d time(s); backing off", what, why, count)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MOST)
                continue
            backoff = BACKOFF_FIRST
            start(stream, nursery, name)
