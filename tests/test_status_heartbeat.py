"""`monitor status` tells whether `monitor run` is running; `--problems` exits 1 for scripts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.store.models import utcnow
from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import LocalServer, Reply, local_server
from tests.test_end_to_end import ENTRIES, FEED, wait_for, write_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def feed_server() -> Iterator[LocalServer]:
    with local_server() as server:
        server.route("/feed.atom", Reply(200, FEED.read_bytes()))
        yield server


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def status(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "status", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_shows_the_heartbeat_of_run_and_says_when_it_stopped(
    tmp_path: Path, feed_server: LocalServer, slack: FakeSlack
) -> None:
    config = write_config(tmp_path, feed_server.url + "/feed.atom", slack)
    before = status(config, "--problems")
    assert "scheduler: not running (`monitor run` never ran against this database)" in before.stdout
    assert before.returncode == 1, before.stdout
    env = {**os.environ, "SLACK_BOT_TOKEN": slack.token}
    with (tmp_path / "run.log").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: len(slack.messages) >= ENTRIES, 90, "all alerts")
        wait_for(lambda: "scheduler: running" in status(config).stdout, 60, "a heartbeat")
        running = status(config, "--problems")
        assert running.returncode == 0, running.stdout
        assert f" pid {process.pid})" in running.stdout
    finally:
        process.send_signal(signal.SIGKILL)  # a crash: nothing says goodbye
        process.wait(timeout=30)
    # four minutes later, as cron would see it: the last beat is older than three sweeps
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    with engine.begin() as conn:
        then = utcnow() - timedelta(minutes=4)
        conn.execute(
            sa.text("update scheduler_beat set beat_at = :t"), {"t": then.replace(tzinfo=None)}
        )
    engine.dispose()
    stopped = status(config, "--problems")
    assert stopped.returncode == 1, stopped.stdout
    assert f"scheduler: NOT RUNNING since {then:%Y-%m-%d %H:%M} UTC (last heartbeat 4m" in (
        stopped.stdout
    )
    assert "no feed needs attention" in stopped.stdout  # the feed is fine; the scheduler is not
    plain = status(config)
    assert plain.returncode == 0, "without --problems, status is a report, not a check"
