"""A worker's proof that it may act (monitor/leadership/presence.py), on PostgreSQL: what makes
it hold, what makes it lapse, and what loses it for good."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.leadership.presence import (
    WorkerPresence,
    cluster_stalled_after,
    cut_off_silent,
    grace,
)

IN_FLIGHT = 2.0  # a short Slack call: grace = 5 + 2 + 1 = 8 s
STALLED_AFTER = 20.0  # so a proof counts while the heartbeat is under 12 s old


def queue_worker(engine: Engine, age: float = 0.0) -> int:
    """A row in procrastinate's worker table, its heartbeat `age` seconds old."""
    with engine.begin() as conn:
        worker_id = conn.execute(
            sa.text(
                "INSERT INTO procrastinate_workers (last_heartbeat)"
                " VALUES (now() - make_interval(secs => :age)) RETURNING id"
            ),
            {"age": age},
        ).scalar_one()
    return int(worker_id)


def set_age(engine: Engine, worker_id: int, age: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE procrastinate_workers SET last_heartbeat ="
                " now() - make_interval(secs => :age) WHERE id = :id"
            ),
            {"age": age, "id": worker_id},
        )


@pytest.fixture
def presence(postgres_engine: Engine) -> WorkerPresence:
    found = WorkerPresence(
        postgres_engine, stalled_after=STALLED_AFTER, in_flight=IN_FLIGHT, concurrency=2
    )
    found.register()
    found.queue_worker_id = queue_worker(postgres_engine)
    return found


def test_no_proof_holds_nothing_a_fresh_heartbeat_holds(
    presence: WorkerPresence, postgres_engine: Engine
) -> None:
    assert not presence.holds()
    assert presence.prove()
    assert presence.holds()
    assert grace(IN_FLIGHT) == 8.0 and presence.fresh_within == 12.0


def test_a_heartbeat_too_old_to_start_anything_lapses_the_proof_but_keeps_the_jobs(
    presence: WorkerPresence, postgres_engine: Engine
) -> None:
    assert presence.queue_worker_id is not None
    set_age(postgres_engine, presence.queue_worker_id, 13.0)
    assert not presence.prove()
    assert not presence.lost.is_set()
    set_age(postgres_engine, presence.queue_worker_id, 0.0)
    assert presence.prove()


@pytest.mark.parametrize("how", ["stale", "pruned", "marked silent"])
def test_a_heartbeat_past_stalled_after_or_gone_loses_the_jobs_for_good(
    presence: WorkerPresence, postgres_engine: Engine, how: str
) -> None:
    reasons: list[str] = []
    presence.on_lost(reasons.append)
    assert presence.prove()
    assert presence.queue_worker_id is not None
    if how == "stale":
        set_age(postgres_engine, presence.queue_worker_id, STALLED_AFTER + 1)
    elif how == "pruned":
        with postgres_engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM procrastinate_workers"))
    else:
        with postgres_engine.begin() as conn:
            conn.execute(sa.text("UPDATE monitor_worker SET beat_at = now() - interval '1 h'"))
        # this test's process is that worker: its own proof connection is closed too, so
        # the next proof fails on it and the one after reconnects
        assert [host for host, _pid, _n in cut_off_silent(postgres_engine, 60.0)]
        assert not presence.prove()
    assert not presence.prove()
    assert presence.lost.is_set() and not presence.holds()
    assert len(reasons) == 1
    if how == "stale":
        set_age(postgres_engine, presence.queue_worker_id, 0.0)
    presence.prove()
    assert not presence.holds() and len(reasons) == 1  # lost stays lost


def test_a_proof_holds_for_its_window_only(postgres_engine: Engine) -> None:
    now = [1000.0]
    presence = WorkerPresence(
        postgres_engine,
        stalled_after=STALLED_AFTER,
        in_flight=IN_FLIGHT,
        concurrency=1,
        monotonic=lambda: now[0],
    )
    presence.register()
    presence.queue_worker_id = queue_worker(postgres_engine)
    assert presence.prove()
    now[0] += 4.9
    assert presence.holds()
    now[0] += 0.2
    assert not presence.holds()


def test_the_watchdog_loses_a_worker_whose_proofs_stopped_coming(postgres_engine: Engine) -> None:
    """The proof thread may hang in a statement on a silent network: the watchdog, not the
    proof, notices that the grace has passed since the last proof."""
    now = [1000.0]
    presence = WorkerPresence(
        postgres_engine,
        stalled_after=STALLED_AFTER,
        in_flight=IN_FLIGHT,
        concurrency=1,
        prove_every=0.05,
        monotonic=lambda: now[0],
    )
    lost = threading.Event()
    presence.on_lost(lambda _reason: lost.set())
    presence.start(lambda: None)  # never registered with the queue: no proof ever
    try:
        time.sleep(0.3)
        assert not lost.is_set()
        now[0] += grace(IN_FLIGHT) + 0.1
        assert lost.wait(5)
    finally:
        presence.stop()


def test_a_stopping_worker_loses_its_proof_quietly(
    presence: WorkerPresence, postgres_engine: Engine
) -> None:
    """procrastinate removes a stopping worker's heartbeat row: no alarm, no exit 1."""
    reasons: list[str] = []
    presence.on_lost(reasons.append)
    presence.stopping.set()
    with postgres_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM procrastinate_workers"))
    assert not presence.prove()
    assert presence.lost.is_set() and reasons == []


def test_the_takeover_waits_for_the_most_patient_running_worker(
    presence: WorkerPresence, postgres_engine: Engine
) -> None:
    assert cluster_stalled_after(postgres_engine, 22.0) == STALLED_AFTER + 2.0
    other = WorkerPresence(postgres_engine, stalled_after=60.0, in_flight=IN_FLIGHT, concurrency=1)
    other.register()
    assert cluster_stalled_after(postgres_engine, 22.0) == 60.0
    with postgres_engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE monitor_worker SET stopped_at = now() WHERE id = :id"),
            {"id": other.row_id},
        )
    assert cluster_stalled_after(postgres_engine, 22.0) == 22.0
