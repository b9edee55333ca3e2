"""One `monitor run` per SQLite file: an OS lock on a file beside the database, for life.

The kernel drops an flock when its process ends, however it ends (kill -9 included), so a
stale lock file never blocks a restart. The file stays; only the lock on it matters.
`monitor poll`, `backfill` and `recheck` take no lock: they are single shots whose writes are
transactions deduplicated by key, and the alerts they queue are sent by the running `run`.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url


class InstanceLocked(Exception):
    """Another process holds the database's instance lock (or the lock file is unusable)."""


class InstanceLock:
    """Holds the lock while the object lives and its descriptor stays open."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL and in-memory databases."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute()


def hold_instance_lock(database: Path) -> InstanceLock:
    """Lock `<database>.lock` or raise InstanceLocked with one line that says who holds it."""
    path = database.with_name(database.name + ".lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InstanceLocked(f"cannot open the lock file {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        who = f"pid {holder}" if holder.isdigit() else "another process"
        raise InstanceLocked(
            f"{database} is in use by another `monitor run` ({who}, lock file {path}): "
            "one instance per SQLite database; stop it first, or use PostgreSQL for a standby"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return InstanceLock(path, fd)
