"""What one joined client costs the server: tracemalloc by source line, and the size of each piece.

A real `ChatServer` runs in this process on a free port of 127.0.0.1; `load.py`'s generator runs in
a child process (so its sockets are not counted) and connects, registers and joins N clients, then
holds them until this side has measured. The figures are the growth between a snapshot before the
clients and one after the join storm has drained, divided by N: by the allocating line, by the
innermost line of ours (or trio's) on the allocation's stack, and `sys.getsizeof` of the objects one
connection holds. Bounded: one run, N clients (default 2000), loopback only.

    python benchmarks/memory.py --clients 2000                  # tracemalloc tables and the pieces
    python benchmarks/memory.py --clients 5000 --no-trace       # RSS growth only (tracing inflates RSS)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import select
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # this checkout's package, and load.py beside us

import trio  # noqa: E402
from load import proc_rss_kb  # noqa: E402  (beside us; VmRSS from /proc, 0 elsewhere)

from multichat_trio.config import ServerConfig  # noqa: E402
from multichat_trio.ircd.server import ChatServer  # noqa: E402

#: Frames whose lines we attribute allocations to, innermost first (the rest is stdlib plumbing).
OURS = (os.sep + "multichat_trio" + os.sep, os.sep + "trio" + os.sep)


def hold_clients(argv: list[str]) -> None:
    """The child: connect and join with load.py's generator, say how many joined, hold until stdin closes."""
    import load

    args = load.parse_args([*argv, "--senders", "0", "--messages", "0"])
    generator = load.Load(args)
    generator.connect_all(time.monotonic() + args.timeout)
    generator.settle(args.settle)
    print(json.dumps({"joined": generator.joined, "failed": generator.failed}), flush=True)
    while not select.select([sys.stdin], [], [], 0)[0]:  # EOF on stdin: the parent has measured
        generator.poll(0.1)


def by_line(diff: list[tracemalloc.StatisticDiff], clients: int, ours: bool, top: int) -> list[dict[str, Any]]:
    """Bytes per client grouped by the allocating line, or by the innermost line in our code or trio's."""
    totals: dict[str, list[int]] = {}
    for stat in diff:
        frames = list(reversed(stat.traceback))  # most recent call first
        frame = frames[0]
        if ours:
            frame = next((f for f in frames if any(part in f.filename for part in OURS)), frame)
        key = f"{_short(frame.filename)}:{frame.lineno}"
        entry = totals.setdefault(key, [0, 0])
        entry[0] += stat.size_diff
        entry[1] += stat.count_diff
    rows = sorted(totals.items(), key=lambda kv: -kv[1][0])[:top]
    return [{"line": k, "bytes": round(v[0] / clients), "objects": round(v[1] / clients, 2)} for k, v in rows]


def _short(filename: str) -> str:
    for anchor in ("multichat_trio", "trio", "python3"):
        if (at := filename.rfind(os.sep + anchor + os.sep)) >= 0:
            return filename[at + 1 :]
    return filename


def pieces(server: ChatServer) -> dict[str, int]:
    """`sys.getsizeof` of what one connection holds (shallow: each object with its `__dict__`, if any)."""
    connection = next(iter(server._connections))
    client, outbox = connection.client, connection.outbox
    held: dict[str, object] = {
        "Connection": connection,
        "Client": client,
        "Client.caps": client.caps,
        "Client.channels": client.channels,
        "Client.bucket": client.bucket,
        "Outbox": outbox,
        "Outbox._backlog": getattr(outbox, "_backlog", None),
        "stream": connection.stream,
        "stream's socket": getattr(connection.stream, "socket", None),
        "stdlib socket": getattr(connection, "_sock", None),
    }
    out: dict[str, int] = {}
    for name, obj in held.items():
        if obj is not None:
            attrs = getattr(obj, "__dict__", None)
            size = sys.getsizeof(obj) + (sys.getsizeof(attrs) if attrs is not None else 0)
            out[f"{name} ({type(obj).__name__})"] = size
    for channel in client.channels.values():  # one dict entry per member: the dict's size / members
        out["member entry (dict slot)"] = round(sys.getsizeof(channel.members) / max(1, len(channel.members)))
        break
    task = next(
        t for t in _all_tasks() if t.name.endswith(("chat connection", "_run_handler"))
    )  # one connection's task
    out["task"] = sys.getsizeof(task)
    frames = 0
    coro: Any = task.coro
    while coro is not None:  # the coroutines it waits through (3.11+: each holds its frame)
        frames += sys.getsizeof(coro)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    out["task's coroutines"] = frames
    return out


def _all_tasks() -> list[trio.lowlevel.Task]:
    tasks, nurseries = [], list(trio.lowlevel.current_root_task().child_nurseries)
    while nurseries:
        for task in nurseries.pop().child_tasks:
            tasks.append(task)
            nurseries.extend(task.child_nurseries)
    return tasks


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    config = ServerConfig(
        port=0, http_port=0, ws_port=0, irc_ws_port=0, stats_interval=0, db="", autojoin="",
        flood_rate=0, max_clients=args.clients + 100, max_clients_per_ip=0, max_connects_per_ip=0,
        max_channels_per_user=0, max_channels=0, register_timeout=600, ping_interval=3600, shutdown_grace=1,
    )  # fmt: skip
    async with trio.open_nursery() as nursery:
        server: ChatServer = await nursery.start(ChatServer(config).serve)
        if args.trace:
            tracemalloc.start(args.depth)
        gc.collect()
        before = tracemalloc.take_snapshot() if args.trace else None
        rss_before, tasks_before = proc_rss_kb(os.getpid()), len(_all_tasks())
        argv = [sys.executable, __file__, "--hold", "--port", str(server.port), "--clients", str(args.clients)]
        argv += ["--channels", str(args.channels), "--settle", "1", "--timeout", str(args.timeout)]
        process = await trio.lowlevel.open_process(argv, stdin=-1, stdout=-1)
        assert process.stdout is not None and process.stdin is not None
        with trio.fail_after(args.timeout):
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stdout.receive_some(4096) or b"\n"
            held = json.loads(line or b"{}")
            while any(c.outbox.draining for c in server._connections) or server.hub.fanout.pending:
                await trio.sleep(0.05)  # the join storm's last bytes are still on their way
        gc.collect()
        rss_after = proc_rss_kb(os.getpid())
        clients = max(1, held.get("joined", 0))
        result: dict[str, Any] = {"clients": args.clients, **held, "channels": args.channels}
        result["rss_per_client_kb"] = round((rss_after - rss_before) / clients, 2)
        result["tasks_per_client"] = round((len(_all_tasks()) - tasks_before) / clients, 2)
        if before is not None:
            after = tracemalloc.take_snapshot()
            diff = after.compare_to(before, "traceback")
            result["traced_per_client_bytes"] = round(sum(s.size_diff for s in diff) / clients)
            result["by_allocating_line"] = by_line(diff, clients, False, args.top)
            result["by_our_line"] = by_line(diff, clients, True, args.top)
            if args.where:  # the stacks behind one line of the tables
                stacks = [s for s in diff if s.size_diff > 0 and any(args.where in str(f) for f in s.traceback)]
                result["where"] = [list(map(str, s.traceback)) for s in stacks[:3]]
            tracemalloc.stop()
        result["pieces_bytes"] = pieces(server)
        await process.stdin.aclose()
        await process.wait()
        server.stop()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=2000, help="clients that register and join")
    p.add_argument("--channels", type=int, default=1, help="spread them over this many channels")
    p.add_argument("--no-trace", dest="trace", action="store_false", help="RSS only (no tracemalloc)")
    p.add_argument("--depth", type=int, default=8, help="frames kept per traced allocation")
    p.add_argument("--top", type=int, default=15, help="lines shown per table")
    p.add_argument("--where", default="", help="also show the stacks of allocations at this file:line")
    p.add_argument("--timeout", type=float, default=300.0, help="bound on connecting and draining, seconds")
    p.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)  # the child side
    args, rest = p.parse_known_args()
    if args.hold:
        hold_clients(
            [*rest, "--clients", str(args.clients), "--channels", str(args.channels), "--timeout", str(args.timeout)]
        )
        return
    print(json.dumps(trio.run(measure, args), indent=1))


if __name__ == "__main__":
    main()
