"""`monitor worker` processes sharing one PostgreSQL database: every feed polled by one of
them per interval, every alert posted once at Slack's pace, a dead worker's feeds taken over."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import Reply, Request, local_server
from tests.support.tcp_proxy import tcp_proxy
from tests.support.workers import (
    CountedFeeds,
    duplicates,
    running,
    start_worker,
    terminate_worker_connections,
    workers_config,
)
from tests.test_end_to_end import wait_for
from tests.test_secrets import free_port
from tests.test_status_heartbeat import status

pytestmark = pytest.mark.e2e
INTERVAL = 60.0
# a job due at a moment starts within a few seconds of it: workers look for jobs that came
# due every `[workers] fetch_every` (2 s), and then take their per-host slot
ON_TIME = 5.0


def channel_gaps(slack: FakeSlack) -> dict[str, float]:
    """The shortest time between two posts to each channel."""
    by_channel: dict[str, list[float]] = defaultdict(list)
    for message in slack.messages:
        by_channel[message.channel].append(message.at)
    return {
        channel: min(
            (b - a for a, b in zip(sorted(times), sorted(times)[1:], strict=False)),
            default=float("inf"),
        )
        for channel, times in by_channel.items()
    }


def worker_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM monitor_worker ORDER BY id")).mappings()
        return [dict(row) for row in rows]


def test_two_workers_share_the_feeds_each_polled_once_each_alert_posted_once(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    count = 200
    with local_server() as server, fake_slack() as slack:
        feeds = CountedFeeds(server, count)
        config = workers_config(
            tmp_path / "config.toml", postgres_engine, feeds, slack, interval=INTERVAL, channels=3
        )
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        processes = [start_worker(config, log, slack.token) for log in logs]
        with running(processes):
            wait_for(lambda: len(feeds.polls) == count, 120, "every feed's first poll")
            wait_for(lambda: len(set(slack.keys())) >= count, 300, "every alert")
            # a second round of polls: each feed again, after its interval
            wait_for(
                lambda: all(len(t) >= 2 for t in feeds.polls.values()),
                2 * INTERVAL + 60,
                "every feed's second poll",
            )
            time.sleep(3)
            rows = worker_rows(postgres_engine)
        text = "".join(log.read_text() for log in logs)
    assert feeds.polled_twice_within(INTERVAL / 2) == {}, text
    assert duplicates(slack) == {}
    assert len(set(slack.keys())) == count
    gaps = channel_gaps(slack)
    assert len(gaps) == 3
    assert min(gaps.values()) >= 1.0, gaps
    # both worked: each process polled and the rows say so
    assert len(rows) == 2
    assert all(int(str(row["jobs_done"])) > 0 for row in rows), rows
    assert "Traceback" not in text, text
    jobs = [row["jobs_done"] for row in rows]
    print(f"\n{count} feeds, 2 workers: shortest channel gaps {gaps}; jobs {jobs}")


def delivering_worker_pid(engine: Engine) -> int | None:
    """The pid of the worker running the delivery job now, if one is."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT w.pid FROM procrastinate_jobs j"
                " JOIN monitor_worker w ON w.queue_worker_id = j.worker_id"
                " WHERE j.task_name = 'monitor.deliver' AND j.status = 'doing'"
            )
        ).scalar()


def test_kill_9_of_a_worker_mid_post_its_jobs_taken_over_no_duplicate_no_double_poll(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    count = 150
    with local_server() as server, fake_slack() as slack:
        feeds = CountedFeeds(server, count)
        # Slack takes a post the worker sent just before dying, and shows it only after the
        # kill: a takeover that re-sent without looking would post it twice.
        post = slack.server.routes["/api/chat.postMessage"]
        armed, held, release = threading.Event(), threading.Event(), threading.Event()

        def slow_post(request: Request) -> Reply:
            if armed.is_set() and not held.is_set():
                held.set()
                release.wait(60)
            return post(request)

        slack.server.route("/api/chat.postMessage", slow_post)
        config = workers_config(
            tmp_path / "config.toml", postgres_engine, feeds, slack, interval=INTERVAL, channels=2
        )
        logs = [tmp_path / f"{n}.log" for n in range(3)]
        processes = [start_worker(config, log, slack.token) for log in logs]
        with running(processes):
            wait_for(lambda: len(slack.messages) >= 5, 120, "the first alerts")
            armed.set()
            wait_for(held.is_set, 60, "a post in flight")
            victim = delivering_worker_pid(postgres_engine)
            assert victim is not None
            killed = next(p for p in processes if p.pid == victim)
            killed.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            killed.wait(timeout=10)
            time.sleep(1)
            release.set()  # Slack finishes the dead worker's post after its death
            wait_for(lambda: len(set(slack.keys())) >= count, 240, "every alert")
            wait_for(
                lambda: all(any(t > killed_at for t in feeds.polls[n]) for n in range(count)),
                INTERVAL + 60,
                "every feed polled after the kill",
            )
            time.sleep(3)
        text = "".join(log.read_text() for log in logs)
    late = feeds.gap_across(killed_at)
    print(f"\nkill -9 of the delivering worker: the longest a feed went unpolled {late:.1f} s")
    assert duplicates(slack) == {}, text
    assert len(set(slack.keys())) == count
    assert feeds.polled_twice_within(INTERVAL / 2) == {}, text
    assert late <= INTERVAL + ON_TIME, "takeover within one poll interval"
    assert min(channel_gaps(slack).values()) >= 1.0
    assert "taken over" in text


TOKENS = {"a": "xoxb-worker-a", "b": "xoxb-worker-b"}


def two_workers_apart(
    engine: Engine, tmp_path: Path, feeds: CountedFeeds, slack: FakeSlack, url_a: str
) -> list[subprocess.Popen[bytes]]:
    """Worker a (its database through `url_a`) and worker b: each with its own feed paths and
    its own bot token (one Slack, as in production), so every poll and post says who made it."""
    slack.other_tokens.update(TOKENS.values())
    return [
        start_worker(
            workers_config(
                tmp_path / f"{via}.toml", engine, feeds, slack, interval=INTERVAL, via=via, url=url
            ),
            tmp_path / f"{via}.log",
            TOKENS[via],
        )
        for via, url in (("a", url_a), ("b", None))
    ]


def posts_by(slack: FakeSlack, via: str) -> list[float]:
    return [m.at for m in slack.messages if m.token == TOKENS[via]]


def test_a_worker_cut_off_by_killed_connections_stops_acting_the_other_carries_on(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    count = 100
    with local_server() as server, fake_slack() as slack:
        feeds = CountedFeeds(server, count)
        url = postgres_engine.url.render_as_string(hide_password=False)
        processes = two_workers_apart(postgres_engine, tmp_path, feeds, slack, url)
        with running(processes):
            wait_for(lambda: len(feeds.by["a"]) >= 10, 120, "worker a's polls")
            # every connection worker a opens is killed at once, for 40 s: it is cut off
            cut_at = time.monotonic()
            while time.monotonic() - cut_at < 40 and processes[0].poll() is None:
                terminate_worker_connections(postgres_engine, processes[0].pid)
                time.sleep(0.2)
            code = processes[0].wait(timeout=60)
            stopped_at = time.monotonic()
            wait_for(
                lambda: all(any(t > cut_at for t in feeds.polls[n]) for n in range(count)),
                INTERVAL + 60,
                "every feed polled after the cut",
            )
            wait_for(lambda: len(set(slack.keys())) >= count, 120, "all alerts")
            time.sleep(3)
            assert processes[1].poll() is None, "the other worker carries on"
        text = (tmp_path / "a.log").read_text()
    late_polls = [t - cut_at for t in feeds.by["a"] if t > cut_at + 6]
    late_posts = [t - cut_at for t in posts_by(slack, "a") if t > cut_at + 18]
    unpolled = feeds.gap_across(cut_at)
    print(
        f"\nconnections killed: worker a exited {code} after {stopped_at - cut_at:.1f} s; the"
        f" longest a feed went unpolled {unpolled:.1f} s"
    )
    assert code == 1, text
    assert unpolled <= INTERVAL + ON_TIME
    # no poll begun after its last proof expired (5 s); no post after its last Slack call
    # could have ended (5 s + 12 s for a call with slack.timeout = 10 s + 1 s)
    assert late_polls == [], text
    assert late_posts == [], text
    assert duplicates(slack) == {}
    assert len(set(slack.keys())) == count
    assert feeds.polled_twice_within(INTERVAL / 2) == {}


def test_a_worker_behind_a_silent_network_cut_stops_acting_and_exits_once_it_heals(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    """A network that drops packets silently: worker a's statements hang instead of failing."""
    count = 100
    host = postgres_engine.url.host or "127.0.0.1"
    port = postgres_engine.url.port or 5432
    with local_server() as server, fake_slack() as slack, tcp_proxy(host, port) as proxy:
        feeds = CountedFeeds(server, count)
        url_a = postgres_engine.url.set(host="127.0.0.1", port=proxy.port)
        processes = two_workers_apart(
            postgres_engine, tmp_path, feeds, slack, url_a.render_as_string(hide_password=False)
        )
        with running(processes):
            wait_for(lambda: len(feeds.by["a"]) >= 10, 120, "worker a's polls")
            proxy.blackhole()
            cut_at = time.monotonic()
            wait_for(
                lambda: all(any(t > cut_at for t in feeds.polls[n]) for n in range(count)),
                INTERVAL + 60,
                "every feed polled after the cut",
            )
            wait_for(lambda: len(set(slack.keys())) >= count, 120, "all alerts")
            assert processes[0].poll() is None or processes[0].returncode == 1
            proxy.heal()
            code = processes[0].wait(timeout=90)
            time.sleep(3)
            assert processes[1].poll() is None, "the other worker carries on"
        text = (tmp_path / "a.log").read_text()
    late_polls = [t - cut_at for t in feeds.by["a"] if t > cut_at + 6]
    late_posts = [t - cut_at for t in posts_by(slack, "a") if t > cut_at + 18]
    taken = feeds.gap_across(cut_at)
    print(f"\nsilent cut: the longest a feed went unpolled {taken:.1f} s; worker a exited {code}")
    assert code == 1, text
    assert late_polls == [], text
    assert late_posts == [], text
    assert taken <= INTERVAL + ON_TIME
    assert duplicates(slack) == {}
    assert len(set(slack.keys())) == count
    # the cut worker's last polls and the takeover are more than half an interval apart
    assert feeds.polled_twice_within(INTERVAL / 2) == {}


def test_status_and_healthz_show_a_worker_and_say_when_it_went_silent(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    beat_file = tmp_path / "alive"
    with local_server() as server, fake_slack() as slack:
        feeds = CountedFeeds(server, 5)
        config = workers_config(
            tmp_path / "config.toml",
            postgres_engine,
            feeds,
            slack,
            interval=INTERVAL,
            extra=f'[heartbeat]\nport = {port}\nfile = "{beat_file}"\n',
        )
        before = status(config, "--problems")
        assert "workers: NONE RUNNING" in before.stdout
        assert before.returncode == 1
        process = start_worker(config, tmp_path / "w.log", slack.token)
        with running([process]):
            wait_for(lambda: len(set(slack.keys())) >= 5, 120, "the alerts")
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            assert health.status_code == 200, health.text
            assert health.json()["worker"]["proved"] is True
            assert beat_file.exists()
            shown = status(config, "--problems")
            assert shown.returncode == 0, shown.stdout
            assert "workers: 1 running" in shown.stdout
            assert re.search(rf"pid {process.pid}: heartbeat \S+ ago, up since", shown.stdout)
            assert "schedule: polls on time" in shown.stdout
            process.send_signal(signal.SIGKILL)  # a crash: nothing says goodbye
            process.wait(timeout=10)
            wait_for(
                lambda: f"pid {process.pid}: SILENT since" in status(config).stdout,
                60,
                "the worker shown silent",
            )
        after = status(config, "--problems")
    assert after.returncode == 1, after.stdout
    assert "workers: NONE RUNNING" in after.stdout
