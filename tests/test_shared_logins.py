"""Logins shared by every worker: one login per account across processes, the token in the
`login_token` table, renewed once when it expires, forgotten only when it is the one refused."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from connectors.errors import TransientError
from connectors.logins import Logins
from monitor.config import parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.leadership.shared_logins import SharedLogins, account_of
from monitor.store.models import LoginToken

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEY = ("bluesky", "https://bsky.example.test", "acme.example.test")
ROOT = Path(__file__).resolve().parent.parent
GUARD = 60.0

# One worker: three threads ask for the account's token once the parent says go; the
# login is slow (a createSession taking 300 ms) so that the other process asks meanwhile.
WORKER = """
import os, sys, threading, time
from datetime import UTC, datetime, timedelta
import sqlalchemy as sa
from monitor.leadership.shared_logins import SharedLogins

url, calls = sys.argv[1], sys.argv[2]
logins = SharedLogins(sa.create_engine(url))

def login():
    with open(calls, "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(0.3)
    return f"token-{os.getpid()}", datetime.now(UTC) + timedelta(hours=1)

key = ("bluesky", "https://bsky.example.test", "acme.example.test")
got = []
def ask():
    got.append(logins.token(key, datetime.now(UTC), login))

print("ready", flush=True)
sys.stdin.readline()
threads = [threading.Thread(target=ask) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(" ".join(sorted(set(got))), flush=True)
"""


class CountingLogin:
    """A login function that counts its calls (from any thread) and hands out new tokens."""

    def __init__(self, expires: datetime = NOW + timedelta(hours=1), name: str = "token") -> None:
        self.calls = 0
        self.name = name
        self.expires = expires
        self.lock = threading.Lock()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self) -> tuple[str, datetime]:
        with self.lock:
            self.calls += 1
            token = f"{self.name}-{self.calls}"
        self.entered.set()
        assert self.release.wait(GUARD)
        return token, self.expires


def stored(engine: Engine) -> list[tuple[str, str, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(LoginToken.__table__)).all()  # type: ignore[attr-defined]
    return [(r.account, r.token, r.expires_at) for r in rows]


def test_two_processes_asking_at_once_log_in_once(postgres_engine: Engine, tmp_path: Path) -> None:
    url = postgres_engine.url.render_as_string(hide_password=False)
    calls = tmp_path / "logins"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(calls)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        for worker in workers:  # both start together
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        tokens = []
        for worker in workers:
            out, _ = worker.communicate(timeout=GUARD)
            assert worker.returncode == 0
            tokens.append(out.strip())
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    assert len(calls.read_text().splitlines()) == 1, "one login for six callers in two processes"
    assert tokens[0] == tokens[1] and tokens[0].startswith("token-")
    assert [(a, t) for a, t, _ in stored(postgres_engine)] == [(account_of(KEY), tokens[0])]


def asking(
    logins: list[SharedLogins], now: datetime, login: CountingLogin, results: list[str]
) -> list[threading.Thread]:
    def ask(which: SharedLogins) -> Callable[[], None]:
        return lambda: results.append(which.token(KEY, now, login))

    threads = [threading.Thread(target=ask(s)) for s in logins for _ in range(2)]
    for thread in threads:
        thread.start()
    return threads


def test_an_expired_token_is_renewed_once_for_every_worker(postgres_engine: Engine) -> None:
    """Two SharedLogins on their own engines stand for two workers."""
    workers = [SharedLogins(postgres_engine), SharedLogins(postgres_engine)]
    try:
        first = CountingLogin(expires=NOW + timedelta(minutes=30))
        assert workers[0].token(KEY, NOW, first) == "token-1"
        assert workers[1].token(KEY, NOW, first) == "token-1"  # read from the table
        assert first.calls == 1
        later = NOW + timedelta(minutes=31)  # expired, for both (their memory too)
        renew = CountingLogin(name="renewed")
        renew.release.clear()  # the renewing login stays in flight while the others ask
        results: list[str] = []
        threads = asking(workers, later, renew, results)
        assert renew.entered.wait(GUARD)
        renew.release.set()
        for thread in threads:
            thread.join(GUARD)
        assert renew.calls == 1, "one login for four callers in two workers"
        assert results == ["renewed-1"] * 4
        assert stored(postgres_engine)[0][1:] == ("renewed-1", renew.expires)
    finally:
        for worker in workers:
            worker.dispose()


def test_forget_drops_only_the_refused_token(postgres_engine: Engine) -> None:
    one, two = SharedLogins(postgres_engine), SharedLogins(postgres_engine)
    try:
        login = CountingLogin()
        assert one.token(KEY, NOW, login) == "token-1"
        assert two.token(KEY, NOW, login) == "token-1"
        one.forget(KEY, "some-older-token")  # refused earlier, already replaced: kept
        assert stored(postgres_engine)[0][1] == "token-1"
        one.forget(KEY, "token-1")  # refused now: the next ask logs in
        assert stored(postgres_engine) == []
        assert one.token(KEY, NOW, login) == "token-2"
        assert login.calls == 2
        # the other worker still holds token-1 in memory; refused too, it forgets it, which
        # leaves the renewed token in place, and takes that one without a login
        two.forget(KEY, "token-1")
        assert stored(postgres_engine)[0][1] == "token-2"
        assert two.token(KEY, NOW, login) == "token-2"
        assert login.calls == 2
    finally:
        one.dispose()
        two.dispose()


def test_a_poll_reads_the_token_from_memory_not_the_table(postgres_engine: Engine) -> None:
    clock = [100.0]
    logins = SharedLogins(postgres_engine, cache_seconds=60, monotonic=lambda: clock[0])
    statements: list[str] = []
    event.listen(logins.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        login = CountingLogin()
        assert logins.token(KEY, NOW, login) == "token-1"
        asked = len(statements)
        for _ in range(5):
            assert logins.token(KEY, NOW, login) == "token-1"
        assert len(statements) == asked, "no statement while the token is in memory"
        clock[0] += 61  # a minute on: read again (another worker may have renewed it)
        assert logins.token(KEY, NOW, login) == "token-1"
        assert len(statements) == asked + 1 and login.calls == 1
    finally:
        logins.dispose()


def test_no_token_reaches_the_log_or_an_error(
    postgres_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    logins = SharedLogins(postgres_engine)
    secret = "eyJhbGciOi.secret-access-jwt"
    try:
        with caplog.at_level(logging.DEBUG):
            logins.engine.echo = True  # even SQL logging shows no parameter
            assert logins.token(KEY, NOW, lambda: (secret, NOW + timedelta(hours=1))) == secret
            logins.forget(KEY, secret)
        assert caplog.records and secret not in caplog.text
    finally:
        logins.dispose()
    down = SharedLogins(sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:9/nowhere"))
    with pytest.raises(TransientError, match="shared login store cannot be") as caught:
        down.token(KEY, NOW, lambda: (secret, NOW))
    assert secret not in str(caught.value) and caught.value.__cause__ is None


def test_shared_logins_refuse_sqlite(sqlite_engine: Engine) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        SharedLogins(sqlite_engine)


@pytest.mark.usefixtures("fake_registered")
def test_the_pipeline_hands_its_connectors_the_logins_it_is_given(
    postgres_engine: Engine,
) -> None:
    config = parse_config({"feeds": [{"name": "f1", "type": "fake"}]})
    shared = SharedLogins(postgres_engine)
    try:
        pipeline = Pipeline(config, postgres_engine, httpx.Client(), logins=shared)
        assert pipeline.connector(config.feed("f1")).logins is shared
        alone = Pipeline(config, postgres_engine, httpx.Client())
        assert isinstance(alone.connector(config.feed("f1")).logins, Logins)
    finally:
        shared.dispose()
