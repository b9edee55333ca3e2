"""Logins: one login per account while its token is valid, however many feeds ask at once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from connectors.logins import Logins

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_callers_that_ask_during_a_login_wait_for_it_instead_of_logging_in() -> None:
    logins = Logins()
    calls: list[str] = []

    def login() -> tuple[str, datetime]:
        calls.append("login")
        time.sleep(0.05)  # the platform answers slowly: the others ask meanwhile
        return f"token-{len(calls)}", NOW + timedelta(minutes=30)

    got: list[str] = []
    threads = [
        threading.Thread(target=lambda: got.append(logins.token("acme", NOW, login)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["login"]
    assert got == ["token-1"] * 8


def test_a_token_is_renewed_at_its_expiry_and_accounts_are_apart() -> None:
    logins = Logins()
    issued = iter(["a1", "a2", "b1"])

    def login() -> tuple[str, datetime]:
        return next(issued), NOW + timedelta(minutes=30)

    assert logins.token("a", NOW, login) == "a1"
    assert logins.token("a", NOW + timedelta(minutes=29), login) == "a1"
    assert logins.token("a", NOW + timedelta(minutes=30), login) == "a2"
    assert logins.token("b", NOW, login) == "b1"


def test_forget_drops_the_refused_token_but_not_one_already_renewed() -> None:
    logins = Logins()
    issued = iter(["t1", "t2", "t3"])

    def login() -> tuple[str, datetime]:
        return next(issued), NOW + timedelta(hours=1)

    assert logins.token("acme", NOW, login) == "t1"
    logins.forget("acme", "t1")  # the platform refused t1
    assert logins.token("acme", NOW, login) == "t2"
    logins.forget("acme", "t1")  # a second feed reports the same old token: t2 stays
    assert logins.token("acme", NOW, login) == "t2"
