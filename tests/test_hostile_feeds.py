"""A real `monitor run` beside hostile feeds on 127.0.0.1: a NUL and a lone surrogate in a jsonl
file, a redirect loop, a 200,000-deep JSON answer, an answer dripped a byte at a time, a
connector with a bug. The healthy feed keeps its schedule; each hostile feed says why it fails
in `monitor status` and backs off; SIGTERM ends the process within a bound, even mid-drip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from monitor.store.db import make_engine
from monitor.store.models import Mention
from tests.support.http_server import LocalServer, Reply, Request, local_server
from tests.test_end_to_end import FEED, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 30  # the shortest a feed may ask for
DEEP = b"[" * 200_000 + b"]" * 200_000
# how long SIGTERM may take: a request in flight ends within a second of it (connectors/
# deadline.py), then the polls and the dispatcher finish their round; generous for a busy CI
EXIT_BOUND = 10.0


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A store URL for the monitor process, and an engine on it for the test to look."""
    if request.param == "postgres":
        engine: Engine = request.getfixturevalue("postgres_engine")
        yield engine.url.render_as_string(hide_password=False), engine
        return
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


def monitor(config: Path, *args: str) -> list[str]:
    """The monitor CLI with the buggy connector registered (tests/support/buggy_connector.py)."""
    return [sys.executable, "-m", "tests.support.buggy_connector", "--config", str(config), *args]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SLACK_BOT_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def status_rows(config: Path) -> dict[str, str]:
    out = subprocess.run(
        monitor(config, "status"),
        capture_output=True,
        text=True,
        check=True,
        env=environment(),
        cwd=ROOT,
    ).stdout
    return {line.split()[0]: line for line in out.splitlines() if line and line[0].isalnum()}


def stop(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM, and the seconds until the process exited (killed after 30 s)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return time.monotonic() - started


def loop(request: Request) -> Reply:
    """A redirect to itself; `hop` counts the hops, so a poll's first request has none."""
    hop = int(request.query.get("hop", ["0"])[0]) + 1
    return Reply(302, b"", {"Location": f"/loop?hop={hop}"})


def hits(server: LocalServer, path: str, *, first_hop: bool = False) -> int:
    return len(
        [r for r in server.requests if r.path == path and not (first_hop and "hop" in r.query)]
    )


def test_hostile_feeds_fail_alone_with_reasons_and_back_off(
    tmp_path: Path, store: tuple[str, Engine]
) -> None:
    url, engine = store
    jsonl = tmp_path / "mentions.jsonl"
    hostile_line = {
        "id": "n1",
        "created_at": "2026-11-23T08:00:00Z",
        "text": "The app crashed \u0000 again \ud83d and again",
        "author": "ann\u0000",
    }
    jsonl.write_text(json.dumps(hostile_line) + "\n", encoding="ascii")
    with local_server() as server:
        server.route("/good.atom", Reply(200, FEED.read_bytes()))
        server.route("/loop", loop)
        server.route("/deep/*", Reply(200, DEEP, {"Content-Type": "application/json"}))
        server.route("/drip", Reply(200, FEED.read_bytes(), drip=0.5))
        server.route("/buggy/*", Reply(200, b"{}"))
        config = tmp_path / "config.toml"
        config.write_text(
            f'[storage]\nurl = "{url}"\n'
            '[scheduler]\njitter = 0\nhttp_timeout = "2s"\n'
            f'[[feeds]]\nname = "good"\ntype = "rss"\nurl = "{server.url}/good.atom"\n'
            f'interval = "{INTERVAL}s"\n'
            f'[[feeds]]\nname = "nul"\ntype = "jsonl"\npath = "{jsonl}"\n'
            f'interval = "{INTERVAL}s"\n'
            f'[[feeds]]\nname = "loop"\ntype = "rss"\nurl = "{server.url}/loop"\n'
            f'interval = "{INTERVAL}s"\n'
            f'[[feeds]]\nname = "deep"\ntype = "hn"\nquery = "acme"\n'
            f'base_url = "{server.url}/deep"\ninterval = "{INTERVAL}s"\n'
            f'[[feeds]]\nname = "drip"\ntype = "rss"\nurl = "{server.url}/drip"\n'
            f'interval = "{INTERVAL}s"\n'
            f'[[feeds]]\nname = "buggy"\ntype = "buggy"\nbase_url = "{server.url}/buggy"\n'
            f'interval = "{INTERVAL}s"\n',
            encoding="utf-8",
        )
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                monitor(config, "run"),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment(),
                cwd=ROOT,
            )
        try:
            wait_for(lambda: hits(server, "/good.atom") >= 1, 60, "the first poll")
            first = time.monotonic()
            # the healthy feed keeps its schedule: its third poll two intervals later
            wait_for(lambda: hits(server, "/good.atom") >= 3, 2 * INTERVAL + 15, "a third poll")
            # a hostile feed polled on schedule would poll now too: give it the time
            time.sleep(5)
            assert time.monotonic() - first < 3 * INTERVAL, "a hostile feed blocked the rest"
            polls = {
                "loop": hits(server, "/loop", first_hop=True),
                "deep": hits(server, "/deep/search_by_date"),
                "drip": hits(server, "/drip"),
                "buggy": hits(server, "/buggy/page"),
            }
        finally:
            seconds = stop(process)
        rows = status_rows(config)
    assert seconds < EXIT_BOUND, f"SIGTERM took {seconds:.1f} s"
    assert " ok " in rows["good"], rows["good"]
    assert " ok " in rows["nul"], rows["nul"]
    with Session(engine) as session:
        stored = session.exec(select(Mention).where(Mention.feed == "nul")).one()
    assert (stored.text, stored.author) == ("The app crashed  again \ufffd and again", "ann")
    expected = {
        "loop": "a redirect loop",
        "deep": "nested too deeply",
        "drip": "no complete answer within 2 s",
        "buggy": "the buggy connector failed unexpectedly: ZeroDivisionError",
    }
    for name, reason in expected.items():
        assert "failing" in rows[name] and reason in rows[name], rows[name]
        # backed off: polled at the start, one interval later, then not for two more; a
        # feed polled on schedule (the healthy one) was polled 3 times by now
        assert 1 <= polls[name] <= 2, f"{name} polled {polls[name]} times: {polls}"
    text = log.read_text()
    # the bug's traceback, once; the other failures are one line each
    assert text.count("Traceback") == 1, text
    assert text.count("feed buggy is failing") == 1
    assert text.count("feed loop is failing") == 1


def test_sigterm_ends_monitor_run_while_a_feed_drips(tmp_path: Path) -> None:
    """However long the deadline, a request in flight does not hold the process."""
    with local_server() as server:
        server.route("/good.atom", Reply(200, FEED.read_bytes()))
        server.route("/drip", Reply(200, FEED.read_bytes(), drip=0.5))  # hours at this pace
        config = tmp_path / "config.toml"
        config.write_text(
            f'[storage]\nurl = "sqlite:///{tmp_path / "m.db"}"\n'
            '[scheduler]\njitter = 0\nhttp_timeout = "120s"\n'
            f'[[feeds]]\nname = "good"\ntype = "rss"\nurl = "{server.url}/good.atom"\n'
            f'[[feeds]]\nname = "drip"\ntype = "rss"\nurl = "{server.url}/drip"\n',
            encoding="utf-8",
        )
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                monitor(config, "run"),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment(),
                cwd=ROOT,
            )
        try:
            wait_for(lambda: hits(server, "/drip") >= 1, 60, "the dripping poll")
            wait_for(lambda: hits(server, "/good.atom") >= 1, 30, "the healthy poll")
            time.sleep(2)  # well into the drip
        finally:
            seconds = stop(process)
        rows = status_rows(config)
    assert seconds < EXIT_BOUND, f"SIGTERM took {seconds:.1f} s with a feed dripping"
    assert process.returncode == 0
    assert "poll cancelled" in log.read_text()
    # stopping is not the feed's fault: nothing recorded against it
    assert "failing" not in rows["drip"], rows["drip"]
    assert " ok " in rows["good"]
