"""Worker processes on one PostgreSQL database, a feed server counting polls per feed, and a
config of many feeds: what the worker tests and bench/worker_bench.py share."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from tests.support.fake_slack import FakeSlack
from tests.support.http_server import LocalServer, Reply, Request


class CountedFeeds:
    """RSS feeds /f/<n>.rss, each with `items` complaints of its own; every poll is noted
    (feed, monotonic time) so a test can find a feed polled twice within an interval."""

    def __init__(self, server: LocalServer, count: int, items: int = 1, delay: float = 0.0):
        self.server = server
        self.count = count
        self.items = items
        self.delay = delay
        self.polls: dict[int, list[float]] = defaultdict(list)
        # who polled: the first path segment of a worker's own URLs (url(n, via="a"))
        self.by: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        self._bodies = {n: self._body(n) for n in range(count)}
        server.route("/f/*", self._serve)
        for via in ("a", "b", "c"):
            server.route(f"/{via}/f/*", self._serve)

    def _body(self, n: int) -> bytes:
        at = format_datetime(datetime.now(UTC))
        entries = "".join(
            f"<item><title>Feed {n} item {i}</title><link>https://example.com/{n}/{i}</link>"
            f"<guid>feed-{n}-item-{i}</guid><pubDate>{at}</pubDate>"
            f"<description>Your service is down again and nobody answers, feed {n} item {i}"
            "</description></item>"
            for i in range(self.items)
        )
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
            f"<link>https://example.com/</link><description>d</description>{entries}"
            "</channel></rss>"
        ).encode()

    def _serve(self, request: Request) -> Reply:
        name = request.path.rsplit("/", 1)[-1].split(".", 1)[0]
        n = int(name)
        via = request.path.split("/")[1]
        with self._lock:
            now = time.monotonic()
            self.polls[n].append(now)
            self.by[via].append(now)
        if self.delay:
            time.sleep(self.delay)
        return Reply(200, self._bodies[n], {"Content-Type": "application/rss+xml"})

    def url(self, n: int, via: str = "") -> str:
        return f"{self.server.url}{'/' + via if via else ''}/f/{n}.rss"

    def polled_twice_within(self, seconds: float) -> dict[int, list[float]]:
        """Feeds with two polls closer together than `seconds`: the gaps."""
        found: dict[int, list[float]] = {}
        with self._lock:
            for n, times in self.polls.items():
                gaps = [b - a for a, b in itertools.pairwise(times) if b - a < seconds]
                if gaps:
                    found[n] = gaps
        return found

    def gap_across(self, moment: float) -> float:
        """The longest wait of a feed across `moment`: from its last poll before it to its
        first poll after it (a worker's death or a cut: how long its feeds went unpolled)."""
        gaps = []
        with self._lock:
            for times in self.polls.values():
                before = [t for t in times if t <= moment]
                after = [t for t in times if t > moment]
                if before and after:
                    gaps.append(min(after) - max(before))
        return max(gaps)

    def total(self) -> int:
        with self._lock:
            return sum(len(t) for t in self.polls.values())


def workers_config(
    path: Path,
    engine: Engine,
    feeds: CountedFeeds,
    slack: FakeSlack,
    *,
    interval: float = 60.0,
    channels: int = 1,
    extra: str = "",
    via: str = "",
    url: str | None = None,
) -> Path:
    """A config of `feeds.count` RSS feeds on `engine` (or `url`), alerts spread over
    `channels`; `via` puts the worker's feed requests under their own path, to tell who polled."""
    url = url or engine.url.render_as_string(hide_password=False)
    routes = "".join(
        f'[[routes]]\nname = "r{c}"\nchannel = "#c{c}"\nfeeds = '
        f"[{', '.join(repr(f'f{n}') for n in range(feeds.count) if n % channels == c)}]\n".replace(
            "'", '"'
        )
        for c in range(channels)
    )
    feed_tables = "".join(
        f'[[feeds]]\nname = "f{n}"\ntype = "rss"\nurl = "{feeds.url(n, via)}"\n'
        f'interval = "{int(interval)}s"\n'
        for n in range(feeds.count)
    )
    path.write_text(
        f'[storage]\nurl = "{url}"\n'
        f'[slack]\napi_url = "{slack.api_url}"\ndefault_channel = "#support"\n'
        '[alerts]\non = ["all"]\nmax_age = "5000d"\ndispatch_interval = "1s"\n'
        "[scheduler]\njitter = 0\n"
        f"{extra}\n{routes}{feed_tables}",
        encoding="utf-8",
    )
    return path


def start_worker(
    config: Path, log: Path, token: str, *args: str, command: str = "worker"
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SLACK_BOT_TOKEN": token}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), command, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


@contextmanager
def running(processes: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Stop every process still alive at the end, whatever the test did."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def duplicates(*slacks: FakeSlack) -> dict[str, int]:
    keys = Counter(key for slack in slacks for key in slack.keys())  # noqa: SIM118
    return {key: n for key, n in keys.items() if n > 1}


def terminate_worker_connections(engine: Engine, pid: int) -> int:
    """pg_terminate_backend on every connection of one worker process (each of its
    connections names the process: "monitor worker HOST:PID", "monitor host slots HOST:PID");
    how many there were."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND application_name LIKE :mine"
            ),
            {"mine": f"monitor %:{pid}"},
        ).scalar()
        conn.commit()
    return int(killed or 0)
