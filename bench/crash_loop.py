"""The long crash loop: SIGKILL at random moments while Slack fails every way, then count.

    python bench/crash_loop.py                                   # 15 kills, 500 alerts, SQLite
    python bench/crash_loop.py --backend postgres --postgres postgresql://postgres@127.0.0.1/postgres
    python bench/crash_loop.py --kills 20 --alerts 800 --feeds 4 --seed 7

The same loop as tests/test_crash_loop.py (tests/support/crash_loop.py), longer: `--feeds`
jsonl feeds (one channel each) get about `--alerts` new mentions in all over `--kills`
cycles, and brand replies to half of the previous cycle's mentions (answered notes, threaded
under the first message). Each cycle starts `monitor run`, kills it with SIGKILL after
`--kill-after` seconds (2 to 8 at random); a last run is left to empty the outbox. The fake
Slack on 127.0.0.1 fails about 40 % of calls (posts, updates, history and replies lookups):
500, 429 with Retry-After: 1, ratelimited in a 200, a reset before and a reset after the call
was done, 0.5-1.5 s slow answers, and answers dripped at 2 bytes a second. During the last
run it keeps failing for `--calm-after` seconds (300), then recovers. Printed: kills, failed
calls, lost, duplicated (first messages and thread replies), unsent outbox rows, channels
out of order, and the pace per channel (median and shortest gap between two messages). Exit 1
when anything was lost, duplicated or out of order.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.crash_loop import fresh_postgres, run_crash_loop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=15)
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--feeds", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MONITOR_TEST_POSTGRES_URL"),
        help="server URL; a fresh database is made there and dropped",
    )
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument(
        "--calm-after",
        type=float,
        default=300.0,
        help="seconds Slack keeps failing in the last run",
    )
    parser.add_argument(
        "--kill-after", type=float, nargs=2, default=(2.0, 8.0), metavar=("MIN", "MAX")
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="run in DIR and keep it (database, logs) to look at afterwards",
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            folder = args.keep
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crash-loop-")))
        if args.backend == "postgres":
            if not args.postgres:
                parser.error("--backend postgres needs --postgres URL")
            store = stack.enter_context(fresh_postgres(args.postgres))
        else:
            store = f"sqlite:///{folder / 'monitor.db'}"
        started = time.monotonic()
        outcome = run_crash_loop(
            folder,
            store,
            kills=args.kills,
            alerts=args.alerts,
            feeds=args.feeds,
            seed=args.seed,
            calm_after=args.calm_after,
            kill_after=tuple(args.kill_after),
            drain_timeout=max(600.0, args.alerts * 2.0),
            say=lambda line: print(line, flush=True),
        )
        print(f"{args.backend}: {outcome.line()} ({time.monotonic() - started:.0f} s)")
        for channel, (median, shortest) in sorted(outcome.pace_gaps.items()):
            print(f"  {channel}: median gap {median:.2f} s, shortest {shortest:.2f} s")
        bad = outcome.lost or outcome.duplicates or outcome.reply_duplicates
        return 1 if bad or outcome.unsent or outcome.out_of_order else 0


if __name__ == "__main__":
    sys.exit(main())
