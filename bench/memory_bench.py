"""Peak RSS of `monitor run` with 200 feeds over a store of 1,000,000 mentions.

    python bench/memory_bench.py                          # 200 feeds, 30 s interval, 10 minutes
    python bench/memory_bench.py --seconds 120            # quick

Judged by: the process's peak RSS (VmHWM) stays under 150 MB.

Store: 1,000,000 synthetic mentions built once with `bench/report_bench.py`'s fill (bulk
INSERTs, 365 days, the report mix) and cached as `bench/.cache/mentions-1m.db`; every run works
on a fresh copy, so the cache stays as built. Feeds: `--feeds` RSS feeds served from a
separate process on 127.0.0.1 (8 ports); each feed shows the 5 newest of its items, and one new
item appears per feed every `--interval` seconds, so every cycle fetches and parses a full
feed, scores one new mention per feed and stores it (200 new mentions a cycle), like a busy
brand; alerts go to the console sink (no Slack token). Product: a real
`python -m monitor run` subprocess with `interval = "30s"` (the shortest allowed) and jitter 0.

Time: `--seconds` of wall clock (default 600 s = 20 cycles of 30 s). "30 minutes of simulated
cycles" would be 60 cycles: the script prints the cycle count and the RSS curve per minute so
the trend can be extrapolated; pass `--seconds 1800` for the full 30 minutes.
VmRSS is read from /proc/<pid>/status every second; printed: min / median / max of the samples
after start-up, VmHWM (the kernel's peak) at the end, and the first and last minute's medians.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _corpus
from tests.support.http_server import LocalServer, Reply, Request

CACHE = Path(__file__).resolve().parent / ".cache"
_FEED_PATH = re.compile(r"^/feeds/(\d+)\.rss$")
ITEMS = 5


def build_store(path: Path, count: int) -> None:
    """The 1M-mention SQLite file, built once (about a minute or two) and reused."""
    from bench.report_bench import fill
    from monitor.store.db import open_store

    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = open_store(f"sqlite:///{partial}")
    seconds = fill(engine, count, 365)
    engine.dispose()
    partial.rename(path)
    print(f"built {path} with {count:,} mentions in {seconds:.0f} s")


class GrowingFeeds:
    """Each feed's 5 newest items; a new item per feed every `interval` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.started = time.time()
        self.texts = [t for t in _corpus.templates() if t.platform in ("rss", "reddit")]

    def _answer(self, request: Request) -> Reply:
        match = _FEED_PATH.match(request.path)
        if not match:
            return Reply(404, b"no such feed")
        index = int(match.group(1))
        newest = int((time.time() - self.started) // self.interval)
        etag = f'"feed{index}-{newest}"'
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        now = datetime.now(UTC)
        items = []
        for n in range(newest, newest - ITEMS, -1):
            text = self.texts[(index * 7 + n) % len(self.texts)]
            items.append(
                "<item>"
                f"<title>{escape(text.title or 'comment')}</title>"
                f"<link>https://example.invalid/{index}/{n}</link>"
                f'<guid isPermaLink="false">feed{index}-item{n}</guid>'
                f"<pubDate>{format_datetime(now - timedelta(seconds=30 * (newest - n)))}</pubDate>"
                f"<description>{escape(text.markup[:2000])}</description>"
                "</item>"
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>feed {index}</title><link>https://example.invalid/{index}</link>"
            f"<description>bench</description>{''.join(items)}</channel></rss>"
        ).encode()
        return Reply(200, body, {"ETag": etag, "Content-Type": "application/rss+xml"})


def _serve(hosts: int, interval: float, urls: Any, stop: Any) -> None:
    feeds = GrowingFeeds(interval)
    servers = [LocalServer() for _ in range(hosts)]
    for server in servers:
        server.route("/feeds/*", feeds._answer)
        server.start()
    urls.put([server.url for server in servers])
    stop.wait()
    for server in servers:
        server.stop()


def write_config(folder: Path, db: Path, urls: list[str], feeds: int, interval: int) -> Path:
    lines = [
        f'[storage]\nurl = "sqlite:///{db}"\n',
        '[alerts]\non = ["negative"]\n[scheduler]\njitter = 0\n',
    ]
    for i in range(feeds):
        lines.append(
            f'[[feeds]]\nname = "feed{i}"\ntype = "rss"\n'
            f'url = "{urls[i % len(urls)]}/feeds/{i}.rss"\ninterval = "{interval}s"\n'
        )
    config = folder / "config.toml"
    config.write_text("".join(lines), encoding="utf-8")
    return config


def status_kb(pid: int, field: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--warmup", type=float, default=20, help="seconds left out of min/median")
    args = parser.parse_args()
    cached = CACHE / f"mentions-{args.mentions}.db"
    build_store(cached, args.mentions)
    context = multiprocessing.get_context("spawn")
    url_queue, stop = context.Queue(), context.Event()
    farm = context.Process(target=_serve, args=(8, args.interval, url_queue, stop), daemon=True)
    farm.start()
    urls = url_queue.get(timeout=60)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "monitor.db"
        shutil.copyfile(cached, db)
        config = write_config(folder, db, urls, args.feeds, args.interval)
        env = {k: v for k, v in os.environ.items() if k != "SLACK_BOT_TOKEN"}
        log = (folder / "run.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        samples: list[tuple[float, int]] = []
        started = time.monotonic()
        done = threading.Event()
        try:
            while time.monotonic() - started < args.seconds and process.poll() is None:
                rss = status_kb(process.pid, "VmRSS")
                if rss is not None:
                    samples.append((time.monotonic() - started, rss))
                done.wait(1.0)
            peak = status_kb(process.pid, "VmHWM")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
            stop.set()
            farm.join(timeout=10)
        text = (folder / "run.log").read_text(errors="replace")
        polls = len(re.findall(r"feed feed\d+: \d+ new", text))
        errors = text.count("Traceback")
    elapsed = samples[-1][0] if samples else 0.0
    steady = [kb for at, kb in samples if at >= args.warmup] or [kb for _, kb in samples]
    mb = 1024
    print(
        f"monitor run, {args.feeds} feeds every {args.interval} s, {args.mentions:,} mentions: "
        f"{elapsed:.0f} s sampled, about {elapsed / args.interval:.0f} cycles "
        f"({polls} polls logged with new mentions, {errors} tracebacks)"
    )
    print(
        f"  VmRSS after {args.warmup:.0f} s: min {min(steady) / mb:.1f} MB, "
        f"median {statistics.median(steady) / mb:.1f} MB, max {max(steady) / mb:.1f} MB; "
        f"VmHWM {(peak or 0) / mb:.1f} MB -> {'PASS' if (peak or 0) < 150 * mb else 'FAIL'} "
        "(peak < 150 MB)"
    )
    per_minute = [
        statistics.median([kb for at, kb in samples if m * 60 <= at < (m + 1) * 60]) / mb
        for m in range(int(elapsed // 60) + 1)
        if any(m * 60 <= at < (m + 1) * 60 for at, _ in samples)
    ]
    print("  median VmRSS per minute (MB): " + ", ".join(f"{v:.0f}" for v in per_minute))


if __name__ == "__main__":
    main()
