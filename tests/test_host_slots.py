"""Per-host politeness across processes: at most `per_host` calls to one host in the whole
cluster (PostgreSQL advisory locks), other hosts never held up, a dead holder's slot freed."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.base import PollResult
from monitor.config import parse_config
from monitor.ingest.pipeline import Pipeline, PollReport
from monitor.leadership.host_slots import (
    NAMESPACE,
    ClusterHostSlots,
    LocalHostSlots,
    slot_key,
)
from tests.support import fake_connector
from tests.support.http_server import Reply, Request, local_server

HOST = "api.example.test"
OTHER = "other.example.test"
GUARD = 30.0  # seconds: a wait that never ends is a failure, not a hang
ROOT = Path(__file__).resolve().parent.parent
# pg_locks shows the whole server; other tests' databases hold the same keys
THIS_DATABASE = " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"


def held_slots(engine: Engine) -> int:
    """The advisory locks of the host-slot namespace granted in this test's database."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :ns AND objsubid = 2" + THIS_DATABASE
                ),
                {"ns": NAMESPACE},
            ).scalar_one()
        )


class CountingSleep:
    """The backoff between tries, counted per thread, so a test can wait until a caller has
    found every slot taken a few times (not for a time)."""

    def __init__(self) -> None:
        self.tries: dict[int, int] = {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def __call__(self, seconds: float) -> None:
        with self.changed:
            ident = threading.get_ident()
            self.tries[ident] = self.tries.get(ident, 0) + 1
            self.changed.notify_all()
        time.sleep(min(seconds, 0.01))

    def wait_for(self, callers: int, tries: int) -> None:
        """Until `callers` threads have each been turned away `tries` times."""
        with self.changed:
            ok = self.changed.wait_for(
                lambda: sum(1 for n in self.tries.values() if n >= tries) >= callers, GUARD
            )
        assert ok, f"waiting callers: {self.tries}"


@contextmanager
def threads(targets: list[Callable[[], None]]) -> Iterator[list[threading.Thread]]:
    started = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in started:
        thread.start()
    try:
        yield started
    finally:
        for thread in started:
            thread.join(GUARD)


def test_slot_keys_are_stable_distinct_per_index_and_fit_an_int4() -> None:
    keys = [slot_key(HOST, i) for i in range(64)]
    assert len(set(keys)) == 64
    assert all(0 <= k < 2**31 for k in keys)
    assert keys[0] != slot_key(OTHER, 0)
    # the same in another interpreter (Python's hash() is salted per process)
    code = f"from monitor.leadership.host_slots import slot_key; print(slot_key({HOST!r}, 3))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert other.stdout.strip() == str(keys[3])


def test_local_slots_bound_one_host_per_process() -> None:
    slots = LocalHostSlots(2)
    assert slots.slot(HOST) is slots.slot(HOST)
    assert slots.slot(HOST) is not slots.slot(OTHER)
    with slots.slot(HOST), slots.slot(HOST):
        assert not slots.slot(HOST).acquire(blocking=False)
        assert slots.slot(OTHER).acquire(blocking=False)


def test_two_processes_share_per_host_and_other_hosts_go_on(postgres_engine: Engine) -> None:
    """Two ClusterHostSlots on their own engines stand for two workers: six callers of one
    host, per_host = 2; each process alone would let two in, so four would run at once
    without the database."""
    sleep = CountingSleep()
    first = ClusterHostSlots(postgres_engine, 2, sleep=sleep)
    second = ClusterHostSlots(postgres_engine, 2, sleep=sleep)
    inside: list[str] = []
    most = 0
    count = threading.Lock()
    release = threading.Event()

    def call(slots: ClusterHostSlots, name: str) -> Callable[[], None]:
        def run() -> None:
            nonlocal most
            with slots.slot(HOST):
                with count:
                    inside.append(name)
                    most = max(most, len(inside))
                release.wait(GUARD)
                with count:
                    inside.remove(name)

        return run

    callers = [call(first, f"a{i}") for i in range(3)] + [call(second, f"b{i}") for i in range(3)]
    try:
        with threads(callers):
            # two callers hold the host's slots; in each process one more caller is turned
            # away by the database again and again, and the third waits on the local limit
            sleep.wait_for(callers=2, tries=3)
            assert len(inside) == 2
            assert held_slots(postgres_engine) == 2
            # another host is not held up, from either process, while HOST is full
            for slots in (first, second):
                with slots.slot(OTHER):
                    assert held_slots(postgres_engine) == 3
            release.set()
        assert inside == [] and most == 2
        assert held_slots(postgres_engine) == 0
    finally:
        release.set()
        first.dispose()
        second.dispose()


def test_many_calls_from_two_processes_never_exceed_per_host(postgres_engine: Engine) -> None:
    first = ClusterHostSlots(postgres_engine, 2)
    second = ClusterHostSlots(postgres_engine, 2)
    running = most = calls = 0
    count = threading.Lock()

    def caller(slots: ClusterHostSlots) -> Callable[[], None]:
        def run() -> None:
            nonlocal running, most, calls
            for _ in range(10):
                with slots.slot(HOST):
                    with count:
                        running += 1
                        calls += 1
                        most = max(most, running)
                    time.sleep(0.002)  # a short platform call
                    with count:
                        running -= 1

        return run

    try:
        with threads([caller(s) for s in (first, second) for _ in range(4)]):
            pass
    finally:
        first.dispose()
        second.dispose()
    assert calls == 80
    assert most <= 2


HOLDER = """
import sys, time
import sqlalchemy as sa
from monitor.leadership.host_slots import ClusterHostSlots
slots = ClusterHostSlots(sa.create_engine(sys.argv[1]), 1)
with slots.slot(sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_frees_its_slot(postgres_engine: Engine) -> None:
    url = postgres_engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, HOST],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    sleep = CountingSleep()
    slots = ClusterHostSlots(postgres_engine, 1, sleep=sleep)
    got_in = threading.Event()

    def call() -> None:
        with slots.slot(HOST):
            got_in.set()

    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with threads([call]):
            sleep.wait_for(callers=1, tries=3)
            assert not got_in.is_set()
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(GUARD)
            assert got_in.wait(GUARD), "the dead holder's slot was not freed"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
        slots.dispose()


def test_a_connection_lost_during_the_call_is_logged_not_raised(
    postgres_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    slots = ClusterHostSlots(postgres_engine, 1)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="monitor.leadership.host_slots"),
            slots.slot(HOST),
            postgres_engine.connect() as conn,
        ):
            pid = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :ns AND objid = :key" + THIS_DATABASE
                ),
                {"ns": NAMESPACE, "key": slot_key(HOST, 0)},
            ).scalar_one()
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        assert "connection lost during a call to api.example.test" in caplog.text
        assert held_slots(postgres_engine) == 0
        with slots.slot(HOST):  # the pool gave up the dead connection: the next call works
            assert held_slots(postgres_engine) == 1
    finally:
        slots.dispose()


def test_an_unreachable_database_lets_the_call_go_within_the_local_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
    slots = ClusterHostSlots(closed, 1)
    ran = 0
    with caplog.at_level(logging.WARNING, logger="monitor.leadership.host_slots"):
        for _ in range(3):
            with slots.slot(HOST):
                ran += 1
                assert not slots._local.slot(HOST).acquire(blocking=False)  # still bounded
    assert ran == 3
    assert caplog.text.count("the database cannot be asked") == 1  # once, not per call


class RecordingSlots:
    """A HostSlots that records which host each call held a slot of."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        self.hosts.append(host)
        yield


@pytest.mark.usefixtures("fake_registered")
def test_the_pipeline_calls_within_the_slots_it_is_given(sqlite_engine: Engine) -> None:
    config = parse_config({"feeds": [{"name": "f1", "type": "fake"}]})
    slots = RecordingSlots()
    pipeline = Pipeline(config, sqlite_engine, httpx.Client(), host_slots=slots)
    fake_connector.QUEUE["f1"].append(PollResult())
    assert pipeline.poll("f1").ok
    assert slots.hosts == [pipeline.connector(config.feed("f1")).host()]
    default = Pipeline(config, sqlite_engine, httpx.Client())
    assert isinstance(default.host_slots, LocalHostSlots)
    assert default.host_slots.per_host == config.scheduler.per_host


def test_two_workers_pipelines_keep_to_per_host_at_the_platform(postgres_engine: Engine) -> None:
    """Two pipelines (two workers), each with six feeds on one platform host and its own
    ClusterHostSlots, poll everything at once: the platform never sees more than per_host
    requests at a time (alone, each process would send two, so four at once)."""
    running = most = 0
    count = threading.Lock()

    def slow_feed(_request: Request) -> Reply:
        nonlocal running, most
        with count:
            running += 1
            most = max(most, running)
        time.sleep(0.05)  # the platform's latency, so that polls overlap
        with count:
            running -= 1
        return Reply(200, b"<rss version='2.0'><channel><title>t</title></channel></rss>")

    with local_server() as server:
        server.route("/feed/*", slow_feed)
        config = parse_config(
            {
                "scheduler": {"per_host": 2},
                "feeds": [
                    {"name": f"f{i}", "type": "rss", "url": f"{server.url}/feed/{i}"}
                    for i in range(6)
                ],
            }
        )
        slots = [ClusterHostSlots(postgres_engine, 2) for _ in range(2)]
        workers = [Pipeline(config, postgres_engine, httpx.Client(), host_slots=s) for s in slots]
        reports: list[PollReport] = []

        def poll(pipeline: Pipeline, feed: str) -> Callable[[], None]:
            return lambda: reports.append(pipeline.poll(feed))

        try:
            with threads([poll(w, f.name) for w in workers for f in config.feeds]):
                pass
        finally:
            for worker, own in zip(workers, slots, strict=True):
                worker.client.close()
                own.dispose()
    assert len(reports) == 12 and all(r.ok for r in reports)
    assert len(server.requests) == 12
    assert 1 <= most <= 2
