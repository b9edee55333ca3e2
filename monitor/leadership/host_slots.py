"""Per-host politeness: at most `per_host` calls at once to one platform host, per process or
across every worker of the cluster."""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection

from monitor.leadership.session_names import session_args

log = logging.getLogger(__name__)

# The two-int advisory lock space (pg_try_advisory_xact_lock(int4, int4)): this constant as
# the first int, the host's slot as the second. Locks of this form show in pg_locks with
# objsubid 2, those taken with one bigint (the scheduler lease) with objsubid 1, so the two
# never meet. Within this namespace, a host owns a block of 64 keys: 25 bits of a stable
# hash of its name, then 6 bits for the slot index (per_host <= 64 by the config). Two hosts
# whose names hash alike (1 in 33 million for a pair) share one block: each then gets fewer
# calls at once than `per_host`, never more, so a collision is harmless.
NAMESPACE = 0x686F7374  # "host"
_SLOT_BITS = 6
_HASH_BITS = 31 - _SLOT_BITS  # the key stays a non-negative int4
FIRST_WAIT = 0.02  # seconds before trying again when every slot of a host is taken
MAX_WAIT = 0.5


class HostSlots(Protocol):
    """Hands out one of a host's slots for the duration of a platform call."""

    def slot(self, host: str) -> AbstractContextManager[object]:
        """Held while calling `host`; entering waits while `per_host` calls are running."""
        ...  # pragma: no cover


class LocalHostSlots:
    """One bounded semaphore per host: the limit holds within this process (one process, or
    SQLite, which is one process by nature)."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def slot(self, host: str) -> threading.BoundedSemaphore:
        found = self._hosts.get(host)  # every poll comes here: no lock once the host is known
        if found is None:
            with self._lock:
                found = self._hosts.setdefault(host, threading.BoundedSemaphore(self.per_host))
        return found


def slot_key(host: str, index: int) -> int:
    """The second int of a host's `index`-th advisory lock: the same in every process
    (Python's own hash() is salted per process, so a digest is used)."""
    digest = hashlib.blake2b(host.encode("utf-8"), digest_size=4).digest()
    hashed = int.from_bytes(digest, "big") >> (32 - _HASH_BITS)
    return (hashed << _SLOT_BITS) | index


def try_any(host: str, per_host: int) -> str:
    """One round trip that takes the first free slot of a host and says which (-1: none).

    CASE evaluates its conditions in order and stops at the first true one, so at most one
    lock is taken (a `SELECT ... WHERE pg_try_advisory_xact_lock(...) LIMIT 1` may take
    more than it returns, as PostgreSQL's manual warns). The keys are our own integers,
    written into the text: the statement is built once per host, and sent as it is."""
    whens = " ".join(
        f"WHEN pg_try_advisory_xact_lock({NAMESPACE}, {slot_key(host, i)}) THEN {i}"
        for i in range(per_host)
    )
    return f"SELECT CASE {whens} ELSE -1 END"


class ClusterHostSlots:
    """The per-host limit across every process on one PostgreSQL database.

    A call holds one of the host's `per_host` transaction-level advisory locks on a
    connection of this object's own small pool, in a transaction left open for the length
    of the call (it reads no table and writes nothing, so it holds back no vacuum). The lock
    goes when the transaction ends: at the end of the call, or when the holder's connection
    dies with it (a killed process; a dead host once the server's keepalives notice). A
    local semaphore in front keeps one process from holding more than `per_host`
    connections for one host. A process that finds every slot taken gives its connection
    back and tries again after a short, growing, jittered pause, so waiting for a busy host
    never holds a connection another host's call needs.

    The database must not stop a poll: when it cannot be asked, the call goes ahead within
    this process's limit alone (logged once until it answers again), and a connection lost
    during the call is logged when the call ends."""

    def __init__(
        self,
        engine: Engine,
        per_host: int,
        *,
        connections: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= per_host <= 1 << _SLOT_BITS:
            raise ValueError(f"per_host must be 1 to {1 << _SLOT_BITS}, not {per_host}")
        self.per_host = per_host
        self._local = LocalHostSlots(per_host)
        self._statements: dict[str, str] = {}
        self._sleep = sleep
        self._degraded = False
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        # Its own pool: a slot's connection is held for a whole platform call, and must not
        # take one the pipeline's writes need. Sized for the calls a process makes at once
        # (`[scheduler] concurrency`), with as many again in overflow for re-checks.
        self.engine = sa.create_engine(
            engine.url,
            pool_size=connections,
            max_overflow=connections,
            pool_timeout=30,
            hide_parameters=True,
            # the server frees a dead host's slots after ~11 s instead of TCP's hours
            connect_args=session_args("host slots", connect_timeout=10),
        )

    def dispose(self) -> None:
        """Close the pool's connections (each process's own, after a fork too)."""
        self.engine.dispose()

    def _statement(self, host: str) -> str:
        found = self._statements.get(host)
        if found is None:
            found = self._statements[host] = try_any(host, self.per_host)
        return found

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._local.slot(host):
            conn = self._take(host)
            try:
                yield
            finally:
                if conn is not None:
                    self._give_back(conn, host)

    def _take(self, host: str) -> PoolProxiedConnection | None:
        """A connection whose open transaction holds one of the host's slots; None when the
        database cannot be asked (the call then goes ahead under the local limit).

        On the driver's connection, not through SQLAlchemy's: a slot is taken for every
        poll, and that cost 190 us of CPU a call against 50 us here."""
        statement = self._statement(host)
        wait = FIRST_WAIT
        reconnect = True  # a pooled connection the server dropped (a restart): one fresh try
        while True:
            try:
                conn = self.engine.raw_connection()
            except (SQLAlchemyError, self._dbapi_error) as exc:  # the pool raises the driver's
                self._unreachable(host, exc)
                return None
            try:
                cursor = conn.cursor()
                cursor.execute(statement)
                row = cursor.fetchone()
                cursor.close()
            except self._dbapi_error as exc:
                conn.invalidate()  # never back into the pool
                if reconnect:
                    reconnect = False
                    continue
                self._unreachable(host, exc)
                return None
            except BaseException:
                conn.invalidate()
                raise
            if self._degraded:
                self._degraded = False
                log.info("host slots: the database answers again, limits are cluster-wide")
            if row is not None and row[0] >= 0:
                return conn
            # every slot is held elsewhere: end this empty transaction, try again soon
            self._end(conn)
            self._sleep(wait * random.uniform(0.5, 1.0))
            wait = min(wait * 2, MAX_WAIT)

    def _unreachable(self, host: str, exc: Exception) -> None:
        if not self._degraded:
            self._degraded = True
            log.warning(
                "host slots: the database cannot be asked (%s); calls to %s and other hosts "
                "keep to this process's per_host limit until it answers",
                _why(exc),
                host,
            )

    def _give_back(self, conn: PoolProxiedConnection, host: str) -> None:
        """End the transaction (which frees the slot) and return the connection to the pool."""
        lost = self._end(conn)
        if lost is not None:
            # the slot went with the connection; the call itself is done and stands
            log.warning("host slots: connection lost during a call to %s: %s", host, _why(lost))

    def _end(self, conn: PoolProxiedConnection) -> Exception | None:
        """Roll back and give the connection back (or drop it, if it died: the error)."""
        try:
            conn.rollback()
        except self._dbapi_error as exc:
            conn.invalidate()
            conn.close()
            return exc
        conn.close()
        return None


def _why(exc: Exception) -> str:
    """The driver's words, first line only: no statement, no parameters."""
    cause: BaseException = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{cause.__class__.__name__}: {first}"
