"""A worker's proof that it may still act: no other worker can have taken its jobs yet.

Workers share jobs through procrastinate (monitor/cluster/). A worker that stops sending
heartbeats (killed, frozen, cut off from the database) has its running jobs taken over by the
others once its heartbeat is `stalled_after` old. A worker that is merely cut off may still be
running those jobs, so it must stop acting before that moment: every Slack send
(monitor/leadership/leader_sink.py) and every platform request asks `holds()` first.

`holds()` is true while the last proof is younger than `PROOF_WINDOW`. A proof is one
statement on a dedicated connection, every `PROVE_EVERY` seconds: it writes this worker's
status row and reads the age of its heartbeat in procrastinate's worker table, measured by
the database's clock, the same clock the takeover reads. The proof holds while that age is
under `stalled_after - grace`, where `grace` covers the proof window and one call in flight
(`in_flight`, the longest Slack call). So everything this worker started is over before its
jobs can be taken over: `stalled_after` must exceed `grace`, plus heartbeats every
`HEARTBEAT_EVERY` seconds (config.py checks it when a worker starts).

Its jobs may be taken over `grace` after its last proof at the earliest. So a worker with no
proof for `grace` (the database unreachable, or a statement hanging on a silent network) has
lost them for good, as has one whose heartbeat row is gone (pruned as stalled by another
worker) or older than `stalled_after`: `lost` is set and the callbacks run, so the worker
exits and its supervisor starts a fresh one. A watchdog thread checks this, since the proof
thread itself may hang in a statement.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from monitor.leadership.session_names import process_tag, session_args
from monitor.store.models import WorkerRow, table_of, utcnow

log = logging.getLogger(__name__)

PROVE_EVERY = 1.0  # seconds between proofs
PROOF_WINDOW = 5.0  # a proof older than this proves nothing: the worker stops acting
HEARTBEAT_EVERY = 2.0  # procrastinate's heartbeat interval, set by monitor/cluster/worker.py
NETWORK_MARGIN = 1.0  # a request handed to the network just before the deadline
# TCP keepalive on the client's end of the proof connection (libpq's names; the server's end
# is session_names.SERVER_KEEPALIVE): a dead peer is noticed in seconds, not two hours.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}
TCP_USER_TIMEOUT_MS = 10_000
STATEMENT_TIMEOUT_MS = 3_000  # a proof that takes longer proves nothing anyway

_W = table_of(WorkerRow).c


def grace(in_flight: float) -> float:
    """How long before its jobs can be taken over a worker must have stopped acting."""
    return PROOF_WINDOW + in_flight + NETWORK_MARGIN


def shortest_stalled_after(in_flight: float) -> float:
    """The least `[workers] stalled_after` that leaves room for the grace and two heartbeats."""
    return grace(in_flight) + 2 * HEARTBEAT_EVERY


def proof_engine(engine: Engine, name: str) -> Engine:
    """An engine for one long-lived connection: never pooled, with keepalives, a statement
    timeout and a name that shows in pg_stat_activity."""
    server_side = (
        f"-c tcp_user_timeout={TCP_USER_TIMEOUT_MS} -c statement_timeout={STATEMENT_TIMEOUT_MS}"
    )
    return sa.create_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={
            **KEEPALIVE,  # the client's side: this worker notices a dead server
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            **session_args(name, connect_timeout=5, options=server_side),
        },
    )


@dataclass
class Counts:
    """What this worker did, for its status row."""

    jobs_done: int = 0
    failures: int = 0
    last_failure: str | None = None


# The database's clock for the beat: other workers judge it silent by that clock
# (`silent_workers`), whatever this host's clock says. A row marked stopped by them updates
# nothing, and the proof then finds no row.
_PROVE = text(
    "UPDATE monitor_worker SET beat_at = now(), queue_worker_id = :queue_id,"
    " jobs_done = :jobs_done, failures = :failures, last_failure = :last_failure"
    " WHERE id = :id AND stopped_at IS NULL"
    " RETURNING (SELECT EXTRACT(EPOCH FROM now() - last_heartbeat)"
    "            FROM procrastinate_workers WHERE id = :queue_id)"
)
_SILENT = text(
    "UPDATE monitor_worker SET stopped_at = now(), last_failure = :why"
    " WHERE stopped_at IS NULL AND beat_at < now() - make_interval(secs => :seconds)"
    " RETURNING host, pid, tag"
)
# The longest `stalled_after` of the workers running: with workers configured apart, the
# takeover waits for the most patient, whose fence counts on it.
_LONGEST_STALL = text(
    "SELECT max(stalled_after) FROM monitor_worker"
    " WHERE stopped_at IS NULL AND beat_at > now() - interval '1 day'"
)


def cluster_stalled_after(engine: Engine, own: float) -> float:
    """How long a worker must be silent before its jobs are taken over: the longest
    `stalled_after` among the running workers (a worker proves itself against its own)."""
    with engine.connect() as conn:
        longest = conn.execute(_LONGEST_STALL).scalar()
    return max(own, float(longest or 0.0))


# Every session of a worker ends its name with the worker's tag, HOST:PID:NONCE
# (monitor/leadership/session_names.py). The tail is compared whole, not with LIKE:
# "web1:12:..." is not "staging-web1:12:...", and a `_` in a host name is no wildcard. The
# nonce spares a new process of the same host and pid (a container restarted as pid 1).
# (Every session of the tag is closed, also those opened after the last beat: a pool opens
# connections until the very moment of a cut.)
_CUT_OFF = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE pid <> pg_backend_pid() AND application_name LIKE 'monitor %'"
    " AND right(application_name, length(:tail)) = :tail"
)


def cut_off_silent(engine: Engine, silent_for: float) -> list[tuple[str, int, int]]:
    """Mark the workers silent for `silent_for` seconds stopped, and close every database
    session of theirs: (host, pid, sessions closed) for each.

    A worker that stopped proving itself without dying (frozen, SIGSTOP, a network that
    drops packets) keeps its sessions open, and with them the per-host slots it holds
    (monitor/leadership/host_slots.py): other workers would wait for them forever. Its jobs
    are taken over at this point anyway, and with its sessions closed it finds itself cut
    off if it ever wakes up."""
    closed: list[tuple[str, int, int]] = []
    with engine.begin() as conn:
        rows = conn.execute(
            _SILENT,
            {
                "seconds": silent_for,
                "why": f"silent for {silent_for:g} s: jobs taken over, sessions closed",
            },
        ).all()
    for host, pid, tag in rows:
        count = 0
        if tag:
            with engine.begin() as conn:
                count = conn.execute(_CUT_OFF, {"tail": f" {tag}"}).scalar() or 0
        closed.append((host, pid, int(count)))
    return closed


class WorkerPresence:
    """Register this worker's row, prove every second that it may act, mark it stopped."""

    def __init__(
        self,
        engine: Engine,
        *,
        stalled_after: float,
        in_flight: float,
        concurrency: int,
        prove_every: float = PROVE_EVERY,
        proof_window: float = PROOF_WINDOW,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stalled_after = stalled_after
        self.grace = grace(in_flight)
        # the heartbeat may be at most this old for a proof to count
        self.fresh_within = stalled_after - self.grace
        self.concurrency = concurrency
        self.prove_every = prove_every
        self.proof_window = proof_window
        self.clock = clock
        self.monotonic = monotonic
        self.counts = Counts()
        self.queue_worker_id: int | None = None  # procrastinate's id, once it registered us
        self.row_id: int | None = None
        self.lost = threading.Event()
        self._engine = proof_engine(engine, "worker")
        self._connection: Connection | None = None
        self._proved_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_lost: list[Callable[[str], None]] = []
        self._failing = False
        self._lock = threading.Lock()
        self._started_at = monotonic()
        # set on SIGTERM: procrastinate removes this worker's heartbeat row when its stop
        # ends, which a proof would read as "taken over"; stopping, that is expected
        self.stopping = threading.Event()

    def on_lost(self, callback: Callable[[str], None]) -> None:
        """Call `callback(reason)` (from the proof thread) when this worker's jobs are gone."""
        self._on_lost.append(callback)

    def holds(self) -> bool:
        proved = self._proved_at
        if proved is None or self.lost.is_set():
            return False
        return self.monotonic() - proved < self.proof_window

    def job_done(self, failure: str | None = None) -> None:
        with self._lock:
            self.counts.jobs_done += 1
            if failure is not None:
                self.counts.failures += 1
                self.counts.last_failure = failure[:500]

    def register(self) -> int:
        """Insert this worker's row (host, pid, start); its id."""
        row = {
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "tag": process_tag(),
            "stalled_after": self.stalled_after,
            "concurrency": self.concurrency,
            "started_at": sa.func.now(),  # the database's clock, as every beat
            "beat_at": sa.func.now(),
            "jobs_done": 0,
            "failures": 0,
        }
        with self._engine.begin() as conn:
            inserted = conn.execute(sa.insert(table_of(WorkerRow)).values(row).returning(_W.id))
            self.row_id = int(inserted.scalar_one())
        return self.row_id

    def start(self, queue_worker_id: Callable[[], int | None]) -> None:
        """Prove every `prove_every` seconds from a thread; `queue_worker_id` is asked until
        procrastinate has registered this worker."""
        if self.row_id is None:
            self.register()
        self._stop.clear()
        self._started_at = self.monotonic()
        self._thread = threading.Thread(
            target=self._run, args=(queue_worker_id,), name="presence", daemon=True
        )
        self._thread.start()
        threading.Thread(target=self._watch, name="presence watchdog", daemon=True).start()

    def _watch(self) -> None:
        """Lose for good once no proof came for `grace`: the jobs may be another's by now."""
        while not self._stop.wait(self.prove_every / 2):
            last = self._proved_at if self._proved_at is not None else self._started_at
            silent = self.monotonic() - last
            if silent > self.grace:
                self._lose(f"no proof for {silent:.0f} s, so its jobs may have been taken over")
                return

    def _run(self, queue_worker_id: Callable[[], int | None]) -> None:
        while not self._stop.wait(self.prove_every):
            if self.queue_worker_id is None:
                self.queue_worker_id = queue_worker_id()
            if self.queue_worker_id is not None:
                self.prove()
            if self.lost.is_set():
                return

    def prove(self) -> bool:
        """One proof; True when this worker may act for another `proof_window`."""
        started = self.monotonic()
        with self._lock:
            counts = Counts(**vars(self.counts))
        try:
            if self._connection is None:
                self._connection = self._engine.connect()
            age = self._connection.execute(
                _PROVE,
                {
                    "queue_id": self.queue_worker_id,
                    "id": self.row_id,
                    **vars(counts),
                },
            ).scalar()
            self._connection.commit()
        except SQLAlchemyError as exc:
            if not self._failing:  # once per outage
                log.warning("worker presence: cannot reach the database (%s)", _reason(exc))
            self._failing = True
            self._close()
            return False
        if self._failing:
            log.info("worker presence: the database answers again")
            self._failing = False
        if age is None or float(age) >= self.stalled_after:
            reason = (
                "its heartbeat row is gone (it was found silent by another worker)"
                if age is None
                else f"its last heartbeat is {float(age):.0f} s old"
            )
            self._lose(f"this worker's jobs may have been taken over: {reason}")
            return False
        if float(age) >= self.fresh_within:
            return False  # not yet lost, but too late to start anything
        self._proved_at = started
        return True

    def _lose(self, reason: str) -> None:
        with self._lock:
            if self.lost.is_set() or self._stop.is_set():
                return
            self.lost.set()
        if self.stopping.is_set():
            log.info("worker presence ended while stopping: %s", reason)
            return
        log.error("worker presence lost: %s; this worker stops", reason)
        for callback in self._on_lost:
            callback(reason)

    def stop(self) -> None:
        """End the proofs and mark the row stopped (a stopped worker shows as such)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._thread = None
        self._proved_at = None
        if self.row_id is not None:
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        sa.update(table_of(WorkerRow))
                        .where(_W.id == self.row_id)
                        .values(
                            stopped_at=sa.func.now(),
                            jobs_done=self.counts.jobs_done,
                            failures=self.counts.failures,
                            last_failure=self.counts.last_failure,
                        )
                    )
            except SQLAlchemyError as exc:
                log.info("worker presence: could not mark the row stopped: %s", _reason(exc))
        self._close()
        self._engine.dispose()

    def _close(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.invalidate()
            self._connection.close()
        except SQLAlchemyError:
            pass  # a dead connection has nothing left to close
        self._connection = None


def _reason(exc: BaseException) -> str:
    """The first line of a database error, without the SQL and parameters."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"{original.__class__.__name__}: {lines[0] if lines else ''}"[:200]
