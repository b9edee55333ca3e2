"""Access tokens shared by every worker through the database: one login per account for all."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Hashable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from connectors.errors import TransientError
from connectors.logins import Login
from monitor.leadership.session_names import session_args
from monitor.store.models import LoginToken, UTCDateTime, table_of

# The two-int advisory lock space of logins (pg_advisory_xact_lock(int4, int4)): this
# constant, then 31 bits of a stable hash of the account. Other namespaces of the monitor
# (monitor/leadership/host_slots.py) use other constants, and the scheduler lease the
# one-bigint form, which pg_locks keeps apart (objsubid 1 against 2). Two accounts whose
# hashes collide share the lock: one's login then waits for the other's, nothing worse.
NAMESPACE = 0x6C6F676E  # "logn"
# A token found in memory is trusted this long before the table is read again: the table
# is read once a minute at most per account and process, and a token renewed by another
# worker (after the platform refused the old one) reaches this one within a minute.
CACHE_SECONDS = 60.0
# How long a poll waits for another worker's login of the same account. A login is one
# platform call (seconds); a wait past this means the holder is frozen or cut off, and its
# transaction may stay open on the server for long (for ever while it is frozen): the poll
# fails as transient and backs off instead of holding its job and its host slot meanwhile.
LOCK_WAIT = 30.0
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's error code when lock_timeout ends a wait

_TABLE = table_of(LoginToken)
_T = _TABLE.c
_READ = select(_T.token, _T.expires_at).where(_T.account == bindparam("account"))
_LOCK = sa.text("SELECT pg_advisory_xact_lock(:ns, :key)")
_LOCK_WAIT = sa.text("SELECT set_config('lock_timeout', :ms, true)")  # this transaction only
_NEW = postgresql.insert(_TABLE).values(
    account=bindparam("a"), token=bindparam("t"), expires_at=bindparam("e", type_=UTCDateTime())
)
_UPSERT = _NEW.on_conflict_do_update(
    index_elements=[_T.account],
    set_={"token": _NEW.excluded.token, "expires_at": _NEW.excluded.expires_at},
)
_FORGET = delete(_TABLE).where(_T.account == bindparam("account"), _T.token == bindparam("token"))


def account_of(key: Hashable) -> str:
    """The table's key for a connector's account key, e.g. ["bluesky", server, handle]:
    text, the same in every process. Keys name accounts, never secrets."""
    parts = key if isinstance(key, tuple) else (key,)
    return json.dumps([str(part) for part in parts], ensure_ascii=False)


def lock_key(account: str) -> int:
    digest = hashlib.blake2b(account.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") >> 1  # a non-negative int4


class SharedLogins:
    """`connectors.logins.Logins` for many processes: one token per account in the
    `login_token` table, shared by every worker.

    A worker that finds no valid token takes the account's advisory lock (PostgreSQL,
    transaction-level), reads the table again, and logs in only if no other worker did
    meanwhile; the others wait on the lock, then read the new token. Tokens are kept in
    memory for at most `cache_seconds`, so a poll reads the table about once a minute per
    account. Tokens are never logged, and the engine hides statement parameters from its
    errors. A database that cannot be asked fails the poll as a TransientError (it backs
    off and tries again): logging in anyway would spend the platform's login budget."""

    def __init__(
        self,
        engine: Engine,
        *,
        cache_seconds: float = CACHE_SECONDS,
        lock_wait: float = LOCK_WAIT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("shared logins need PostgreSQL; one process uses Logins()")
        # its own engine: errors without the statement's values (a token), a small pool
        self.engine = sa.create_engine(
            engine.url,
            pool_size=2,
            max_overflow=4,
            pool_pre_ping=True,
            hide_parameters=True,
            # named after its process as the worker's other connections are (a worker found
            # silent has them all closed: presence.cut_off_silent), and the server ends a dead
            # host's transaction, freeing its account's lock, after ~11 s
            connect_args=session_args("logins", connect_timeout=10),
        )
        self.cache_seconds = cache_seconds
        self.lock_wait = lock_wait
        self.monotonic = monotonic
        # account -> (token, expires_at, monotonic time it was read)
        self._cache: dict[str, tuple[str, datetime, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def dispose(self) -> None:
        self.engine.dispose()

    def token(self, key: Hashable, now: datetime, login: Login) -> str:
        """The account's token while `now` is before its expiry; else `login()`, once
        across every process sharing the database."""
        account = account_of(key)
        held = self._cached(account, now)
        if held is not None:
            return held
        with self._account_lock(account):  # this process's threads ask the database once
            held = self._cached(account, now)
            if held is not None:
                return held  # another thread has just read or renewed it
            try:
                return self._token(account, now, login)
            except SQLAlchemyError as exc:
                cause = getattr(exc, "orig", None) or exc
                if getattr(cause, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                    raise TransientError(
                        f"another worker's login to this account took over "
                        f"{self.lock_wait:g} s (that worker frozen or cut off?)"
                    ) from None
                raise TransientError(
                    f"the shared login store cannot be read: {cause.__class__.__name__}"
                ) from None  # the chained error could carry the statement's values

    def _token(self, account: str, now: datetime, login: Login) -> str:
        with self.engine.connect() as conn:
            stored = self._read(conn, account)
            conn.rollback()
            if stored is not None and now < stored[1]:
                return self._keep(account, stored)
            with conn.begin():
                # held until this transaction ends: the other workers wait for our login,
                # for `lock_wait` at most (a LockNotAvailable: TransientError below)
                conn.execute(_LOCK_WAIT, {"ms": str(int(self.lock_wait * 1000))})
                conn.execute(_LOCK, {"ns": NAMESPACE, "key": lock_key(account)})
                stored = self._read(conn, account)
                if stored is not None and now < stored[1]:
                    return self._keep(account, stored)  # another worker logged in meanwhile
                token, expires = login()  # its errors (AuthError...) are the poll's
                conn.execute(_UPSERT, {"a": account, "t": token, "e": expires})
            return self._keep(account, (token, expires))

    def forget(self, key: Hashable, token: str) -> None:
        """The platform refused `token`: the next `token()` logs in again, unless another
        worker has already stored a newer token (that one is kept)."""
        account = account_of(key)
        held = self._cache.get(account)
        if held is not None and held[0] == token:
            self._cache.pop(account, None)
        try:
            with self.engine.begin() as conn:
                conn.execute(_FORGET, {"account": account, "token": token})
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise TransientError(
                f"the shared login store cannot be written: {cause.__class__.__name__}"
            ) from None

    def _cached(self, account: str, now: datetime) -> str | None:
        held = self._cache.get(account)
        if held is None or now >= held[1] or self.monotonic() - held[2] >= self.cache_seconds:
            return None
        return held[0]

    def _read(self, conn: Connection, account: str) -> tuple[str, datetime] | None:
        row = conn.execute(_READ, {"account": account}).first()
        return None if row is None else (row[0], row[1])

    def _keep(self, account: str, stored: tuple[str, datetime]) -> str:
        self._cache[account] = (stored[0], stored[1], self.monotonic())
        return stored[0]

    def _account_lock(self, account: str) -> threading.Lock:
        with self._lock:
            found = self._locks.get(account)
            if found is None:
                found = self._locks[account] = threading.Lock()
            return found
