"""A database the monitor cannot use ends every command in one line and exit 2, never a traceback.

Each case runs the installed `monitor` entry point in a subprocess, as an operator would: an
unset `url_env`, PostgreSQL without its driver, `mysql://`, a closed port, a server that accepts
and never answers, and SQLite paths that cannot be written.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import postgres_url

pytestmark = pytest.mark.e2e

MONITOR = Path(sys.executable).parent / "monitor"
PASSWORD = "s3cr3t-Pw"
URL_ENV = "ACME_TEST_MONITOR_DB"
FEED = '[[feeds]]\nname = "blog"\ntype = "rss"\nurl = "http://127.0.0.1:9/feed"\n'
COMMANDS = [
    ["check-config"],
    ["status"],
    ["status", "--problems"],
    ["report"],
    ["report", "--format", "html", "-o", "r.html"],
    ["db", "upgrade"],
    ["poll", "blog"],
    ["poll", "blog", "--dry-run"],
    ["backfill", "blog"],
    ["run"],
    ["slack-listen"],
]


@dataclass
class Case:
    storage: str  # the [storage] table's body
    expected: str  # the start of the one line on stderr
    env: dict[str, str] | None = None
    block: str | None = None  # a module made unimportable, as when an extra is not installed


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there now: connections are refused


def monitor(
    folder: Path, case: Case, args: list[str], *, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    config = folder / "config.toml"
    config.write_text(f"[storage]\n{case.storage}\n{FEED}", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_CONFIG", URL_ENV)}
    env.update(case.env or {})
    if case.block:
        blocker = folder / "blocker"
        blocker.mkdir(exist_ok=True)
        (blocker / "sitecustomize.py").write_text(
            f"import sys\nsys.modules[{case.block!r}] = None  # import {case.block} fails\n",
            encoding="utf-8",
        )
        env["PYTHONPATH"] = str(blocker)
    return subprocess.run(
        [*(prefix or []), str(MONITOR), "--config", str(config), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str], expected: str) -> str:
    """The failure is exit 2 and exactly one line on stderr, starting as expected."""
    shown = f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    assert PASSWORD not in result.stderr + result.stdout, shown
    assert result.stdout == "", shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1, shown
    assert lines[0].startswith(expected), shown
    return lines[0]


def cases() -> dict[str, Case]:
    """Built inside each test: the closed port is picked just before it is dialled."""
    port = closed_port()
    pg = f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/monitor"
    return {
        "url_env unset": Case(
            f'url_env = "{URL_ENV}"',
            f"storage.url_env: {URL_ENV} is not set; export the database URL in it",
        ),
        "postgres driver missing": Case(
            f'url = "{pg}"',
            "storage.url: PostgreSQL needs the driver psycopg: pip install -e '.[postgres]'",
            block="psycopg",
        ),
        "mysql": Case(
            f'url = "mysql://app:{PASSWORD}@127.0.0.1/monitor"',
            "storage.url: mysql is not supported: the monitor runs on SQLite or PostgreSQL",
        ),
        "postgres port closed": Case(
            f'url = "{pg}"',
            f"storage.url: cannot connect to postgresql://app:***@127.0.0.1:{port}/monitor: "
            f'connection to server at "127.0.0.1", port {port} failed: Connection refused',
        ),
        "postgres port closed, password in the query": Case(
            f'url = "postgresql://app@127.0.0.1:{port}/monitor?password={PASSWORD}"',
            f"storage.url: cannot connect to postgresql://app@127.0.0.1:{port}/monitor?password=***:",
        ),
        "postgres port closed, url from env": Case(
            f'url_env = "{URL_ENV}"',
            f"storage.url_env ({URL_ENV}): cannot connect to postgresql://app:***@127.0.0.1",
            env={URL_ENV: pg},
        ),
        "sqlite folder missing": Case(
            'url = "sqlite:///no/such/folder/monitor.db"',
            "storage.url: SQLite database ",  # then the absolute path, checked below
        ),
        "sqlite path under a file": Case(
            'url = "sqlite:///config.toml/monitor.db"',
            "storage.url: SQLite database ",
        ),
        "sqlite file is not a database": Case(
            'url = "sqlite:///config.toml"', "storage.url: SQLite database "
        ),
    }


NAMES = list(cases())
REASONS = {
    "sqlite folder missing": "/no/such/folder does not exist; create it, or change the path",
    "sqlite path under a file": "config.toml is not a folder",
    "sqlite file is not a database": "config.toml: the file is not a SQLite database",
}


@pytest.mark.parametrize("command", [["check-config"], ["run"]], ids=" ".join)
@pytest.mark.parametrize("name", NAMES)
def test_each_storage_failure_is_one_line_and_exit_2(
    tmp_path: Path, name: str, command: list[str]
) -> None:
    case = cases()[name]
    line = one_line(monitor(tmp_path, case, command), case.expected)
    assert line.endswith(REASONS.get(name, "")), line
    assert not (tmp_path / "no").exists()  # no folder was created for the missing one


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_says_the_database_is_unreachable_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    case = cases()["postgres port closed"]
    line = one_line(monitor(tmp_path, case, command), case.expected)
    assert line.endswith("is the server running, and are the host and port right?")


@pytest.mark.parametrize("command", [["status"], ["db", "upgrade"], ["report"]], ids=" ".join)
def test_a_missing_driver_is_named_by_every_command(tmp_path: Path, command: list[str]) -> None:
    case = cases()["postgres driver missing"]
    one_line(monitor(tmp_path, case, command), case.expected)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose server accepts the connection and never says a word (a hung host)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_server_that_never_answers_fails_within_the_connect_timeout(
    tmp_path: Path, silent_server: int
) -> None:
    url = f"postgresql://app:{PASSWORD}@127.0.0.1:{silent_server}/monitor"
    case = Case(f'url = "{url}"', "storage.url: cannot connect to postgresql://app:***@")
    started = time.monotonic()
    line = one_line(monitor(tmp_path, case, ["status"]), case.expected)
    assert "timeout expired" in line
    assert time.monotonic() - started < 60  # 10 s of connect timeout plus start-up, not forever


def test_a_database_missing_on_a_real_server_is_one_line() -> None:
    base = postgres_url()
    if not base:
        pytest.skip("needs MONITOR_TEST_POSTGRES_URL")
    name = f"monitor_missing_{uuid.uuid4().hex[:8]}"
    host = base.split("@", 1)[1].split("/", 1)[0]
    url = f"postgresql://postgres:{PASSWORD}@{host}/{name}"
    case = Case(f'url = "{url}"', "storage.url: cannot connect to postgresql://postgres:***@")
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"monitor-test-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    try:
        line = one_line(monitor(folder, case, ["check-config"]), case.expected)
    finally:
        shutil.rmtree(folder)
    assert f'database "{name}" does not exist' in line
    assert line.endswith("check the user, password and database in the URL")


def _without_write_permission() -> list[str] | None:
    """A command prefix under which a 0o555 folder is really read-only, or None: root ignores
    permission bits unless it drops the capabilities that let it (setpriv, util-linux)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


@pytest.mark.parametrize("command", [["check-config"], ["status"], ["run"]], ids=" ".join)
def test_a_read_only_sqlite_folder_is_one_line(tmp_path: Path, command: list[str]) -> None:
    prefix = _without_write_permission()
    if prefix is None:
        pytest.skip("running as root without setpriv: a read-only folder is writable")
    folder = tmp_path / "ro"
    folder.mkdir()
    case = Case(f'url = "sqlite:///{folder}/monitor.db"', f"storage.url: SQLite database {folder}")
    folder.chmod(0o555)
    try:
        line = one_line(monitor(tmp_path, case, command, prefix=prefix), case.expected)
    finally:
        folder.chmod(0o755)
    assert f"cannot write in {folder} (Permission denied)" in line
    assert "make the folder writable by this user, or change the path" in line
    assert list(folder.iterdir()) == []


def test_a_demo_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    prefix = _without_write_permission()
    if prefix is None:
        pytest.skip("running as root without setpriv: a read-only folder is writable")
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    try:
        result = subprocess.run(
            [*prefix, str(MONITOR), "demo", "--dir", str(folder / "demo")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        folder.chmod(0o755)
    one_line(result, f"cannot use {folder / 'demo'}: Permission denied")
