"""Database URLs are shown without their passwords, wherever the password is written."""

from __future__ import annotations

import pytest

from monitor.store_url import backend, redact, scrub, url_problem


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db/monitor", "postgresql://app:***@db/monitor"),
        ("postgresql://app@db/monitor?password=s3cret", "postgresql://app@db/monitor?password=***"),
        (
            "postgresql://app:s3cret@db:5432/m?sslmode=require&PASSWORD=s3cret",
            "postgresql://app:***@db:5432/m?sslmode=require&PASSWORD=***",
        ),
        ("postgresql://app:p%40ss@db/monitor", "postgresql://app:***@db/monitor"),
        ("postgresql://app@db/monitor", "postgresql://app@db/monitor"),
        ("sqlite:////var/lib/monitor/monitor.db", "sqlite:////var/lib/monitor/monitor.db"),
    ],
)
def test_redact_hides_every_password(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_scrub_masks_the_password_in_a_driver_message_as_written_and_decoded() -> None:
    url = "postgresql://app:p%40ss@db/monitor"
    assert scrub("auth failed for p@ss and p%40ss", url) == "auth failed for *** and ***"


@pytest.mark.parametrize(
    ("url", "name", "problem"),
    [
        ("sqlite:///monitor.db", "sqlite", None),
        ("postgres://app@db/m", "postgresql", None),
        ("postgresql+psycopg://app@db/m", "postgresql", None),
        ("mysql+pymysql://app@db/m", "mysql", "mysql is not supported"),
        ("/var/lib/monitor.db", None, "not a database URL"),
        ("sqlite:///a\x00b.db", "sqlite", "contains a control character"),
        ("postgresql://app@db/m\nmore", "postgresql", "contains a control character"),
    ],
)
def test_only_sqlite_and_postgresql_are_stores(
    url: str, name: str | None, problem: str | None
) -> None:
    assert backend(url) == name
    found = url_problem(url)
    assert (found is None) if problem is None else (found or "").startswith(problem)
