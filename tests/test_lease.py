"""Two instances on one PostgreSQL: one holds the scheduler lease, the other takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy.engine import Engine

from monitor.lease import SchedulerLease


def test_sqlite_always_grants_the_lease(sqlite_engine: Engine) -> None:
    assert SchedulerLease(sqlite_engine).try_acquire()
    assert SchedulerLease(sqlite_engine).try_acquire()


def test_one_holder_and_a_standby_that_takes_over(postgres_engine: Engine) -> None:
    first, second = SchedulerLease(postgres_engine), SchedulerLease(postgres_engine, 0.05)
    try:
        assert first.try_acquire()
        assert not second.try_acquire(), "the lease is exclusive"
        stop = threading.Event()
        took_over = threading.Event()

        def standby() -> None:
            if second.wait(stop):
                took_over.set()

        thread = threading.Thread(target=standby)
        thread.start()
        assert not took_over.wait(0.3), "no takeover while the holder lives"
        first.release()  # the holder dies: its connection, and the lock, are gone
        assert took_over.wait(5)
        stop.set()
        thread.join(5)
    finally:
        first.release()
        second.release()


def test_a_standby_gives_up_when_told_to_stop(postgres_engine: Engine) -> None:
    first, second = SchedulerLease(postgres_engine), SchedulerLease(postgres_engine, 0.05)
    try:
        assert first.try_acquire()
        stop = threading.Event()
        stop.set()
        assert second.wait(stop) is False
    finally:
        first.release()
        second.release()


def test_two_monitor_processes_on_postgresql_one_polls_the_other_takes_over(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    from tests.support.fake_slack import fake_slack
    from tests.support.http_server import Reply, local_server
    from tests.test_end_to_end import FEED, wait_for

    url = postgres_engine.url.render_as_string(hide_password=False)
    with local_server() as feeds, fake_slack() as slack:
        feeds.route("/feed.atom", Reply(200, FEED.read_bytes()))
        config = tmp_path / "config.toml"
        config.write_text(
            f'[storage]\nurl = "{url}"\n[slack]\napi_url = "{slack.api_url}"\n'
            '[alerts]\non = ["all"]\nmax_age = "5000d"\n[scheduler]\njitter = 0\n'
            f'[[feeds]]\nname = "heise"\ntype = "rss"\nurl = "{feeds.url}/feed.atom"\n'
            'interval = "30s"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "SLACK_BOT_TOKEN": slack.token}
        logs = [tmp_path / "a.log", tmp_path / "b.log"]

        def start(log: Path) -> subprocess.Popen[bytes]:
            with log.open("wb") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", "monitor", "--config", str(config), "run"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )

        first = start(logs[0])
        second = None
        try:
            wait_for(lambda: len(slack.messages) >= 1, 60, "the first instance to deliver")
            second = start(logs[1])
            wait_for(lambda: "standing by" in logs[1].read_text(), 60, "the standby")
            polls = len(feeds.requests)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            wait_for(lambda: "took over" in logs[1].read_text(), 60, "the takeover")
            wait_for(lambda: len(feeds.requests) > polls, 30, "a poll by the new holder")
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=30)
    keys = slack.keys()
    assert len(keys) == len(set(keys)), "the takeover re-sent nothing"
