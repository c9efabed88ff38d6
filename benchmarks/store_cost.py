"""What storing one public message costs the history store: CPU per message of `HistoryStore.append`.

    python benchmarks/store_cost.py                     # {"us_per_message": ..., "stored": 20000, "batch": 100}
    python benchmarks/store_cost.py --stored 0          # under callgrind: the same run minus the appends

The rows are built before the clock starts (and whatever `--stored` is), so under
`valgrind --tool=callgrind` the difference of the instruction totals of `--stored N` and `--stored 0`,
divided by N, is the instructions per stored message: a figure a busy machine does not change.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from multichat_trio.chat import events
from multichat_trio.history.store import HistoryStore, NewEvent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000, help="messages built")
    parser.add_argument("--stored", type=int, default=None, help="messages stored (default: all the rows)")
    parser.add_argument("--batch", type=int, default=100, help="messages per transaction (the writer's group commit)")
    args = parser.parse_args()
    stored = args.rows if args.stored is None else min(args.stored, args.rows)
    chosen = random.Random(1)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    rows = [
        NewEvent(
            1.7e9 + i / 100,
            "message",
            "#bench",
            events.message(
                f"sender{i % 10}",
                "#bench",
                f"message {i} " + "x" * 60,
                "PRIVMSG",
                "".join(chosen.choices(alphabet, k=16)),
            ).data,
        )
        for i in range(args.rows)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        store = HistoryStore(str(Path(scratch) / "h.sqlite3"))
        store.open()
        started = time.process_time()
        for i in range(0, stored, args.batch):
            store.append(rows[i : min(i + args.batch, stored)])
        cpu = time.process_time() - started
        store.close()
    us = round(cpu / stored * 1e6, 2) if stored else None
    print(json.dumps({"us_per_message": us, "stored": stored, "batch": args.batch}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
