"""`monitor run` as a real process: a feed server and a fake Slack on 127.0.0.1, kill, restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import LocalServer, Reply, Request, local_server

pytestmark = pytest.mark.e2e
FEED = Path(__file__).parent / "fixtures" / "rss" / "heise_developer_atom_2016.atom"
ENTRIES = FEED.read_bytes().count(b"<entry>")


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def feed_server() -> Iterator[LocalServer]:
    with local_server() as server:
        server.route("/feed.atom", Reply(200, FEED.read_bytes(), {"ETag": '"v1"'}))
        yield server


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@dataclass(frozen=True)
class Mode:
    """How the monitor runs: one process on SQLite, or a worker on PostgreSQL."""

    store: str
    command: str
    restart: str  # the command a restart uses (on PostgreSQL `run` is one worker too)


@pytest.fixture(params=["single", "worker"])
def mode(request: pytest.FixtureRequest, tmp_path: Path) -> Mode:
    """Every end-to-end path below runs both ways."""
    if request.param == "single":
        return Mode(f"sqlite:///{tmp_path / 'monitor.db'}", "run", "run")
    engine: Engine = request.getfixturevalue("postgres_engine")
    return Mode(engine.url.render_as_string(hide_password=False), "worker", "run")


def write_config(tmp_path: Path, feed_url: str, slack: FakeSlack, store: str | None = None) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[storage]
url = "{store or f"sqlite:///{tmp_path / 'monitor.db'}"}"

[slack]
api_url = "{slack.api_url}"
default_channel = "#support"

[alerts]
on = ["all"]
max_age = "5000d"
dispatch_interval = "1s"

[scheduler]
jitter = 0

[[feeds]]
name = "heise"
type = "rss"
url = "{feed_url}"
interval = "30s"
""",
        encoding="utf-8",
    )
    return config


def start(
    config: Path, slack: FakeSlack, log: Path, command: str = "run"
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SLACK_BOT_TOKEN": slack.token}
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), command],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_alerts_arrive_once_across_kill_and_restart(
    tmp_path: Path, feed_server: LocalServer, slack: FakeSlack, mode: Mode
) -> None:
    assert ENTRIES >= 10
    config = write_config(tmp_path, feed_server.url + "/feed.atom", slack, mode.store)
    log = tmp_path / "monitor.log"
    # Slack answers slowly, so the kill lands while alerts are still being delivered.
    original = slack.server.routes["/api/chat.postMessage"]

    def slowly(request: Request) -> Reply:
        time.sleep(0.2)
        return original(request)

    slack.server.route("/api/chat.postMessage", slowly)
    process = start(config, slack, log, mode.command)
    try:
        wait_for(lambda: len(slack.messages) >= 3, 60, "the first alerts")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        delivered_before_kill = len(slack.messages)
        assert delivered_before_kill < ENTRIES, "the kill should land mid-delivery"
        # a worker's delivery job is taken over once the dead worker is stalled (30 s)
        process = start(config, slack, log, mode.restart)
        wait_for(lambda: len(slack.messages) >= ENTRIES, 120, f"all {ENTRIES} alerts")
        polls = len([r for r in feed_server.requests if r.path == "/feed.atom"])
        wait_for(lambda: len(feed_server.requests) > polls - 1, 5, "a poll after restart")
        time.sleep(3)  # a few dispatcher ticks: nothing more may arrive
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=30)
    keys = slack.keys()
    duplicates = {k: n for k, n in Counter(keys).items() if n > 1}
    assert duplicates == {}, log.read_text()
    assert len(keys) == ENTRIES
    assert returncode == 0, "SIGTERM stops the service cleanly"
    assert "Traceback" not in log.read_text()
    assert slack.token not in log.read_text()
    # the restart's poll sent the ETag and got the same feed: nothing re-stored or re-sent
    assert any(r.headers.get("if-none-match") == '"v1"' for r in feed_server.requests)


def test_status_after_a_run_shows_the_feed_healthy(
    tmp_path: Path, feed_server: LocalServer, slack: FakeSlack, mode: Mode
) -> None:
    config = write_config(tmp_path, feed_server.url + "/feed.atom", slack, mode.store)
    process = start(config, slack, tmp_path / "monitor.log", mode.command)
    # the entries are years old: the sweep at start finds each past its SLA, and its
    # "breached" note follows the first message in the thread
    expected = 2 * ENTRIES
    try:
        wait_for(lambda: len(slack.messages) >= expected, 120, "all alerts and SLA notes")
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    assert sum(1 for m in slack.messages if m.thread_ts) == ENTRIES
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "status"],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("heise"))
    assert " ok " in line and f" {ENTRIES} " in line
    assert f"alerts: {expected} sent, 0 pending, 0 failing" in result.stdout
    if mode.command == "worker":
        # the worker stopped cleanly: shown as such, with what it did
        assert "workers: NONE RUNNING" in result.stdout
        assert re.search(
            r"pid \d+: stopped .* ago, up since .*, polls and re-checks done \d+, jobs failed 0",
            result.stdout,
        )


def test_a_broken_feed_is_marked_unhealthy_and_the_others_keep_running(
    tmp_path: Path, feed_server: LocalServer, slack: FakeSlack, mode: Mode
) -> None:
    feed_server.route("/broken", Reply(200, b"<html><body>login required</body></html>"))
    config = write_config(tmp_path, feed_server.url + "/feed.atom", slack, mode.store)
    config.write_text(
        config.read_text()
        + f'\n[[feeds]]\nname = "broken"\ntype = "rss"\nurl = "{feed_server.url}/broken"\n',
        encoding="utf-8",
    )
    process = start(config, slack, tmp_path / "monitor.log", mode.command)
    try:
        wait_for(lambda: len(slack.messages) >= ENTRIES, 90, "alerts from the healthy feed")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    status = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "status"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    broken = next(line for line in status.splitlines() if line.startswith("broken"))
    assert "failing x1" in broken and "not a feed" in broken
    log = (tmp_path / "monitor.log").read_text()
    assert log.count("feed broken is failing") == 1
