"""Access tokens kept per account, so feeds that log in as the same account log in once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Protocol

Login = Callable[[], tuple[str, datetime]]  # logs in: the token and when to stop using it


class TokenStore(Protocol):
    """Where connectors get their access tokens: `Logins` in one process; the monitor's
    workers share theirs through the database (monitor/leadership/shared_logins.py)."""

    def token(self, key: Hashable, now: datetime, login: Login) -> str:
        """The account's token while it is valid at `now`; else `login()` once for all."""
        ...  # pragma: no cover

    def forget(self, key: Hashable, token: str) -> None:
        """The platform refused `token`: drop it, unless it was renewed meanwhile."""
        ...  # pragma: no cover


class Logins:
    """Tokens by account key (say ("bluesky", base URL, handle)), valid until their expiry.

    The pipeline gives one instance to every connector it builds: ten Bluesky searches on one
    handle then cost one createSession, not ten (Bluesky allows 30 per 5 minutes and 300 a
    day per handle). A connector built alone gets its own. Keys name accounts, never secrets.
    """

    def __init__(self) -> None:
        self._tokens: dict[Hashable, tuple[str, datetime]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def token(self, key: Hashable, now: datetime, login: Login) -> str:
        """The account's token while `now` is before its expiry; else `login()`, once: feeds
        of the same account that ask meanwhile wait for that login instead of making theirs."""
        with self._lock:  # (setdefault would build a lock on every call, found or not)
            account_lock = self._locks.get(key)
            if account_lock is None:
                account_lock = self._locks[key] = threading.Lock()
        with account_lock:
            held = self._tokens.get(key)
            if held is not None and now < held[1]:
                return held[0]
            token, expires = login()
            self._tokens[key] = (token, expires)
            return token

    def forget(self, key: Hashable, token: str) -> None:
        """The platform refused `token`: the next `token()` logs in again. A token another
        feed has already renewed is kept."""
        with self._lock:
            held = self._tokens.get(key)
            if held is not None and held[0] == token:
                del self._tokens[key]
