"""Two `monitor run` processes on one database: one acts, never both; SQLite refuses a second."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import Reply, Request, local_server
from tests.test_end_to_end import ENTRIES, FEED, wait_for
from tests.test_lease import terminate_lock_holder

pytestmark = pytest.mark.e2e
POLL_INTERVAL = 30.0  # the shortest a feed may have


def pg_config(path: Path, engine: Engine, feed_url: str, slack: FakeSlack) -> Path:
    url = engine.url.render_as_string(hide_password=False)
    path.write_text(
        f'[storage]\nurl = "{url}"\n[slack]\napi_url = "{slack.api_url}"\n'
        '[alerts]\non = ["all"]\nmax_age = "5000d"\ndispatch_interval = "1s"\n'
        "[scheduler]\njitter = 0\n"
        f'[[feeds]]\nname = "news"\ntype = "rss"\nurl = "{feed_url}"\n'
        f'interval = "{int(POLL_INTERVAL)}s"\n',
        encoding="utf-8",
    )
    return path


def start(config: Path, log: Path, token: str = "xoxb-test-token") -> subprocess.Popen[bytes]:
    env = {**os.environ, "SLACK_BOT_TOKEN": token}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


@contextmanager
def running(*processes: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Stop every process still alive at the end, whatever the test did."""
    try:
        yield
    finally:
        for group in processes:
            for process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()


def duplicates(*slacks: FakeSlack) -> dict[str, int]:
    keys = Counter(key for slack in slacks for key in slack.keys())  # noqa: SIM118
    return {key: n for key, n in keys.items() if n > 1}


def test_kill_9_of_the_leader_mid_post_takeover_within_a_poll_interval_no_duplicate(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    with local_server() as feeds, fake_slack() as slack:
        feeds.route("/feed.atom", Reply(200, FEED.read_bytes()))
        polled_at: list[float] = []
        feed_route = feeds.routes["/feed.atom"]

        def feed(request: Request) -> Reply:
            polled_at.append(time.monotonic())
            return feed_route(request)

        feeds.route("/feed.atom", feed)
        # Slack takes a post the leader sent just before dying, and shows it only a moment
        # later (while the standby takes over): a takeover that acts at once re-sends it.
        post = slack.server.routes["/api/chat.postMessage"]
        armed, held, release = threading.Event(), threading.Event(), threading.Event()

        def slow_post(request: Request) -> Reply:
            if armed.is_set() and not held.is_set():
                held.set()
                release.wait(60)
            return post(request)

        slack.server.route("/api/chat.postMessage", slow_post)
        config = pg_config(
            tmp_path / "config.toml", postgres_engine, f"{feeds.url}/feed.atom", slack
        )
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        processes = [start(config, logs[0])]
        with running(processes):
            wait_for(lambda: "monitoring 1 feeds" in logs[0].read_text(), 90, "the leader")
            processes.append(start(config, logs[1]))
            wait_for(lambda: "standing by" in logs[1].read_text(), 60, "the standby")
            armed.set()
            wait_for(held.is_set, 90, "a post in flight")
            processes[0].send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            processes[0].wait(timeout=10)
            wait_for(lambda: "took over" in logs[1].read_text(), 60, "the takeover")
            time.sleep(1)  # Slack finishes the dead leader's post after the takeover
            release.set()
            wait_for(lambda: any(t > killed_at for t in polled_at), 90, "the new leader's poll")
            wait_for(lambda: len(set(slack.keys())) >= ENTRIES, 120, "every alert")
            time.sleep(3)  # a few dispatcher rounds: nothing more may arrive
        first_poll = min(t for t in polled_at if t > killed_at)
        print(
            f"\nkill -9: first poll by the new leader {first_poll - killed_at:.1f} s after the kill"
        )
        assert duplicates(slack) == {}, logs[1].read_text()
        assert len(set(slack.keys())) == ENTRIES
        assert first_poll - killed_at <= POLL_INTERVAL, "takeover within one poll interval"


class GrowingFeed:
    """An RSS feed that gains a new item every `every` seconds while it is running."""

    def __init__(self, every: float = 2.0) -> None:
        self.items: list[tuple[int, datetime]] = []
        self.every = every
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._grow, daemon=True)

    def _grow(self) -> None:
        while True:
            self.items.append((len(self.items), datetime.now(UTC)))
            if self.stop.wait(self.every):
                return

    def start(self) -> None:
        self._thread.start()

    def body(self) -> bytes:
        entries = "".join(
            f"<item><title>Outage {n}</title><link>https://example.com/{n}</link>"
            f"<guid>item-{n}</guid><pubDate>{format_datetime(at)}</pubDate>"
            f"<description>The service is down again, number {n}</description></item>"
            for n, at in reversed(self.items[-100:])
        )
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
            f"<link>https://example.com/</link><description>d</description>{entries}"
            "</channel></rss>"
        ).encode()


def test_a_leader_whose_lock_connection_is_dropped_stops_and_the_standby_takes_over(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    # Each instance has its own feed path and its own Slack, so every poll and every post
    # says which instance made it; both share the one database.
    growing = GrowingFeed()
    polls: dict[str, list[float]] = {"a": [], "b": []}

    def route(name: str) -> Callable[[Request], Reply]:
        def feed(_request: Request) -> Reply:
            polls[name].append(time.monotonic())
            return Reply(200, growing.body(), {"Content-Type": "application/rss+xml"})

        return feed

    with local_server() as feeds, fake_slack() as slack_a, fake_slack() as slack_b:
        feeds.route("/a.rss", route("a"))
        feeds.route("/b.rss", route("b"))
        configs = [
            pg_config(tmp_path / "a.toml", postgres_engine, f"{feeds.url}/a.rss", slack_a),
            pg_config(tmp_path / "b.toml", postgres_engine, f"{feeds.url}/b.rss", slack_b),
        ]
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        growing.start()
        processes = [start(configs[0], logs[0])]
        with running(processes):
            wait_for(lambda: "monitoring 1 feeds" in logs[0].read_text(), 90, "the leader")
            processes.append(start(configs[1], logs[1]))
            wait_for(lambda: "standing by" in logs[1].read_text(), 60, "the standby")
            wait_for(lambda: len(slack_a.messages) >= 3, 60, "the leader's first alerts")
            terminate_lock_holder(postgres_engine)
            dropped_at = time.monotonic()
            wait_for(lambda: "took over" in logs[1].read_text(), 60, "the takeover")
            wait_for(lambda: bool(polls["b"]), 60, "the new leader's first poll")
            # new mentions keep coming through two more of the new leader's polls
            wait_for(lambda: len(polls["b"]) >= 3, 3 * POLL_INTERVAL + 30, "more polls")
            growing.stop.set()
            total = len(growing.items)
            wait_for(
                lambda: len(set(slack_a.keys()) | set(slack_b.keys())) >= total,
                90,
                f"all {total} alerts",
            )
            time.sleep(3)  # a few dispatcher rounds: nothing more may arrive
            assert processes[0].poll() is None, "the old leader stands by, it did not crash"
        print(
            f"\ndropped lock connection: {total} mentions, {len(slack_a.messages)} posts by the old"
            f" leader, {len(slack_b.messages)} by the new one, first poll by the new leader"
            f" {polls['b'][0] - dropped_at:.1f} s after the drop"
        )
        assert duplicates(slack_a, slack_b) == {}, (logs[0].read_text(), logs[1].read_text())
        assert len(set(slack_a.keys()) | set(slack_b.keys())) == total
        assert polls["b"][0] - dropped_at <= POLL_INTERVAL, "takeover within one poll interval"
        # the old leader stopped: no poll begun after its last proof expired (5 s), and no
        # post after its last call could have ended (5 s + the longest Slack call, 12 s with
        # slack.timeout at 10 s: alerts.slack.call_deadline, + 1 s)
        assert [t - dropped_at for t in polls["a"] if t > dropped_at + 6] == []
        assert [m.at - dropped_at for m in slack_a.messages if m.at > dropped_at + 18] == []
        assert "lost the scheduler lease" in logs[0].read_text()
        assert "Traceback" not in logs[0].read_text() + logs[1].read_text()


def test_shutdown_after_the_lock_connection_died_exits_0_without_a_traceback(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    with local_server() as feeds, fake_slack() as slack:
        feeds.route("/feed.atom", Reply(200, FEED.read_bytes()))
        config = pg_config(
            tmp_path / "config.toml", postgres_engine, f"{feeds.url}/feed.atom", slack
        )
        log = tmp_path / "run.log"
        process = start(config, log)
        with running([process]):
            wait_for(lambda: "monitoring 1 feeds" in log.read_text(), 90, "the leader")
            terminate_lock_holder(postgres_engine)
            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=60)
    text = log.read_text()
    assert returncode == 0, text
    assert "Traceback" not in text


def sqlite_config(tmp_path: Path) -> Path:
    (tmp_path / "mentions.jsonl").write_text(
        '{"id": "1", "created_at": "2026-01-01T00:00:00Z", "text": "down again"}\n',
        encoding="utf-8",
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "m.db"}"\n[scheduler]\njitter = 0\n'
        '[[feeds]]\nname = "file"\ntype = "jsonl"\npath = "mentions.jsonl"\ninterval = "30s"\n',
        encoding="utf-8",
    )
    return config


def test_a_second_run_on_one_sqlite_file_is_refused_and_a_kill_9_frees_it(
    tmp_path: Path,
) -> None:
    config = sqlite_config(tmp_path)
    logs = [tmp_path / "first.log", tmp_path / "second.log", tmp_path / "third.log"]
    processes = [start(config, logs[0])]
    with running(processes):
        wait_for(lambda: "monitoring 1 feeds" in logs[0].read_text(), 60, "the first instance")
        second = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "SLACK_BOT_TOKEN": ""},
        )
        processes.append(second)
        _out, err = second.communicate(timeout=60)
        lines = err.decode().strip().splitlines()
        assert second.returncode == 2
        assert len(lines) == 1, lines
        assert str(tmp_path / "m.db") in lines[0]
        assert f"pid {processes[0].pid}" in lines[0]
        assert processes[0].poll() is None, "the first keeps running"
        # single shots share the file with the running instance
        poll = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(config), "poll", "file"],
            capture_output=True,
            timeout=60,
        )
        assert poll.returncode == 0, poll.stderr
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait(timeout=10)
        processes.append(start(config, logs[2]))
        wait_for(lambda: "monitoring 1 feeds" in logs[2].read_text(), 60, "a new instance")
        assert processes[-1].poll() is None
