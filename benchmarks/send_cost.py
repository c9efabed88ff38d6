"""What one small `send` on loopback TCP costs here: the floor under every IRC server's fan-out.

A channel message to n members is n sends, and each send of a short line with TCP_NODELAY is a
segment through the whole TCP/IP stack (out, then in again on loopback). This script times that
on warmed connections, next to two baselines measured in the same run: the same line without
TCP_NODELAY (Nagle queues it behind unacknowledged data, so most sends make no segment), and ten
lines in one send. It prints one JSON line:

    python benchmarks/send_cost.py                # 500 connections, 40 rounds
    python benchmarks/send_cost.py --clients 100

`fanout_ms_per_message` is what fanning one message out to `--clients` members costs in the kernel
alone, one send each: a lower bound on a server's latency at that room size, whatever its language.
"""

from __future__ import annotations

import argparse
import json
import socket
import time

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
    samples = []
    for i in range(rounds + 5):  # the first rounds warm the connections up (slow start, quick ACKs)
        if i % 5 == 0:
            drain(pairs)  # like a reader that keeps up, every few messages
        start = time.perf_counter()
        for server, _ in pairs:
            server.send(data)
        if i >= 5:
            samples.append((time.perf_counter() - start) / len(pairs) * 1e6)
    samples.sort()
    return samples[len(samples) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500, help="connections (room members)")
    parser.add_argument("--rounds", type=int, default=40, help="sends to every connection, per figure")
    args = parser.parse_args()
    figures = {}
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
        "fanout_ms_per_message": round(line * (args.clients - 1) / 1000, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
