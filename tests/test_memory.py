"""What an idle, registered, joined client costs the server, counted with tracemalloc (issue #17).

Only allocations made under our package's frames count (the test's own clients run in this process
too), so the figure is the server's: about 6.4 KB on CPython 3.11, 10.6 KB before the reader went
straight to the socket and lost its nursery, Event, buffers and sets. The bound leaves room for
other Python versions; `benchmarks/memory.py` has the line-by-line table.
"""

from __future__ import annotations

import gc
import tracemalloc

from .conftest import OpenClient, StartServer

CLIENTS = 30
BOUND = 8500  # bytes per client


def _ours(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snapshot.filter_traces([tracemalloc.Filter(True, "*multichat_trio*", all_frames=True)])


async def test_an_idle_joined_client_costs_the_server_less_than_the_bound(
    start_server: StartServer, open_client: OpenClient
) -> None:
    # 30 clients from 127.0.0.1; Nagle off: traced, the server looks busy, and delayed ACKs would stall each line
    server = await start_server(max_clients_per_ip=0, max_connects_per_ip=0, nagle_when_busy=False)
    tracemalloc.start(6)
    try:
        gc.collect()
        before = _ours(tracemalloc.take_snapshot())
        clients = [await open_client(server.port) for _ in range(CLIENTS)]
        for index, client in enumerate(clients):
            await client.register(f"idle{index}")
            await client.send("JOIN #idle")
            await client.expect("366")  # end of NAMES: joined
        for client in clients:
            await client.sync()  # the later joiners' JOIN lines have all arrived
        gc.collect()
        after = _ours(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(server.hub.channels["#idle"].members) == CLIENTS
    assert grown / CLIENTS < BOUND, f"{grown / CLIENTS:.0f} bytes per client"
