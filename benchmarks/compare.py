"""Run the same load matrix against MultiChat and every peer IRC server installed, print a table.

Each (row, server) pair gets a freshly started server on 127.0.0.1 with its flood control (and
MultiChat's per-address and channel limits) off, one run of `load.py` against it (a separate
process, so its CPU is not the server's), and a stop.
Rows run one after the other with every server inside a row, so a busy machine hurts everyone in
the same minute. Peers are found where they usually live: `ngircd` and `inspircd` from Debian
(`apt-get install ngircd inspircd`), `miniircd` from PyPI (`pip install miniircd`; as root it is
given `--setuid nobody`). Missing ones are skipped.

    python benchmarks/compare.py                      # all rows, all servers found (multichat-file too)
    python benchmarks/compare.py --rows throughput,latency --servers multichat,ngircd
    python benchmarks/compare.py --rows throughput,latency --servers multichat,multichat-file
                                                      # what the history store costs
    python benchmarks/compare.py --rows light --servers multichat,ngircd,trio-floor,python-floor
                                                      # beside the least trio, and bare Python, can do (floor.py)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOAD = HERE / "load.py"
FLOOR = HERE / "floor.py"

#: The matrix of the issue: name → load.py arguments. Timeouts keep every run bounded.
ROWS: dict[str, list[str]] = {
    "throughput": ["--clients", "100", "--senders", "10", "--messages", "2000", "--window", "100"],
    "latency": ["--clients", "500", "--senders", "5", "--messages", "1000", "--rate", "500"],
    "memory": ["--clients", "5000", "--senders", "0", "--messages", "0", "--settle", "2"],
    "connect": ["--clients", "1000", "--senders", "0", "--messages", "0"],
    "light": ["--clients", "100", "--senders", "5", "--messages", "200", "--rate", "50"],
    "hold": ["--clients", "10000", "--channels", "100", "--senders", "0", "--messages", "0", "--settle", "2"],
}
DEFAULT_ROWS = "throughput,latency,light,memory,connect"


@dataclass
class Peer:
    name: str
    command: Callable[[int, Path], list[str]]  # (port, scratch dir) → argv
    available: Callable[[], bool]
    #: Cluster mode: this many nodes, sharing a redis-server started for the run (0: a single server).
    nodes: int = 0


def _multichat(port: int, scratch: Path, db: str = "") -> list[str]:
    return [
        sys.executable, "-m", "multichat_trio", "serve",
        "--port", str(port), "--http-port", "0", "--ws-port", "0",
        "--flood-rate", "0", "--autojoin", "", "--stats-interval", "0",
        "--max-clients", "12000", "--log-level", "WARNING",
        # thousands of clients from 127.0.0.1, as fast as they can: no per-address, channel or registration limit
        "--max-clients-per-ip", "0", "--max-connects-per-ip", "0", "--max-channels-per-user", "0",
        "--max-channels", "0", "--register-timeout", "120",
        "--db", db,  # none by default: the peers keep none, and it holds lines until committed
    ]  # fmt: skip


NGIRCD_CONF = """[Global]
Name = bench.ngircd
Info = benchmark
Listen = 127.0.0.1
Ports = {port}
PidFile = {scratch}/ngircd.pid
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxPenaltyTime = 0
PingTimeout = 600
PongTimeout = 600
[Options]
DNS = no
Ident = no
PAM = no
"""


def _ngircd(port: int, scratch: Path) -> list[str]:
    conf = scratch / "ngircd.conf"
    conf.write_text(NGIRCD_CONF.format(port=port, scratch=scratch))
    return [_which("ngircd"), "-n", "-f", str(conf)]


INSPIRCD_CONF = """<server name="bench.inspircd" description="benchmark" network="Bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="{port}" type="clients">
<connect allow="*" timeout="60" threshold="100000000" pingfreq="600" hardsendq="1048576" softsendq="262144"
  recvq="262144" localmax="100000000" globalmax="100000000" maxconnwarn="off" fakelag="off"
  commandrate="1000000000" resolvehostnames="no" useident="no" limit="100000000">
<channels users="100" opers="100">
<pid file="{scratch}/inspircd.pid">
<performance softlimit="20000" somaxconn="4096" clonesonconnect="no">
<security hideserver="" userstats="Pu" customversion="">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15">
"""


def _inspircd(port: int, scratch: Path) -> list[str]:
    conf = scratch / "inspircd.conf"
    conf.write_text(INSPIRCD_CONF.format(port=port, scratch=scratch))
    return [_which("inspircd"), "--nofork", "--runasroot", f"--config={conf}"]


def _miniircd(port: int, scratch: Path) -> list[str]:
    argv = [_which("miniircd"), "--listen", "127.0.0.1", "--ports", str(port)]
    return [*argv, "--setuid", "nobody"] if os.geteuid() == 0 else argv


def _always() -> bool:
    return True


def _which(name: str) -> str:
    extra = os.pathsep.join(["/usr/sbin", "/usr/local/sbin", "/tmp/peers/bin", str(Path(sys.executable).parent)])
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + extra) or ""


PEERS = [
    Peer("multichat", _multichat, _always),
    # The default configuration, its history store in a file: what users run (in the default set).
    Peer("multichat-file", lambda port, scratch: _multichat(port, scratch, str(scratch / "h.sqlite3")), _always),
    # The store in memory, to tell the disk's share of its cost (not run unless named).
    Peer("multichat-memory", lambda port, scratch: _multichat(port, scratch, ":memory:"), _always),
    # TCP_NODELAY always: every write a segment, even under load to a client that has not acked the last.
    Peer("multichat-nodelay", lambda port, scratch: [*_multichat(port, scratch), "--no-nagle-when-busy"], _always),
    # Cluster mode (--cluster) with a redis-server of its own: one node (what the log costs), two nodes
    # (clients split between them, every message crossing Redis): what a second core buys.
    Peer("multichat-1node", _multichat, lambda: bool(_which("redis-server")), nodes=1),
    Peer("multichat-2nodes", _multichat, lambda: bool(_which("redis-server")), nodes=2),
    Peer("ngircd", _ngircd, lambda: bool(_which("ngircd"))),
    Peer("inspircd", _inspircd, lambda: bool(_which("inspircd"))),
    Peer("miniircd", _miniircd, lambda: bool(_which("miniircd"))),
    # Not servers: the least a trio program, and a bare selectors loop, can do for the generator (`floor.py`),
    # to tell the interpreter's share of a figure from trio's and from MultiChat's rules (not run unless named).
    Peer("trio-floor", lambda port, scratch: [sys.executable, str(FLOOR), "--port", str(port)], _always),
    Peer("python-floor", lambda port, scratch: [sys.executable, str(FLOOR), "--plain", "--port", str(port)], _always),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    """Wait until something accepts on the port (then the probe connection is closed at once)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def cpu_idle_share(seconds: float = 0.5) -> float:
    """Share of the machine's CPU that was idle over `seconds` (other work on the box skews runs)."""

    def snapshot() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return values[3] + values[4], sum(values)

    idle0, total0 = snapshot()
    time.sleep(seconds)
    idle1, total1 = snapshot()
    return (idle1 - idle0) / max(1, total1 - total0)


def start_processes(peer: Peer, scratch: Path, log: IO[bytes]) -> tuple[list[int], list[subprocess.Popen[bytes]]]:
    """The server's processes (a cluster's Redis first) and the ports its clients connect to."""
    if not peer.nodes:
        port = free_port()
        return [port], [subprocess.Popen(peer.command(port, scratch), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)]
    redis_port = free_port()
    redis = [
        _which("redis-server"),
        "--port",
        str(redis_port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        str(scratch),
    ]
    procs = [subprocess.Popen([*redis, "--appendonly", "no"], cwd=scratch, stdout=log, stderr=subprocess.STDOUT)]
    if not wait_listening(redis_port, procs[0]):
        return [], procs
    ports = [free_port() for _ in range(peer.nodes)]
    url = f"redis://127.0.0.1:{redis_port}/0"
    for port in ports:
        argv = [*peer.command(port, scratch), "--cluster", url]
        procs.append(subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    return ports, procs


def run_one(peer: Peer, row: str, extra: list[str], timeout: float) -> dict[str, object]:
    scratch = Path(tempfile.mkdtemp(prefix=f"bench-{peer.name}-"))
    log = (scratch / "server.log").open("wb")
    idle = cpu_idle_share()
    ports, procs = start_processes(peer, scratch, log)
    try:
        servers = procs[-len(ports) :] if ports else procs
        if not ports or not all(wait_listening(port, proc) for port, proc in zip(ports, servers, strict=True)):
            return {"label": f"{peer.name}/{row}", "error": f"did not start (see {scratch}/server.log)"}
        time.sleep(0.3)
        pids = ",".join(str(proc.pid) for proc in procs)  # a cluster's CPU and memory: its nodes' and Redis's
        argv = [sys.executable, str(LOAD), "--port", ",".join(map(str, ports)), "--pid", pids]
        argv += ["--label", f"{peer.name}/{row}", "--timeout", str(timeout), *ROWS[row], *extra]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            return {"label": f"{peer.name}/{row}", "error": done.stderr.strip()[-300:]}
        result: dict[str, object] = json.loads(lines[-1])
        result["idle_before"] = round(idle, 2)
        return result
    except subprocess.TimeoutExpired:
        return {"label": f"{peer.name}/{row}", "error": "load generator timed out"}
    finally:
        for proc in reversed(procs):  # the nodes before their Redis
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


# --- the table ---------------------------------------------------------------------------------

#: (row, column title, how to get the figure, True if higher is better)
Metric = tuple[str, str, Callable[[dict], float | None], bool]
METRICS: list[Metric] = [
    ("throughput", "closed loop, deliveries/s", lambda r: r.get("deliveries_per_s"), True),
    (
        "throughput",
        "closed loop, server CPU µs/delivery",
        lambda r: (r.get("server") or {}).get("cpu_us_per_delivery"),
        False,
    ),
    ("latency", "250k/s: p50 ms", lambda r: (r.get("latency_ms") or {}).get("p50"), False),
    ("latency", "250k/s: p99 ms", lambda r: (r.get("latency_ms") or {}).get("p99"), False),
    ("light", "5k/s: p50 ms", lambda r: (r.get("latency_ms") or {}).get("p50"), False),
    ("light", "5k/s: p99 ms", lambda r: (r.get("latency_ms") or {}).get("p99"), False),
    ("memory", "5000 joined: KB/client", lambda r: _per_client(r, 5000), False),
    ("connect", "1000 clients: join s", lambda r: _if_all(r, 1000, r.get("connect_s")), False),
    ("hold", "10000 clients: join s", lambda r: _if_all(r, 10000, r.get("connect_s")), False),
]


def _per_client(result: dict, clients: int) -> float | None:
    server = result.get("server") or {}
    return _if_all(result, clients, server.get("rss_per_client_kb"))


def _if_all(result: dict, clients: int, value: object) -> float | None:
    """A figure counts only if every client made it (miniircd cannot hold 1017+, say)."""
    if result.get("joined") != clients or not isinstance(value, int | float):
        return None
    return float(value)


def table(results: dict[tuple[str, str], list[dict]], peers: list[str]) -> str:
    others = [p for p in peers if p != "multichat"]
    head = ["load", *peers, *(f"vs {p}" for p in others)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, title, get, higher in METRICS:
        figures: dict[str, float | None] = {}
        for peer in peers:
            values = [v for r in results.get((row, peer), []) if (v := get(r)) is not None]
            figures[peer] = statistics.median(values) if values else None
        if all(v is None for v in figures.values()):
            continue
        cells = [title, *(_fmt(figures[p]) for p in peers)]
        ours = figures.get("multichat")
        for peer in others:
            theirs = figures[peer]
            if ours is None or theirs is None or (ours if higher else theirs) == 0:
                cells.append("—" if theirs is None else "n/a")
            else:
                # Always "how many times better we are": > 1.00 means MultiChat wins the row.
                cells.append(f"{(ours / theirs) if higher else (theirs / ours):.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None:
        return "failed"
    if value >= 10000:
        return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.0f}k"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default=DEFAULT_ROWS, help=f"comma list of {', '.join(ROWS)}")
    extras = ("multichat-memory", "multichat-nodelay", "multichat-1node", "multichat-2nodes")
    extras += ("trio-floor", "python-floor")
    default_servers = ",".join(p.name for p in PEERS if p.name not in extras)
    parser.add_argument(
        "--servers",
        default=default_servers,
        help="comma list to run (also multichat-memory, -nodelay, -1node, -2nodes, trio-floor, python-floor)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per pair; the table shows medians")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run at most")
    parser.add_argument("--json", metavar="FILE", help="also append every run's JSON line here")
    args, extra = parser.parse_known_args()
    wanted = set(args.servers.split(","))
    peers = [p for p in PEERS if p.name in wanted and p.available()]
    print("servers found:", ", ".join(p.name for p in peers), file=sys.stderr)
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.repeat):
        for row in args.rows.split(","):
            for peer in peers:
                result = run_one(peer, row, extra, args.timeout)
                results.setdefault((row, peer.name), []).append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
                if args.json:
                    with open(args.json, "a") as fh:
                        fh.write(json.dumps(result) + "\n")
    print(table(results, [p.name for p in peers]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
