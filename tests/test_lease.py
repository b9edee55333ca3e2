"""The scheduler lease on PostgreSQL: proved on its own connection, lost when that drops."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from alerts.base import AlertMessage, SendResult
from monitor.leadership.leader_sink import LeaderOnlySink, LeaseLost
from monitor.leadership.lease import LOCK_KEY, SchedulerLease

# pg_locks shows the whole server; other tests' databases hold the same advisory key
THIS_DATABASE = " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"


def terminate_lock_holder(engine: Engine) -> int:
    """pg_terminate_backend the session holding the advisory lock (waiting for its end); its pid."""
    with engine.connect() as conn:
        pid = conn.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND ((classid::bigint << 32) | objid::bigint) = :key" + THIS_DATABASE
            ),
            {"key": LOCK_KEY},
        ).scalar_one()
        conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        conn.commit()
    return int(pid)


class RecordingStop(threading.Event):
    """A stop event whose waits return at once and are recorded: grace without sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def test_sqlite_always_grants_the_lease(sqlite_engine: Engine) -> None:
    lease = SchedulerLease(sqlite_engine)
    assert lease.try_acquire() and lease.holds()
    assert SchedulerLease(sqlite_engine).try_acquire()


def test_one_holder_and_a_standby_that_takes_over(postgres_engine: Engine) -> None:
    quick: dict[str, Any] = {
        "in_flight": 0.0,
        "proof_window": 0.5,
        "prove_every": 0.1,
        "retry_seconds": 0.05,
    }
    first, second = (
        SchedulerLease(postgres_engine, **quick),
        SchedulerLease(postgres_engine, **quick),
    )
    try:
        assert first.try_acquire()
        assert not second.try_acquire(), "the lease is exclusive"
        assert first.holds() and not second.holds()
        stop = threading.Event()
        took_over = threading.Event()

        def standby() -> None:
            if second.wait(stop):
                took_over.set()

        thread = threading.Thread(target=standby)
        thread.start()
        assert not took_over.wait(0.3), "no takeover while the holder lives"
        first.release()  # the holder stops: its session, and the lock, are gone
        assert took_over.wait(10)
        assert second.holds()
        stop.set()
        thread.join(5)
    finally:
        first.release()
        second.release()


def test_a_standby_gives_up_when_told_to_stop(postgres_engine: Engine) -> None:
    first, second = SchedulerLease(postgres_engine), SchedulerLease(postgres_engine)
    try:
        assert first.try_acquire()
        stop = threading.Event()
        stop.set()
        assert second.wait(stop) is False
    finally:
        first.release()
        second.release()


def test_the_lease_is_lost_when_its_connection_is_terminated(postgres_engine: Engine) -> None:
    lease = SchedulerLease(postgres_engine, prove_every=0.1)
    told = threading.Event()
    lease.on_lost(told.set)
    try:
        assert lease.try_acquire() and lease.holds()
        terminate_lock_holder(postgres_engine)
        assert told.wait(10), "the watcher noticed the lost connection"
        assert lease.lost.is_set()
        assert not lease.holds()
        assert not lease.prove()
    finally:
        lease.release()


def test_holds_only_while_the_last_proof_is_recent(postgres_engine: Engine) -> None:
    now = [1000.0]
    # the watcher never runs in this test: proofs happen when the test asks
    lease = SchedulerLease(
        postgres_engine, prove_every=3600, proof_window=5, monotonic=lambda: now[0]
    )
    try:
        assert lease.try_acquire()
        now[0] += 4.9
        assert lease.holds()
        now[0] += 0.2
        assert not lease.holds(), "a proof 5.1 s old proves nothing"
        assert lease.prove(), "the same session still holds the lock"
        assert lease.holds()
        assert not lease.lost.is_set()
    finally:
        lease.release()


def test_a_new_holder_waits_out_the_grace_before_acting(postgres_engine: Engine) -> None:
    lease = SchedulerLease(postgres_engine, in_flight=10, proof_window=5)
    # the old holder's last call may start 5 s after its last proof and last 10 s
    assert lease.grace >= 5 + 10
    stop = RecordingStop()
    try:
        assert lease.wait(stop)
        assert stop.waits == [lease.grace], "it acts only after waiting the grace once"
    finally:
        lease.release()


class StopOnWait(threading.Event):
    """Told to stop during its first wait: a SIGTERM in the middle of the grace."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


def test_stopping_during_the_grace_releases_the_lease(postgres_engine: Engine) -> None:
    lease, other = SchedulerLease(postgres_engine), SchedulerLease(postgres_engine)
    try:
        assert lease.wait(StopOnWait()) is False
        assert other.try_acquire(), "the lease was given back"
    finally:
        lease.release()
        other.release()


def test_the_lock_connection_has_keepalives_and_a_name(postgres_engine: Engine) -> None:
    lease = SchedulerLease(postgres_engine, prove_every=3600)  # the test uses its connection
    try:
        assert lease.try_acquire()
        with postgres_engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                    " USING (pid) WHERE l.locktype = 'advisory' AND l.granted" + THIS_DATABASE
                )
            ).one()
        assert row.application_name.startswith("monitor lease ")
        connection = lease._connection
        assert connection is not None
        # the server's side: what frees the lock when the holder's host dies
        for name, value in [
            ("tcp_keepalives_idle", "5"),
            ("tcp_keepalives_interval", "2"),
            ("tcp_keepalives_count", "3"),
            ("tcp_user_timeout", "10000"),
        ]:
            assert connection.execute(text(f"SHOW {name}")).scalar() == value, name
        # the client's side: libpq's own keepalives
        params = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        assert params.get("keepalives") == "1" and params.get("tcp_user_timeout") == "10000"
    finally:
        lease.release()


def test_release_after_the_connection_died_is_quiet(
    postgres_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    lease = SchedulerLease(postgres_engine, prove_every=3600)
    assert lease.try_acquire()
    terminate_lock_holder(postgres_engine)
    with caplog.at_level(logging.INFO):
        lease.release()  # the watcher has not noticed yet: the unlock itself fails
    assert "already gone" in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    other = SchedulerLease(postgres_engine)
    try:
        assert other.try_acquire()
    finally:
        other.release()


class CountingSink:
    name = "slack"

    def __init__(self) -> None:
        self.sent = 0

    def post(self, channel: str, message: AlertMessage, thread_ts: str | None = None) -> SendResult:
        self.sent += 1
        return SendResult(ok=True, ts="1.0")

    def update(self, channel: str, ts: str, message: AlertMessage) -> SendResult:
        self.sent += 1
        return SendResult(ok=True, ts=ts)

    def find_posted(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> str | None:
        return None


def test_the_leader_only_sink_refuses_without_a_fresh_proof() -> None:
    inner = CountingSink()
    leading = [True]
    sink = LeaderOnlySink(inner, lambda: leading[0])
    message = AlertMessage(key="k", kind="negative", headline="h")
    assert sink.post("#c", message).ok
    leading[0] = False
    with pytest.raises(LeaseLost):
        sink.post("#c", message)
    with pytest.raises(LeaseLost):
        sink.update("#c", "1.0", message)
    assert inner.sent == 1, "nothing reached Slack without a proof"
    assert sink.find_posted("#c", "k", datetime.now(UTC)) is None, "reads are not refused"


def test_a_standby_whose_connection_dropped_reconnects_on_its_next_try(
    postgres_engine: Engine,
) -> None:
    holder, standby = SchedulerLease(postgres_engine), SchedulerLease(postgres_engine)
    try:
        assert holder.try_acquire() and not standby.try_acquire()
        with postgres_engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                    " WHERE application_name LIKE 'monitor lease %'"
                    " AND datname = current_database()"
                    " AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')"
                )
            )
        holder.release()
        assert not standby.try_acquire(), "the dead connection fails this try, quietly"
        assert standby.try_acquire(), "the next try opens a new connection and takes the lease"
    finally:
        holder.release()
        standby.release()
