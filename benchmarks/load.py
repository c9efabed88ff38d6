"""IRC load generator: drive any IRC server on 127.0.0.1 and print one JSON line of figures.

N clients register (NICK/USER, wait for 001), join a channel (wait for 366), then S of them send
M messages each: closed loop (`--window`: at most W of a sender's messages not yet seen by the
first probe) or open loop (`--rate`: messages per second in total). A few receivers ("probes")
parse every line and time each message from the timestamp it carries; the others only count
"PRIVMSG" in what they read, and are read by a sweep every `--sweep` seconds rather than on every
arrival (one recv per delivery would saturate the generator and its own queueing would show up as
the server's latency), so the generator stays cheap next to the server it measures.

It is one stdlib epoll loop in one thread (no trio: it must not share the server's runtime), it
stops by itself (bounded counts, `--timeout`), and it talks to 127.0.0.1 only. With `--pid` it
samples the server's CPU time and RSS from /proc. Its own CPU time is in the output too: on a
2-core box the generator and the server share the cores, so read throughput next to both.

    python benchmarks/load.py --port 6667 --clients 100 --senders 10 --messages 2000 --window 100
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import resource
import select
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

HOST = "127.0.0.1"  # the only address this tool talks to
RECV_SIZE = 256 * 1024
#: Lazy receivers read per poll at most, and the longest poll wait while there are any.
SWEEP_SLICE = 32
SWEEP_POLL = 0.001

# Connection states.
CONNECTING, REGISTERING, JOINING, JOINED, DEAD = range(5)


@dataclass(eq=False)
class Conn:
    """One client socket and its place in the connect → register → join sequence."""

    sock: socket.socket
    index: int
    nick: str
    channel: str
    state: int = CONNECTING
    probe: bool = False
    partial: bytes = b""  # the unfinished last line of the previous read
    out: bytearray = field(default_factory=bytearray)
    want_write: bool = True  # connecting: writable means connected
    received: int = 0  # PRIVMSG lines counted
    lazy: bool = False  # a counting receiver read by the periodic sweep, not on every readiness


@dataclass
class Sender:
    conn: Conn
    index: int
    sent: int = 0
    acked: int = -1  # highest sequence number the first probe has seen


class Load:
    """The whole run: sockets, the epoll loop, and the counters it reports."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.epoll = select.epoll()
        self.conns: dict[int, Conn] = {}
        self.joined = 0
        self.failed = 0
        self.started_connects = 0
        self.senders: list[Sender] = []
        self.latencies: list[int] = []  # ns, from the probes
        self.deliveries = 0
        self.last_delivery = 0.0
        self.errors: dict[str, int] = {}
        self.payload = "x" * max(0, args.size)
        self.lazy: list[Conn] = []
        self.sweep_cursor = 0  # the next lazy receiver to read
        self.swept_at = 0.0
        self.sweep_credit = 0.0  # lazy receivers due to be read, by the clock

    # --- sockets --------------------------------------------------------------------------

    def open_one(self) -> None:
        index = self.started_connects
        self.started_connects += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        channel = f"#bench{index % self.args.channels}" if self.args.channels > 1 else "#bench"
        conn = Conn(sock, index, f"b{index}", channel)
        err = sock.connect_ex((HOST, self.args.port[index % len(self.args.port)]))  # nodes of a cluster in turn
        if err not in (0, errno.EINPROGRESS):
            self.fail(conn, f"connect: {os.strerror(err)}", registered=False)
            return
        self.conns[sock.fileno()] = conn
        self.epoll.register(sock.fileno(), select.EPOLLIN | select.EPOLLOUT)

    def fail(self, conn: Conn, why: str, *, registered: bool = True) -> None:
        key = why.split(":")[0][:40]
        self.errors[key] = self.errors.get(key, 0) + 1
        if conn.state != DEAD:
            if conn.state != JOINED:
                self.failed += 1
            conn.state = DEAD
            fd = conn.sock.fileno()
            if fd >= 0 and self.conns.pop(fd, None) is not None:
                self.epoll.unregister(fd)
            conn.sock.close()

    def write(self, conn: Conn, data: bytes) -> None:
        if conn.out:
            conn.out += data
            return
        try:
            n = conn.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self.fail(conn, f"send: {exc.strerror}")
            return
        if n < len(data):
            conn.out += data[n:]
            conn.want_write = True
            self.epoll.modify(conn.sock.fileno(), self.interest(conn))

    def flush(self, conn: Conn) -> None:
        if conn.state == CONNECTING:
            err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.fail(conn, f"connect: {os.strerror(err)}")
                return
            conn.state = REGISTERING
            conn.out += f"NICK {conn.nick}\r\nUSER bench 0 * :load generator\r\n".encode()
        try:
            n = conn.sock.send(conn.out) if conn.out else 0
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self.fail(conn, f"send: {exc.strerror}")
            return
        del conn.out[:n]
        if not conn.out:
            conn.want_write = False
            self.epoll.modify(conn.sock.fileno(), self.interest(conn))

    def interest(self, conn: Conn) -> int:
        return (0 if conn.lazy else select.EPOLLIN) | (select.EPOLLOUT if conn.want_write else 0)

    def make_lazy(self, conns: list[Conn]) -> None:
        """Read these counting receivers every `--sweep` seconds instead of on every arrival.

        At hundreds of thousands of deliveries per second, one recv per delivery would saturate
        this single-threaded generator and its queueing would show up as the server's latency. The
        kernel buffers what arrives between sweeps; probes and senders stay on every readiness.
        The sweep goes a slice at a time (see `sweep`), so it never holds the probes up for long.
        """
        for conn in conns:
            conn.lazy = True
            self.epoll.modify(conn.sock.fileno(), self.interest(conn))
        self.lazy = conns
        self.swept_at = time.monotonic()

    def sweep(self, now: float) -> None:
        """Read the lazy receivers whose turn has come: all of them once per `--sweep` seconds.

        Reading hundreds at once would take milliseconds, during which a probe's line waits in its
        socket and the generator's own delay would count as the server's latency; so each poll
        reads only the share that time has made due (at most `SWEEP_SLICE`), and polls come often.
        """
        self.sweep_credit += len(self.lazy) * (now - self.swept_at) / self.args.sweep
        self.swept_at = now
        due = min(int(self.sweep_credit), SWEEP_SLICE)
        self.sweep_credit = min(self.sweep_credit - due, float(len(self.lazy)))
        for _ in range(due):
            conn = self.lazy[self.sweep_cursor]
            self.sweep_cursor = (self.sweep_cursor + 1) % len(self.lazy)
            if conn.state != DEAD:
                self.read(conn, now)

    def read(self, conn: Conn, now: float) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(conn, f"recv: {exc.strerror}")
            return
        if not data:
            self.fail(conn, "closed by server")
            return
        cut = data.rfind(b"\n") + 1
        if not cut:
            conn.partial += data
            return
        region = conn.partial + data[:cut] if conn.partial else data[:cut]
        conn.partial = data[cut:]
        if conn.state == JOINED and not conn.probe:
            # The cheap path: count, and look at lines only if a PING or ERROR may be in there.
            count = region.count(b" PRIVMSG ")
            if count:
                conn.received += count
                self.deliveries += count
                self.last_delivery = now
            if b"PING" in region or b"ERROR" in region:
                self.lines(conn, region, now, counted=True)
        else:
            self.lines(conn, region, now, counted=False)

    def lines(self, conn: Conn, region: bytes, now: float, *, counted: bool) -> None:
        now_ns = time.monotonic_ns()
        for line in region.split(b"\n"):
            line = line.rstrip(b"\r")
            if not line:
                continue
            words = line.split(b" ", 3)
            if line.startswith(b"PING"):
                self.write(conn, b"PONG " + line[5:] + b"\r\n")
                continue
            if line.startswith(b"ERROR"):
                self.fail(conn, "ERROR: " + line.decode(errors="replace"))
                return
            if len(words) < 2:
                continue
            verb = words[1]
            if verb == b"PRIVMSG" and len(words) == 4:
                if not counted:
                    conn.received += 1
                    self.deliveries += 1
                    self.last_delivery = now
                if conn.probe:
                    self.probe_line(conn, words[3], now_ns)
            elif conn.state == REGISTERING and verb == b"001":
                conn.state = JOINING
                self.write(conn, f"JOIN {conn.channel}\r\n".encode())
            elif conn.state == JOINING and verb == b"366":
                conn.state = JOINED
                self.joined += 1
            elif conn.state in (REGISTERING, JOINING) and verb in (b"433", b"451", b"403", b"405", b"471", b"465"):
                self.fail(conn, f"numeric {verb.decode()}")
                return

    def probe_line(self, conn: Conn, rest: bytes, now_ns: int) -> None:
        # rest = b"#chan :<sender> <seq> <sent_ns> <payload>"
        text = rest.partition(b":")[2].split(b" ", 3)
        if len(text) < 3:
            return
        try:
            sender, seq, sent_ns = int(text[0]), int(text[1]), int(text[2])
        except ValueError:
            return
        self.latencies.append(now_ns - sent_ns)
        if conn.index == 0 and sender < len(self.senders):
            record = self.senders[sender]
            if seq > record.acked:
                record.acked = seq

    # --- phases ----------------------------------------------------------------------------

    def poll(self, timeout: float) -> None:
        now = time.monotonic()
        if self.lazy:
            timeout = min(timeout, SWEEP_POLL)
        for fd, mask in self.epoll.poll(timeout, 1024):
            conn = self.conns.get(fd)
            if conn is None:
                continue
            if mask & select.EPOLLIN:
                self.read(conn, now)
            if conn.state != DEAD and mask & (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP) and conn.want_write:
                self.flush(conn)
        if self.lazy:
            self.sweep(time.monotonic())

    def connect_all(self, deadline: float) -> float:
        """Open `--clients` connections, `--concurrency` at a time; returns seconds until all joined."""
        args = self.args
        start = time.monotonic()
        while self.joined + self.failed < args.clients and time.monotonic() < deadline:
            in_progress = self.started_connects - self.joined - self.failed
            while in_progress < args.concurrency and self.started_connects < args.clients:
                self.open_one()
                in_progress += 1
            self.poll(0.05)
        return time.monotonic() - start

    def settle(self, seconds: float) -> None:
        """Read whatever is still arriving from the join storm, for a bounded time."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.poll(0.02)

    def message(self, sender: Sender) -> bytes:
        conn = sender.conn
        line = f"PRIVMSG {conn.channel} :{sender.index} {sender.sent} {time.monotonic_ns()} {self.payload}\r\n"
        sender.sent += 1
        return line.encode()

    def run_messages(self, deadline: float) -> float:
        """Send the messages; returns seconds from the first send to the last delivery."""
        args = self.args
        total = args.senders * args.messages
        start = time.monotonic()
        self.last_delivery = start
        self.deliveries = 0
        expected = self.expected()
        interval = 1.0 / args.rate if args.rate else 0.0
        next_due = start
        issued = 0
        while time.monotonic() < deadline:
            now = time.monotonic()
            if args.rate:
                while issued < total and next_due <= now:
                    sender = self.senders[issued % len(self.senders)]
                    if sender.conn.state != DEAD:
                        self.write(sender.conn, self.message(sender))
                    issued += 1
                    next_due = start + issued * interval
            else:
                for sender in self.senders:
                    room = min(args.window - (sender.sent - 1 - sender.acked), args.messages - sender.sent)
                    if room > 0 and sender.conn.state != DEAD:
                        self.write(sender.conn, b"".join(self.message(sender) for _ in range(room)))
                issued = sum(s.sent for s in self.senders)
            if issued >= total and (self.deliveries >= expected or now - self.last_delivery > args.drain):
                break
            wait = max(0.0, next_due - now) if args.rate and issued < total else 0.05
            self.poll(min(wait, 0.05))
        return self.last_delivery - start

    def expected(self) -> int:
        """PRIVMSG deliveries if nothing is lost: every member of the sender's channel but the sender."""
        members: dict[str, int] = {}
        for conn in self.conns.values():
            if conn.state == JOINED:
                members[conn.channel] = members.get(conn.channel, 0) + 1
        return sum(self.args.messages * (members.get(s.conn.channel, 1) - 1) for s in self.senders)


# --- /proc sampling --------------------------------------------------------------------------


def proc_cpu(pid: int | None) -> float:
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        # children (workers) are not counted: all servers measured here are single-process
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def proc_rss_kb(pid: int | None) -> int:
    if not pid:
        return 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def total(sample: Callable[[int], float], pids: list[int]) -> float:
    """A /proc figure summed over the server's processes (a cluster's nodes and its Redis)."""
    return sum(sample(pid) for pid in pids)


def listen_overflows() -> int:
    """The kernel's count of connections dropped because an accept queue was full."""
    try:
        with open("/proc/net/netstat") as fh:
            rows = [line.split() for line in fh if line.startswith("TcpExt:")]
        return int(dict(zip(rows[0], rows[1], strict=True)).get("ListenOverflows", 0))
    except (OSError, IndexError, ValueError):
        return 0


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index] / 1e6  # ms


# --- main --------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, object]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    load = Load(args)
    hard_deadline = time.monotonic() + args.timeout
    rss_base = total(proc_rss_kb, args.pid)
    overflow_base = listen_overflows()
    cpu0, gen0 = total(proc_cpu, args.pid), self_cpu()
    connect_s = load.connect_all(hard_deadline)
    cpu1, gen1 = total(proc_cpu, args.pid), self_cpu()
    load.settle(args.settle)
    rss_joined = total(proc_rss_kb, args.pid)
    joined = [c for c in load.conns.values() if c.state == JOINED]
    joined.sort(key=lambda c: c.index)
    load.senders = [Sender(conn, i) for i, conn in enumerate(joined[-args.senders :] if args.senders else [])]
    if joined and joined[0] in (s.conn for s in load.senders):
        raise SystemExit("need more clients than senders + probes")
    for conn in spread(joined[: len(joined) - len(load.senders)], args.probes):
        conn.probe = True
    if args.sweep > 0:
        sending = {s.conn for s in load.senders}
        load.make_lazy([c for c in joined if not c.probe and c not in sending])
    result: dict[str, object] = {
        "label": args.label,
        "port": args.port,
        "clients": args.clients,
        "joined": load.joined,
        "failed": load.failed,
        "connect_s": round(connect_s, 3),
        "concurrency": args.concurrency,
        "listen_overflows": listen_overflows() - overflow_base,
    }
    msg_wall = 0.0
    cpu2 = cpu3 = gen2 = gen3 = 0.0
    if args.senders and args.messages and load.senders:
        expected = load.expected()
        cpu2, gen2 = total(proc_cpu, args.pid), self_cpu()
        t0 = time.monotonic()
        duration = load.run_messages(hard_deadline)
        msg_wall = time.monotonic() - t0
        cpu3, gen3 = total(proc_cpu, args.pid), self_cpu()
        lat = sorted(load.latencies)
        result.update(
            {
                "senders": len(load.senders),
                "messages": args.messages,
                "mode": f"rate {args.rate}/s" if args.rate else f"window {args.window}",
                "expected": expected,
                "deliveries": load.deliveries,
                "loss": round(1 - load.deliveries / expected, 6) if expected else 0.0,
                "duration_s": round(duration, 3),
                "deliveries_per_s": round(load.deliveries / duration) if duration > 0 else 0,
                "latency_ms": {
                    "p50": round(percentile(lat, 0.50), 3),
                    "p99": round(percentile(lat, 0.99), 3),
                    "max": round(lat[-1] / 1e6, 3) if lat else None,
                    "samples": len(lat),
                },
            }
        )
    result["server"] = {
        "pid": args.pid,
        "rss_base_mb": round(rss_base / 1024, 1),
        "rss_joined_mb": round(rss_joined / 1024, 1),
        "rss_per_client_kb": round((rss_joined - rss_base) / max(1, load.joined), 2),
        "cpu_connect_s": round(cpu1 - cpu0, 2),
        "cpu_messages_pct": round(100 * (cpu3 - cpu2) / msg_wall, 1) if msg_wall else None,
        # CPU time per delivery hardly depends on what else runs on the box: compare servers by it too
        "cpu_us_per_delivery": round(1e6 * (cpu3 - cpu2) / load.deliveries, 3) if load.deliveries else None,
    }
    result["generator"] = {
        "cpu_connect_s": round(gen1 - gen0, 2),
        "cpu_messages_pct": round(100 * (gen3 - gen2) / msg_wall, 1) if msg_wall else None,
    }
    result["errors"] = load.errors
    for conn in list(load.conns.values()):
        conn.sock.close()
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--port", type=_ints, required=True, help="server port on 127.0.0.1 (a comma list: a cluster's nodes)"
    )
    p.add_argument("--clients", type=int, default=100, help="clients that register and join")
    p.add_argument("--channels", type=int, default=1, help="spread clients over this many channels")
    p.add_argument("--concurrency", type=int, default=50, help="connections registering at once")
    p.add_argument("--senders", type=int, default=10, help="clients that send (the last ones joined)")
    p.add_argument("--messages", type=int, default=2000, help="messages per sender")
    p.add_argument("--window", type=int, default=100, help="closed loop: messages in flight per sender")
    p.add_argument("--rate", type=float, default=0.0, help="open loop: messages per second in total")
    p.add_argument("--size", type=int, default=16, help="padding bytes in each message")
    p.add_argument("--probes", type=int, default=4, help="receivers that time every message")
    p.add_argument("--settle", type=float, default=0.5, help="seconds to read the join storm out")
    p.add_argument("--drain", type=float, default=3.0, help="seconds without a delivery that end a run")
    p.add_argument("--sweep", type=float, default=0.02, help="read counting receivers every so often (0: always)")
    p.add_argument("--timeout", type=float, default=120.0, help="hard limit on the whole run, seconds")
    p.add_argument("--pid", type=_ints, default=[], help="server pid(s), for CPU and RSS from /proc (summed)")
    p.add_argument("--label", default="", help="name to put in the JSON line")
    return p.parse_args(argv)


T = TypeVar("T")


def spread(receivers: list[T], count: int) -> list[T]:
    """`count` of `receivers` spread evenly over the list, its first included (the first probe acks the
    closed loop), so no server is favoured by delivering to early or late joiners first."""
    if count <= 0:
        return []
    step = max(1, len(receivers) // count)
    return receivers[::step][:count]


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(run(parse_args(argv))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
