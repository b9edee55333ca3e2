"""A worker frozen or cut off while it holds a cluster-wide lock (an account's login, a
host's slot) must not stop every other worker: the lock is given up after a bound."""

from __future__ import annotations

import os
import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.errors import TransientError
from monitor.leadership.presence import cut_off_silent
from monitor.leadership.shared_logins import NAMESPACE, SharedLogins, account_of, lock_key

KEY = ("bluesky", "https://bsky.example.test", "acme.example.test")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
GUARD = 60.0  # the test's own bound: a wait longer than this is a hang


def test_a_login_held_by_a_frozen_worker_fails_the_poll_instead_of_waiting_for_ever(
    postgres_engine: Engine,
) -> None:
    """Worker A takes the account's advisory lock to log in and freezes (SIGSTOP, a paused
    VM) or its network goes silent: the server keeps A's transaction (no server-side
    keepalive on this connection: the kernel's two hours; for ever while A is frozen). Every
    other worker's poll of that account waited on `pg_advisory_xact_lock` without a bound,
    each holding its job slot and the platform host's slot, so the host, then the jobs of
    the whole cluster, stopped. The wait must end as a TransientError (the poll backs off)."""
    frozen = postgres_engine.connect()
    frozen.begin()
    frozen.execute(
        sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"),
        {"ns": NAMESPACE, "key": lock_key(account_of(KEY))},
    )
    logins = SharedLogins(postgres_engine, lock_wait=1.0)
    outcome: list[BaseException | str] = []

    def poll() -> None:
        try:
            outcome.append(logins.token(KEY, NOW, lambda: ("t", NOW + timedelta(hours=1))))
        except BaseException as exc:  # the outcome is the test's
            outcome.append(exc)

    asker = threading.Thread(target=poll, daemon=True)
    asker.start()
    asker.join(GUARD)
    hung = asker.is_alive()
    frozen.rollback()  # the frozen worker goes away: the asker may end now
    frozen.close()
    asker.join(GUARD)
    logins.dispose()
    assert not hung, "the poll waited for the frozen worker's login"
    assert len(outcome) == 1 and isinstance(outcome[0], TransientError), outcome
    assert "another worker's login" in str(outcome[0])


def test_the_login_connection_lets_the_server_notice_a_dead_host_in_seconds(
    postgres_engine: Engine,
) -> None:
    """The server frees a silent host's lock only when it notices the connection is dead:
    keepalives in seconds, as the host slots and the presence connection set them."""
    logins = SharedLogins(postgres_engine)
    try:
        with logins.engine.connect() as conn:
            idle = conn.execute(sa.text("SHOW tcp_keepalives_idle")).scalar()
    finally:
        logins.dispose()
    assert idle is not None and int(idle) <= 10, f"tcp_keepalives_idle = {idle}"


pytest.importorskip("psycopg")


def test_a_silent_workers_login_session_is_closed_with_its_other_sessions(
    postgres_engine: Engine,
) -> None:
    """The reaper closes every session of a worker found silent (a frozen one keeps them
    open), matching the HOST:PID each of its connections is named after; the login
    connection was named "monitor logins" alone, so a frozen worker's login lock stayed."""
    logins = SharedLogins(postgres_engine)
    try:
        with logins.engine.connect() as conn:
            name = conn.execute(sa.text("SELECT current_setting('application_name')")).scalar()
    finally:
        logins.dispose()
    assert name == f"monitor logins {socket.gethostname()[:32]}:{os.getpid()}"


def _silent_row(engine: Engine, host: str, pid: int) -> None:
    """A worker's row whose last beat was a minute ago (killed, frozen or cut off)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO monitor_worker (host, pid, concurrency, started_at, beat_at,"
                " jobs_done, failures) VALUES (:host, :pid, 1, now() - interval '1 hour',"
                " now() - interval '60 seconds', 0, 0)"
            ),
            {"host": host, "pid": pid},
        )


@pytest.mark.parametrize(
    ("silent", "live"),
    [
        # another host whose name ends like the silent one's, with the same pid
        (("web1", 4242), ("staging-web1", 4242)),
        # a `_` in a host name is no LIKE wildcard
        (("web_1", 4242), ("web-1", 4242)),
    ],
)
def test_closing_a_silent_workers_sessions_spares_a_live_worker_of_another_host(
    postgres_engine: Engine, silent: tuple[str, int], live: tuple[str, int]
) -> None:
    _silent_row(postgres_engine, *silent)
    named = sa.create_engine(
        postgres_engine.url,
        poolclass=sa.pool.NullPool,
        connect_args={"application_name": f"monitor worker {live[0]}:{live[1]}"},
    )
    try:
        with named.connect() as conn:
            closed = cut_off_silent(postgres_engine, 30.0)
            conn.execute(sa.text("SELECT 1"))  # still open
    finally:
        named.dispose()
    assert [(host, pid) for host, pid, _ in closed] == [silent]


def test_a_silent_workers_own_sessions_are_closed(postgres_engine: Engine) -> None:
    """What the cut-off is for: the session a frozen worker opened before going silent."""
    named = sa.create_engine(
        postgres_engine.url,
        poolclass=sa.pool.NullPool,
        connect_args={"application_name": "monitor host slots web1:4242"},
    )
    try:
        with named.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            with postgres_engine.begin() as other:  # its row: last beat after it connected
                other.execute(
                    sa.text(
                        "INSERT INTO monitor_worker (host, pid, concurrency, started_at,"
                        " beat_at, jobs_done, failures) VALUES ('web1', 4242, 1,"
                        " now() - interval '1 hour', now() - interval '60 seconds', 0, 0)"
                    )
                )
                other.execute(
                    sa.text(
                        "UPDATE monitor_worker SET beat_at = (SELECT backend_start"
                        " + interval '1 second' FROM pg_stat_activity WHERE application_name"
                        " = 'monitor host slots web1:4242') WHERE host = 'web1'"
                    )
                )
            # silent "for -5 s": its beat, a second after it connected, is just now
            assert cut_off_silent(postgres_engine, -5.0) == [("web1", 4242, 1)]
            with pytest.raises(sa.exc.OperationalError):
                conn.execute(sa.text("SELECT 1"))
    finally:
        named.dispose()
