"""One `monitor run` per SQLite file: the lock beside the database, and who holds it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.leadership.instance_lock import InstanceLocked, hold_instance_lock, sqlite_file


def test_a_second_holder_is_refused_with_the_file_and_the_pid(tmp_path: Path) -> None:
    database = tmp_path / "monitor.db"
    first = hold_instance_lock(database)
    try:
        with pytest.raises(InstanceLocked) as refused:
            hold_instance_lock(database)  # a second open file description: flock refuses it
        message = str(refused.value)
        assert str(database) in message and f"pid {os.getpid()}" in message
        assert "\n" not in message
    finally:
        first.release()
    hold_instance_lock(database).release()  # released: the next one gets it


def test_the_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    lock = hold_instance_lock(tmp_path / "m.db")
    try:
        assert lock.path == tmp_path / "m.db.lock"
        assert lock.path.read_text().strip() == str(os.getpid())
    finally:
        lock.release()


def test_an_unusable_lock_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InstanceLocked, match="cannot open the lock file"):
        hold_instance_lock(tmp_path / "missing-folder" / "m.db")


def test_only_sqlite_files_are_locked(tmp_path: Path) -> None:
    assert sqlite_file(f"sqlite:///{tmp_path}/m.db") == tmp_path / "m.db"
    assert sqlite_file("sqlite:///relative.db") == Path("relative.db").absolute()
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("postgresql://postgres@127.0.0.1/monitor") is None
