"""The scheduler lease: with PostgreSQL, one instance polls and the others stand by.

A session-level advisory lock is held on one dedicated connection for as long as the
instance runs; if that instance dies, PostgreSQL drops its connection and the lock with
it, and a standby takes over on its next try. SQLite is one instance by nature: the lease
is always granted.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

# pg_advisory_lock takes a bigint; any constant works as long as every instance agrees
LOCK_KEY = 0x6D6F6E69746F72  # "monitor"


class SchedulerLease:
    def __init__(self, engine: Engine, retry_seconds: float = 10.0) -> None:
        self.engine = engine
        self.retry_seconds = retry_seconds
        self._connection: Connection | None = None

    @property
    def shared(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def try_acquire(self) -> bool:
        if not self.shared:
            return True
        if self._connection is None:
            self._connection = self.engine.connect()
        got = self._connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}
        ).scalar()
        self._connection.commit()  # the lock is session-level: it outlives the transaction
        return bool(got)

    def wait(self, stop: threading.Event) -> bool:
        """Block until this instance holds the lease (True) or `stop` is set (False)."""
        if self.try_acquire():
            return True
        log.info("another instance holds the scheduler lease: standing by")
        while not stop.wait(self.retry_seconds):
            if self.try_acquire():
                log.info("took over the scheduler lease")
                return True
        return False

    def release(self) -> None:
        if self._connection is not None:
            # a pooled connection would keep the session, and the lock, alive: unlock, then
            # close the database session for real instead of returning it to the pool
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
                self._connection.commit()
            finally:
                self._connection.invalidate()
                self._connection.close()
                self._connection = None
