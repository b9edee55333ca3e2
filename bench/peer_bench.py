"""Side by side with lemon24/reader 3.27: process CPU per poll cycle over the same local feeds.

    python bench/peer_bench.py --reader-python /path/to/py312-venv/bin/python
    python bench/peer_bench.py --reader-python PATH --feeds 200 --rounds 1    # quick

reader (https://github.com/lemon24/reader) fetches, parses and stores feeds with ETag
support, as the monitor's rss connector does, but scores and alerts nothing. Both poll the
same `--feeds` RSS documents (5 recorded-shape entries each) served by bench/poll_bench.py's
feed servers (`--hosts` local ports in their own process, every answer, 304s included,
delayed by `--latency`), 32 at a time, each into a fresh SQLite file. Three cycles each:

1. every feed new: fetch, parse, store (the monitor also scores and queues alerts);
2. nothing changed: every answer a 304 to the ETag sent back;
3. every `--changed-every`th feed (10th) has one new entry, the rest answer 304.

Measured: the process CPU (user + system, all threads) of the tool's own process during each
cycle; the feed servers' CPU is not counted, start-up (imports, language models, a new store,
registering the feeds) is printed apart. Each run is a subprocess: the monitor in this
interpreter (its venv), reader in `--reader-python` (reader 3.27 needs Python 3.12). Runs
alternate monitor, reader, `--rounds` times (3); the medians of each side and their ratio
are printed per cycle kind.

- The monitor: what `monitor run` starts: `monitor.scheduler.Service` (APScheduler, the
  polls pool of `[scheduler] concurrency` = `--workers`, per_host 4, interval 30 s, jitter
  0) over `Pipeline` with its warmed-up scorers, default alert rules (`on = ["negative"]`,
  one channel) and the dispatcher delivering to a sink that accepts everything (pace 0, as
  `monitor run` sets it for a non-Slack sink). A cycle is measured from the CPU clock at its
  first poll's start to the moment its last poll has ended and no alert is pending. Each
  cycle starts 30 s after the previous one, as the interval schedules it.
- reader: `make_reader(db)`, `add_feed` for each feed (start-up), then per cycle
  `update_feeds(workers=--workers, scheduled=False)`. `scheduled=False`: since reader 3.21
  an update only takes feeds whose update interval (1 hour) has passed, so without it the
  second call would request nothing.

The servers count the answers of each cycle (full, 304, body bytes); a run where a cycle did
not send every feed or did not answer 304 to the unchanged feeds is reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Only the standard library at the top: the reader side runs this file in reader's venv.
ROOT = Path(__file__).resolve().parent.parent
KINDS = {1: "first cycle, all new", 2: "unchanged, 304s", 3: "one in ten changed"}
TARGETS = {1: 1.0, 2: 0.8, 3: 0.8}  # issue 20: monitor CPU / reader CPU, at most


def feed_url(servers: Sequence[str], index: int) -> str:
    """Feed `index` on its server, as bench/poll_bench.py spreads feeds over hosts."""
    return f"{servers[index % len(servers)]}/feeds/{index}.rss"


def farm_call(server: str, path: str) -> dict[str, Any]:
    """GET a control path of the feed servers (/stats, /bump?every=N) without the project's
    dependencies, so both sides use the same stdlib call."""
    with urllib.request.urlopen(server + path, timeout=30) as answer:
        return dict(json.loads(answer.read()))


def answers_since(server: str, before: dict[str, Any]) -> dict[str, int]:
    after = farm_call(server, "/stats")
    return {key: int(after[key] - before[key]) for key in ("full", "not_modified", "bytes")}


def reader_side(args: argparse.Namespace) -> dict[str, Any]:
    """reader's three cycles in this process (reader's venv)."""
    started = time.process_time()
    import reader as reader_package
    from reader import make_reader

    reader = make_reader(args.db)
    for index in range(args.feeds):
        reader.add_feed(feed_url(args.servers, index))
    result: dict[str, Any] = {
        "tool": f"reader {reader_package.__version__}",
        "python": sys.version.split()[0],
        "setup_cpu": time.process_time() - started,
        "cycles": {},
    }
    for n in (1, 2, 3):
        bumped = farm_call(args.servers[0], f"/bump?every={args.changed_every}") if n == 3 else {}
        before = farm_call(args.servers[0], "/stats")
        wall, cpu = time.monotonic(), time.process_time()
        reader.update_feeds(workers=args.workers, scheduled=False)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        failed = sum(1 for feed in reader.get_feeds() if feed.last_exception)
        result["cycles"][n] = {
            "cpu": cpu,
            "wall": wall,
            "failed": failed,
            "changed": bumped.get("changed", 0),
            **answers_since(args.servers[0], before),
        }
    result["stored"] = reader.get_entry_counts().total
    reader.close()
    return result


def wait_for(condition: Callable[[], bool], timeout: float, step: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def monitor_side(args: argparse.Namespace) -> dict[str, Any]:
    """The monitor's three cycles in this process, on the path `monitor run` takes."""
    started = time.process_time()
    import logging
    import threading

    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text

    from bench.poll_bench import NullSink, TimedService
    from connectors.http import make_client
    from monitor.alerting.outbox import Dispatcher
    from monitor.alerting.routing import Router
    from monitor.config import parse_config
    from monitor.ingest.pipeline import Pipeline
    from monitor.reports.status import outbox_status
    from monitor.store.db import open_store

    # "deliver alerts ... skipped: maximum number of running instances" while alerts flow
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    feeds = args.feeds
    config = parse_config(
        {
            "storage": {"url": f"sqlite:///{args.db}"},
            "scheduler": {"jitter": 0, "concurrency": args.workers, "per_host": 4},
            "feeds": [
                {
                    "name": f"feed{i}",
                    "type": "rss",
                    "url": feed_url(args.servers, i),
                    "interval": "30s",
                }
                for i in range(feeds)
            ],
        }
    )
    engine = open_store(config.storage.resolved_url())
    result: dict[str, Any] = {"tool": "monitor", "python": sys.version.split()[0], "cycles": {}}
    cancel = threading.Event()
    with make_client(timeout=config.scheduler.http_timeout, cancel=cancel) as client:
        pipeline = Pipeline(config, engine, client)
        pipeline.warm_up()
        dispatcher = Dispatcher(engine, NullSink(), pace=0.0, router=Router(config))
        service = TimedService(config, pipeline, dispatcher)
        result["setup_cpu"] = time.process_time() - started

        def polled(count: int) -> Callable[[], bool]:
            # the main thread only looks at a list length while the polls run
            return lambda: len(service.done) >= count

        before, changed = farm_call(args.servers[0], "/stats"), 0
        service.start()
        try:
            for n in (1, 2, 3):
                polls = slice((n - 1) * feeds, n * feeds)
                if not wait_for(polled(polls.stop), 180, 0.05):
                    raise SystemExit(f"cycle {n}: {len(service.done)} polls in 180 s")
                if not wait_for(lambda: outbox_status(engine).pending == 0, 120, 0.1):
                    raise SystemExit(f"cycle {n}: alerts still pending after 120 s")
                cpu_end, drained = time.process_time(), time.monotonic()
                done = service.done[polls]
                first = min(start for start, *_ in done)
                previous_end = max((end for _, end, *_ in service.done[: polls.start]), default=0)
                result["cycles"][n] = {
                    "cpu": cpu_end - min(start for start, _ in service.cpu[polls]),
                    "wall": drained - first,
                    "failed": sum(1 for *_, ok in done if not ok),
                    "overlapped": first < previous_end,  # a cycle began before the last ended
                    "changed": changed,
                    **answers_since(args.servers[0], before),
                }
                # the next cycle starts 30 s after this one did: time to change the feeds
                if n == 2:
                    bumped = farm_call(args.servers[0], f"/bump?every={args.changed_every}")
                    changed = bumped["changed"]
                before = farm_call(args.servers[0], "/stats")
        finally:
            service.stop()
    with engine.connect() as connection:
        result["stored"] = connection.execute(text("SELECT count(*) FROM mention")).scalar()
    result["alerts"] = outbox_status(engine).sent
    engine.dispose()
    return result


def run_side(python: str, tool: str, servers: Sequence[str], args: argparse.Namespace) -> Any:
    """One run of one tool in its own interpreter, on a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            python,
            str(Path(__file__).resolve()),
            "--side",
            tool,
            "--servers",
            ",".join(servers),
            "--db",
            f"{tmp}/{tool}.sqlite",
            "--feeds",
            str(args.feeds),
            "--workers",
            str(args.workers),
            "--changed-every",
            str(args.changed_every),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{tool} run failed (exit {done.returncode})")
    return json.loads(lines[-1].removeprefix("RESULT "))


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[int, dict[str, float]]:
    """Per cycle kind: each side's median CPU seconds, their ratio (monitor / reader), and the
    range of the ratios of the runs made next to each other (round by round)."""
    figures: dict[int, dict[str, float]] = {}
    for n in KINDS:
        monitor = [run["cycles"][str(n)]["cpu"] for run in runs["monitor"]]
        reader = [run["cycles"][str(n)]["cpu"] for run in runs["reader"]]
        paired = [m / r for m, r in zip(monitor, reader, strict=True)]
        figures[n] = {
            "monitor": statistics.median(monitor),
            "reader": statistics.median(reader),
            "ratio": statistics.median(monitor) / statistics.median(reader),
            "low": min(paired),
            "high": max(paired),
        }
    return figures


def check(run: dict[str, Any], feeds: int) -> list[str]:
    """What makes a run not comparable: failed polls, missing answers, no 304s."""
    problems = []
    for n, cycle in run["cycles"].items():
        answered = cycle["full"] + cycle["not_modified"]
        if cycle["failed"] or answered != feeds:
            problems.append(f"cycle {n}: {cycle['failed']} failed, {answered} answers")
        expected_full = {"1": feeds, "2": 0, "3": cycle["changed"]}[n]
        if cycle["full"] != expected_full:
            problems.append(f"cycle {n}: {cycle['full']} full answers, {expected_full} expected")
        if cycle.get("overlapped"):
            problems.append(f"cycle {n} began before the previous one ended")
    return problems


def compare(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from bench import _corpus
    from bench.poll_bench import RemoteFarm

    print(f"machine: {_corpus.machine()}; load average {load()}")
    print(
        f"{args.feeds} rss feeds on {args.hosts} local hosts, {args.latency * 1000:.0f} ms per "
        f"response, {args.workers} workers, {args.rounds} rounds of monitor then reader"
    )
    farm = RemoteFarm(args.feeds, args.hosts, args.latency)
    farm.start()
    runs: dict[str, list[dict[str, Any]]] = {"monitor": [], "reader": []}
    problems: list[str] = []
    try:
        for round_ in range(1, args.rounds + 1):
            for tool, python in (("monitor", sys.executable), ("reader", args.reader_python)):
                farm.reset()  # every run starts from the documents of a first cycle
                before = load()
                run = run_side(python, tool, farm.server_urls, args)
                runs[tool].append(run)
                problems += [f"round {round_} {tool}: {p}" for p in check(run, args.feeds)]
                cycles = run["cycles"]
                print(
                    f"round {round_} {run['tool']:<12} (Python {run['python']}, load {before}): "
                    + "; ".join(
                        f"cycle {n} {cycles[str(n)]['cpu']:6.2f} s CPU "
                        f"({cycles[str(n)]['wall']:5.2f} s wall, {cycles[str(n)]['full']} full,"
                        f" {cycles[str(n)]['not_modified']} x 304)"
                        for n in KINDS
                    )
                    + f"; start-up {run['setup_cpu']:.2f} s CPU; {run['stored']} entries stored"
                    + (f", {run['alerts']} alerts delivered" if "alerts" in run else ""),
                    flush=True,
                )
    finally:
        farm.stop()
    figures = summarise(runs)
    print(f"medians of {args.rounds} runs each, process CPU seconds (user + system):")
    verdicts = []
    for n, kind in KINDS.items():
        f = figures[n]
        met = f["ratio"] <= TARGETS[n]
        verdicts.append(met)
        print(
            f"  cycle {n} ({kind}): monitor {f['monitor']:6.2f} s, reader {f['reader']:6.2f} s, "
            f"monitor / reader {f['ratio']:.2f} (runs side by side {f['low']:.2f}-"
            f"{f['high']:.2f}; target <= {TARGETS[n]}) {'PASS' if met else 'FAIL'}"
        )
    print(f"load average at the end: {load()}")
    for problem in problems:
        print(f"NOT COMPARABLE: {problem}")
    return 0 if all(verdicts) and not problems else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reader-python", help="python of a venv with reader==3.27 installed")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per response")
    parser.add_argument("--workers", type=int, default=32, help="concurrent polls, both sides")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--changed-every", type=int, default=10, help="cycle 3: every Nth feed has a new entry"
    )
    # one run of one side, started by compare()
    parser.add_argument("--side", choices=["monitor", "reader"], help=argparse.SUPPRESS)
    parser.add_argument("--servers", type=lambda s: s.split(","), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        side = monitor_side if args.side == "monitor" else reader_side
        print("RESULT " + json.dumps(side(args)), flush=True)
        return 0
    if not args.reader_python or not os.access(args.reader_python, os.X_OK):
        parser.error("--reader-python: the python of a venv with reader==3.27")
    return compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
