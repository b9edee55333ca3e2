"""The short tree of connector errors; the scheduler decides retries from the class alone.

ConnectorError                 anything a poll can fail with; the feed is marked unhealthy
├── TransientError             worth retrying on the next tick (network, timeouts, 5xx)
│   └── RateLimited            the platform asked us to wait; `retry_after` seconds
├── AuthError                  401/403: the operator must fix a token or a permission
├── MalformedResponse          the body is not what the platform documents
│   └── NotFoundError          404/410: what was asked is not there (deleted, or a wrong id)
└── ConnectorUnavailable       an optional dependency of this connector is not installed

A class's name is stored with its message ("AuthError: ...") and cut off where a person reads
it (monitor/alerting/feed_health.py): it ends in Error, Response, Limited or Unavailable.
"""

from __future__ import annotations

from connectors.redact import redact_urls
from connectors.text import storable


class ConnectorError(Exception):
    """A poll failed; the message is shown to the operator, so it says what to do."""

    def __init__(self, message: str = "") -> None:
        # shown, stored and sent to Slack: a URL in it keeps no query or user:password; it
        # may quote the platform (an API's error text), and stored on the feed it must store
        super().__init__(storable(redact_urls(message)))


class TransientError(ConnectorError):
    """A failure that a later poll may not see again."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The platform said to slow down; `retry_after` is how long, capped by the caller."""


class AuthError(ConnectorError):
    """Credentials are missing, wrong or lack a permission."""


class MalformedResponse(ConnectorError):
    """The platform answered with something we cannot parse."""


class NotFoundError(MalformedResponse):
    """404 or 410: a recheck skips the deleted item; a poll tells the operator to fix the url."""


class ConnectorUnavailable(ConnectorError):
    """The connector needs an optional package that is not installed."""
