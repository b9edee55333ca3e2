"""Two `monitor run` on one SQLite file: the second is refused, and a kill -9 frees the file.

(On PostgreSQL, processes share the work as workers: tests/test_workers.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.workers import running, start_worker
from tests.test_end_to_end import wait_for

pytestmark = pytest.mark.e2e
POLL_INTERVAL = 30.0  # the shortest a feed may have


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return start_worker(config, log, "xoxb-test-token", command="run")


def sqlite_config(tmp_path: Path) -> Path:
    (tmp_path / "mentions.jsonl").write_text(
        '{"id": "1", "created_at": "2026-01-01T00:00:00Z", "text": "down again"}\n',
        encoding="utf-8",
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "m.db"}"\n[scheduler]\njitter = 0\n'
        '[[feeds]]\nname = "file"\ntype = "jsonl"\npath = "mentions.jsonl"\ninterval = "30s"\n',
        encoding="utf-8",
    )
    return config


def test_a_second_run_on_one_sqlite_file_is_refused_and_a_kill_9_frees_it(
    tmp_path: Path,
) -> None:
    config = sqlite_config(tmp_path)
    logs = [tmp_path / "first.log", tmp_path / "second.log", tmp_path / "third.log"]
    processes = [start(config, logs[0])]
    with running(processes):
        wait_for(lambda: "monitoring 1 feeds" in logs[0].read_text(), 60, "the first instance")
        second = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "SLACK_BOT_TOKEN": ""},
        )
        processes.append(second)
        _out, err = second.communicate(timeout=60)
        lines = err.decode().strip().splitlines()
        assert second.returncode == 2
        assert len(lines) == 1, lines
        assert str(tmp_path / "m.db") in lines[0]
        assert f"pid {processes[0].pid}" in lines[0]
        assert processes[0].poll() is None, "the first keeps running"
        # single shots share the file with the running instance
        poll = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(config), "poll", "file"],
            capture_output=True,
            timeout=60,
        )
        assert poll.returncode == 0, poll.stderr
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait(timeout=10)
        processes.append(start(config, logs[2]))
        wait_for(lambda: "monitoring 1 feeds" in logs[2].read_text(), 60, "a new instance")
        assert processes[-1].poll() is None
