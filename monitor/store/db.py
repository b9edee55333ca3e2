"""Engines and sessions for SQLite (WAL) and PostgreSQL, and migrations applied at start-up."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from monitor.store_url import POSTGRES_DRIVER_HINT, StoreError, redact, scrub, url_problem

MIGRATIONS = Path(__file__).parent / "migrations"
# libpq waits for ever on a host that drops packets; a start-up that cannot reach the database
# says so after this long (a `connect_timeout` in the URL's query wins)
CONNECT_TIMEOUT = 10


def normalise_url(url: str) -> str:
    """postgresql:// means psycopg 3 here; SQLAlchemy would otherwise look for psycopg2."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """An engine for a SQLite or PostgreSQL URL; StoreError for any other, or a missing driver.

    Nothing is connected yet: `open_store` (or `check_store`) finds an unreachable server."""
    problem = url_problem(url)
    if problem is not None:
        raise StoreError(problem)
    with _translated(normalise_url(url)):
        return _engine(normalise_url(url))


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=False
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so a poll's
        # reads and writes are one transaction and the write lock is taken up front.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args = {} if "connect_timeout=" in url else {"connect_timeout": CONNECT_TIMEOUT}
    return sa.create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args
    )


def reader(engine: Engine) -> Engine:
    """The same store for reads only (reports): on SQLite its transactions take no write lock,
    so a report neither waits for a poll's write nor holds one back (WAL lets both run)."""
    return engine.execution_options(monitor_read_only=True)


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("monitor_read_only"):
        conn.exec_driver_sql("BEGIN DEFERRED")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see make_engine)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent); StoreError in one line when the
    server is unreachable or a SQLite file cannot be written."""
    with _translated(engine.url.render_as_string(hide_password=False)):
        command.upgrade(alembic_config(engine), "head")


def open_store(url: str) -> Engine:
    """An engine on a database migrated to the newest schema; StoreError in one line when the
    driver is missing, the server unreachable or a SQLite file cannot be written."""
    engine = make_engine(url)
    try:
        upgrade(engine)
    except StoreError:
        engine.dispose()
        raise
    return engine


def check_store(url: str) -> None:
    """Raise StoreError if `url` cannot be used, changing nothing: PostgreSQL is connected to;
    for SQLite the file (or its folder, for a new file) must be writable, as WAL writes beside
    the file, and no database file is created."""
    engine = make_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            path = engine.url.database
            problem = _sqlite_problem(Path(path)) if path and path != ":memory:" else None
            if problem is not None:
                raise StoreError(problem)
            return
        with _translated(normalise_url(url)), engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """Turn a missing driver or a failed connection into StoreError's one line."""
    try:
        yield
    except ImportError as exc:
        if url.startswith("postgresql"):
            raise StoreError(POSTGRES_DRIVER_HINT) from None
        raise StoreError(f"the database driver is missing ({exc})") from None
    except sa.exc.DatabaseError as exc:
        problem = _connection_problem(url, exc)
        if problem is None:
            raise  # not about reaching the database (a migration's own error): keep the trace
        raise StoreError(problem) from None


def _connection_problem(url: str, exc: sa.exc.DatabaseError) -> str | None:
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database or ""
        found = _sqlite_problem(Path(path)) if path and path != ":memory:" else None
        if found is None and not isinstance(exc, sa.exc.OperationalError):
            return None
        return found or f"cannot use the SQLite database {path}: {exc.orig}"
    if not isinstance(exc, sa.exc.OperationalError):
        return None
    # psycopg: "connection failed: connection to server at "h", port 5432 failed: FATAL:  ..."
    lines = [line.strip() for line in str(exc.orig).splitlines() if line.strip()]
    reason = re.sub(r"\s+", " ", lines[0] if lines else type(exc.orig).__name__)
    reason = reason.removeprefix("connection failed: ")
    # the server answered and refused (no such database or role, a wrong password), or not
    advice = (
        "check the user, password and database in the URL"
        if "FATAL" in reason
        else "is the server running, and are the host and port right?"
    )
    shown = redact(url.replace("+psycopg", "", 1))
    return scrub(f"cannot connect to {shown}: {reason}; {advice}", url)


def _sqlite_problem(path: Path) -> str | None:
    """What stops SQLite from writing `path` (and its -wal and -shm files beside it), or None."""
    path = path.expanduser().absolute()
    folder = path.parent
    what = f"SQLite database {path}"
    if path.is_dir():
        return f"{what}: is a directory; name a file"
    if not folder.exists():
        return f"{what}: folder {folder} does not exist; create it, or change the path"
    if not folder.is_dir():
        return f"{what}: {folder} is not a folder"
    try:
        # a real attempt: the permission bits do not say what root, ACLs or a read-only mount allow
        with tempfile.TemporaryFile(dir=folder, prefix=".monitor-write-test-"):
            pass
    except OSError as exc:
        return (
            f"{what}: cannot write in {folder} ({exc.strerror}); SQLite writes the file and its "
            "-wal and -shm files there: make the folder writable by this user, or change the path"
        )
    if path.exists():
        try:
            with path.open("r+b") as handle:
                header = handle.read(16)
        except OSError as exc:
            return f"{what}: cannot open it for writing ({exc.strerror}); check its permissions"
        if header and header != b"SQLite format 3\x00":
            return f"{what}: the file is not a SQLite database"
    return None


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
