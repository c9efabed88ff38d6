"""What one small `send` on loopback TCP costs here: the floor under every IRC server's fan-out.

A channel message to n members is n sends, and each send of a short line with TCP_NODELAY is a
segment through the whole TCP/IP stack (out, then in again on loopback). This script times that
on warmed connections, next to two baselines measured in the same run: the same line without
TCP_NODELAY (Nagle queues it behind unacknowledged data, so most sends make no segment), and ten
lines in one send; and the Nagle line once more through the server's own fan-out code (`Fanout` to
each member's `Outbox`), round for round in turn with the bare sends on the same connections, so
`fanout_overhead_us` is what MultiChat's Python adds to each send. It prints one JSON line:

    python benchmarks/send_cost.py                # 500 connections, 40 rounds
    python benchmarks/send_cost.py --clients 100

`fanout_ms_per_message` is what fanning one message out to `--clients` members costs in the kernel
alone, one send each: a lower bound on a server's latency at that room size, whatever its language.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from multichat_trio.chat.fanout import Fanout, Line
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import parse

LINE = b":nick!user@127.0.0.1 PRIVMSG #bench :0 1234 567890123456789 xxxxxxxxxxxxxxxx\r\n"


def connections(count: int, nodelay: bool) -> list[tuple[socket.socket, socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=count)
    pairs = []
    for _ in range(count):
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
        server.setblocking(False)
        client.setblocking(False)
        pairs.append((server, client))
    listener.close()
    return pairs


def drain(pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    for _, client in pairs:
        try:
            while client.recv(1 << 20):
                pass
        except BlockingIOError:
            pass


def us_per_send(pairs: list[tuple[socket.socket, socket.socket]], data: bytes, rounds: int) -> float:
    """Median over rounds of the time per send, each round one send to every connection."""
    return us_per_round(pairs, rounds, {"bare": bare_round(pairs, data)})["bare"]


def bare_round(pairs: list[tuple[socket.socket, socket.socket]], data: bytes) -> Callable[[], None]:
    """One round as any server would: `data` sent to every connection."""

    def send_round() -> None:
        for server, _ in pairs:
            server.send(data)

    return send_round


def us_per_round(
    pairs: list[tuple[socket.socket, socket.socket]], rounds: int, ways: dict[str, Callable[[], object]]
) -> dict[str, float]:
    """Median per send of each way of sending one round (taken in turn, each as often first after a drain)."""
    samples: dict[str, list[float]] = {name: [] for name in ways}
    order = list(ways.items())
    for i in range(rounds + 5):  # the first rounds warm the connections up (slow start, quick ACKs)
        if i % 5 == 0:
            drain(pairs)  # like a reader that keeps up, every few messages
        name, send_round = order[(i % 5 + i // 5) % len(order)]
        start = time.perf_counter()
        send_round()
        if i >= 5:
            samples[name].append((time.perf_counter() - start) / len(pairs) * 1e6)
    return {name: sorted(values)[len(values) // 2] for name, values in samples.items()}


def through_fanout(pairs: list[tuple[socket.socket, socket.socket]]) -> Callable[[], None]:
    """One round the server's way: a channel line through `Fanout` to each member's `Outbox` on these sockets."""

    class Member:
        server_time = 0

        def __init__(self, sock: socket.socket) -> None:
            self.outbox = Outbox(1 << 30, sock)

    members: list[Any] = [Member(server) for server, _ in pairs]
    fanout, message = Fanout(), parse(LINE.decode().rstrip())

    def send_round() -> None:
        fanout.broadcast(Line(members, message, 0.0))
        fanout.flush()

    return send_round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500, help="connections (room members)")
    parser.add_argument("--rounds", type=int, default=40, help="sends to every connection, per figure")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    pairs = connections(args.clients, False)
    try:  # the same Nagle sends, bare and through the server's own fan-out code, round by round in turn
        ways = {"bare": bare_round(pairs, LINE), "fanout": through_fanout(pairs)}
        both = us_per_round(pairs, 2 * args.rounds, ways)
    finally:
        for server, client in pairs:
            server.close()
            client.close()
    for name, nodelay, data in (
        ("nodelay_line", True, LINE),
        ("nagle_line", False, LINE),
        ("nodelay_10_lines", True, LINE * 10),
    ):
        pairs = connections(args.clients, nodelay)
        try:
            figures[name] = us_per_send(pairs, data, args.rounds)
        finally:
            for server, client in pairs:
                server.close()
                client.close()
    line = figures["nodelay_line"]
    result = {
        "clients": args.clients,
        "us_per_send": {k: round(v, 2) for k, v in figures.items()},
        "nodelay_vs_nagle": round(line / figures["nagle_line"], 2),
        "ten_lines_vs_one": round(figures["nodelay_10_lines"] / line, 2),
        # what MultiChat's Python adds to each send (Fanout, Outbox), over the same sockets in the same minute
        "nagle_line_through_fanout": round(both["fanout"], 2),
        "fanout_overhead_us": round(both["fanout"] - both["bare"], 2),
        "fanout_ms_per_message": round(line * (args.clients - 1) / 1000, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
