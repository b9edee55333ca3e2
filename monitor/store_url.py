"""Database URLs (which backends, shown without their password) and the store's one-line error."""

from __future__ import annotations

import re
from urllib.parse import unquote

SUPPORTED = "sqlite:///monitor.db or postgresql://user@host/db"
POSTGRES_DRIVER_HINT = (
    "PostgreSQL needs the driver psycopg: pip install -e '.[postgres]' "
    "(the postgres extra; or pip install 'psycopg[binary]')"
)


class StoreError(Exception):
    """The database cannot be opened; the message is one line: what is wrong, what to do.

    It never carries the URL's password."""


_QUERY_PASSWORD = re.compile(r"(?<=[?&]password=)[^&#]*", re.IGNORECASE)
# scheme[+driver]://rest; SQLAlchemy's own parser would import the dialect (and its driver)
_URL = re.compile(r"^(?P<backend>[A-Za-z][A-Za-z0-9]*)(?:\+(?P<driver>[A-Za-z0-9_]+))?://")


def backend(url: str) -> str | None:
    """`sqlite`, `postgresql` (also for `postgres://`), another scheme, or None if not a URL."""
    match = _URL.match(url)
    if match is None:
        return None
    name = match["backend"].lower()
    return "postgresql" if name == "postgres" else name


def url_problem(url: str) -> str | None:
    """Why this URL cannot be a monitor's store, or None; never repeats the URL's password."""
    if any(ord(char) < 32 or ord(char) == 127 for char in url):
        return "contains a control character (a NUL byte or a line break); write the URL alone"
    name = backend(url)
    if name is None:
        return f"not a database URL; use {SUPPORTED}"
    if name not in ("sqlite", "postgresql"):
        return f"{name} is not supported: the monitor runs on SQLite or PostgreSQL ({SUPPORTED})"
    return None


def passwords(url: str) -> list[str]:
    """Every password the URL carries: `user:password@host`, and a `password=` query parameter
    (libpq reads one there too); as written and URL-decoded, longest first."""
    found: list[str] = []
    if "://" in url:
        netloc = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
        creds = netloc.rsplit("@", 1)[0] if "@" in netloc else ""
        if ":" in creds:
            found.append(creds.split(":", 1)[1])
    found += _QUERY_PASSWORD.findall(url)
    forms = {form for secret in found for form in (secret, unquote(secret)) if form}
    return sorted(forms, key=len, reverse=True)


def redact(url: str) -> str:
    """The URL with its passwords replaced by *** (user, host and database stay readable)."""
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        if ":" in creds:
            netloc = f"{creds.split(':', 1)[0]}:***@{host}"
    return _QUERY_PASSWORD.sub("***", f"{scheme}://{netloc}{slash}{path}")


def scrub(text: str, url: str) -> str:
    """`text` (a driver's error message, say) with the URL's passwords masked wherever they show."""
    for secret in passwords(url):
        text = text.replace(secret, "***")
    return text
