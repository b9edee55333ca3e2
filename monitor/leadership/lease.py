"""The scheduler lease: with PostgreSQL, one instance polls and delivers, the others stand by.

A session-level advisory lock is held on one dedicated connection. Holding it once proves
nothing later: the connection can drop (a restart, a network cut, `pg_terminate_backend`) and
a standby takes the lock at once. So a watcher re-proves the lock on that connection every
`PROVE_EVERY` seconds, and `holds()` is true only while the last proof is younger than
`PROOF_WINDOW`; every poll and every Slack send asks `holds()` first. A new holder waits out
`grace` before acting, so that whatever the previous holder could still have in flight is over.

No lease epoch fences the writes: the side effect that can be duplicated is a Slack post,
and Slack cannot check an epoch, so an epoch would only fence database writes, which are
already idempotent by their unique keys (a mention per platform id, an alert per mention and
kind), and a refused send writes nothing (monitor/leadership/leader_sink.py). What neither
closes is a process frozen (SIGSTOP, a VM pause) for longer than `grace` between the last
check and the request leaving the host.

SQLite is one instance by nature (monitor/leadership/instance_lock.py): the lease is always granted.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# pg_advisory_lock takes a bigint; any constant works as long as every instance agrees
LOCK_KEY = 0x6D6F6E69746F72  # "monitor"
PROVE_EVERY = 1.0  # seconds between proofs on the lock connection
PROOF_WINDOW = 5.0  # a proof older than this proves nothing: the instance stops acting
RETRY_EVERY = 2.0  # a standby's tries to take the lease
# An instance that lost the lease lets a healthy standby take it first: its own connection
# is the one that just failed.
REST_AFTER_LOSS = 3 * RETRY_EVERY
# A request the old holder handed to the network before its call timed out can still be
# processed by Slack a little later.
NETWORK_MARGIN = 1.0
# TCP keepalive on both ends of the lock connection. The server's side (the -c options)
# frees the lock when the holder's host dies: 5 s idle, then 3 probes 2 s apart, and
# tcp_user_timeout for data left unacknowledged, so seconds instead of the kernel's two
# hours. The client's side (libpq's keepalives) lets the holder notice a dead server.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}
TCP_USER_TIMEOUT_MS = 10_000
APPLICATION_NAME = "monitor lease"

# The lock is proved held by this very session: a session-level advisory lock on a bigint
# shows in pg_locks as classid (high 32 bits), objid (low 32 bits) and objsubid 1.
PROOF = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND objsubid = 1"
    " AND ((classid::bigint << 32) | objid::bigint) = :key"
)


def lock_engine(engine: Engine) -> Engine:
    """An engine for the one lock connection: never pooled, with keepalives and a name."""
    server_side = " ".join(
        [
            f"-c tcp_keepalives_idle={KEEPALIVE['keepalives_idle']}",
            f"-c tcp_keepalives_interval={KEEPALIVE['keepalives_interval']}",
            f"-c tcp_keepalives_count={KEEPALIVE['keepalives_count']}",
            f"-c tcp_user_timeout={TCP_USER_TIMEOUT_MS}",
        ]
    )
    name = f"{APPLICATION_NAME} {socket.gethostname()[:32]}:{os.getpid()}"
    return sa.create_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={
            **KEEPALIVE,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            "connect_timeout": 10,
            "application_name": name,
            "options": server_side,
        },
    )


class SchedulerLease:
    """Take, prove and give up the lease; `holds()` answers from the last proof."""

    def __init__(
        self,
        engine: Engine,
        *,
        in_flight: float = 10.0,
        retry_seconds: float = RETRY_EVERY,
        prove_every: float = PROVE_EVERY,
        proof_window: float = PROOF_WINDOW,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shared = engine.dialect.name == "postgresql"
        self._engine = lock_engine(engine) if self.shared else None
        self.retry_seconds = retry_seconds
        self.prove_every = prove_every
        self.proof_window = proof_window
        # The old holder starts no call later than `proof_window` after its last proof, which
        # came before the lock was lost, hence before we took it; each call lasts at most
        # `in_flight` (alerts.slack.call_deadline bounds one Slack call). So everything it
        # started is over `proof_window + in_flight` after we took the lock, plus the
        # network's own delay.
        self.grace = proof_window + in_flight + NETWORK_MARGIN
        self.monotonic = monotonic
        self.lost = threading.Event()  # set when a held lease turns out to be gone
        self._connection: Connection | None = None
        self._io = threading.Lock()  # the watcher and the caller share the lock connection
        self._proved_at: float | None = None
        self._watch_stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._on_lost: list[Callable[[], None]] = []
        self._rest_until = 0.0
        self._unreachable = False

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the watcher thread) when the held lease is found gone."""
        self._on_lost.append(callback)

    def holds(self) -> bool:
        """True while the last proof that this instance holds the lock is recent enough."""
        if not self.shared:
            return True
        proved = self._proved_at
        if proved is None or self.lost.is_set():
            return False
        return self.monotonic() - proved < self.proof_window

    def try_acquire(self) -> bool:
        if not self.shared:
            return True
        assert self._engine is not None
        started = self.monotonic()
        with self._io:
            try:
                if self._connection is None:
                    self._connection = self._engine.connect()
                got = self._connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}
                ).scalar()
                self._connection.commit()  # a session-level lock outlives the transaction
            except SQLAlchemyError as exc:
                if not self._unreachable:  # once per outage, not every try
                    log.warning("cannot try the scheduler lease: %s", _reason(exc))
                self._unreachable = True
                self._close()
                return False
        self._unreachable = False
        if not got:
            return False
        self._proved_at = started
        self.lost.clear()
        self._watch_stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="lease watcher", daemon=True)
        self._watcher.start()
        return True

    def prove(self) -> bool:
        """Re-prove the lock on its connection; a failed proof marks the lease lost."""
        started = self.monotonic()
        reason = "the lock is no longer held by this session"
        with self._io:
            held = False
            if self._connection is not None:
                try:
                    held = bool(self._connection.execute(PROOF, {"key": LOCK_KEY}).scalar())
                    self._connection.commit()
                except SQLAlchemyError as exc:
                    reason = f"its connection failed: {_reason(exc)}"
        if held:
            self._proved_at = started
            return True
        if not self.lost.is_set():
            self._lose(reason)
        return False

    def _watch(self) -> None:
        while not self._watch_stop.wait(self.prove_every):
            if not self.prove():
                return

    def _lose(self, reason: str) -> None:
        self.lost.set()
        self._rest_until = self.monotonic() + REST_AFTER_LOSS
        log.warning("lost the scheduler lease (%s): polls and deliveries stop", reason)
        for callback in self._on_lost:
            callback()

    def wait(self, stop: threading.Event) -> bool:
        """Block until this instance holds the lease and its grace is over (True), or `stop`."""
        standing_by = False
        while not stop.is_set():
            if self.monotonic() >= self._rest_until and self.try_acquire():
                if not self.shared:
                    return True
                log.info(
                    "%s the scheduler lease; acting in %.0f s, once anything a previous holder "
                    "had in flight is over",
                    "took over" if standing_by else "holding",
                    self.grace,
                )
                if stop.wait(self.grace):
                    self.release()
                    return False
                if not self.lost.is_set():
                    return True
                self.release()
            if not standing_by:
                log.info("another instance holds the scheduler lease: standing by")
                standing_by = True
            stop.wait(self.retry_seconds)
        return False

    def release(self) -> None:
        """Unlock and close the lock connection; a connection already gone is not an error."""
        self._watch_stop.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=15)
        self._watcher = None
        self._proved_at = None
        with self._io:
            if self._connection is not None and not self.lost.is_set():
                try:
                    self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
                    self._connection.commit()
                except SQLAlchemyError as exc:
                    log.info("the scheduler lease was already gone: %s", _reason(exc))
            self._close()

    def _close(self) -> None:
        """Close the session for real: its end is what frees the lock for the others."""
        if self._connection is None:
            return
        try:
            self._connection.invalidate()
            self._connection.close()
        except SQLAlchemyError:
            pass  # a dead connection has nothing left to close
        self._connection = None


def _reason(exc: BaseException) -> str:
    """The first line of a database error, without the SQL and parameters SQLAlchemy appends."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"{original.__class__.__name__}: {lines[0] if lines else ''}"[:200]
