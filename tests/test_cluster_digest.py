"""The weekly digest in worker mode: queued by the minute's SLA sweep job, also when the
cluster missed the digest's own minute (all workers restarting, a tick dropped)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from monitor.cluster.runtime import digest_due
from monitor.reports import digest
from tests.reports.test_digest import make_config

# Monday 23 November 2026, 09:00 in Amsterdam is 08:00 UTC
FIRE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_the_sweep_of_the_digest_minute_queues_it_and_the_minute_before_does_not() -> None:
    config = make_config()
    assert digest_due(config, FIRE + timedelta(seconds=30))
    assert not digest_due(config, FIRE - timedelta(seconds=1))


@pytest.mark.parametrize("late", [timedelta(minutes=2), timedelta(minutes=20)])
def test_a_sweep_after_a_missed_digest_minute_still_queues_the_digest(late: timedelta) -> None:
    """procrastinate defers a periodic tick only within `max_delay` (30 s) of it, and drops a
    tick whose job would meet the previous one still queued: a deploy that restarts every
    worker around Monday 09:00 lost the week's digest. The single process sends it up to an
    hour late (APScheduler's misfire grace); the week's key keeps it to one."""
    assert digest_due(make_config(), FIRE + late)


def test_a_digest_queued_already_is_not_drawn_again(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweeps of the hour after the digest's minute each ask for it: once queued, the
    week's numbers are not read again."""
    config = make_config()
    assert digest.queue_digest(config, sqlite_engine, FIRE) is not None

    def drawn(*args: object) -> tuple[str, str]:
        raise AssertionError("the digest was drawn again")

    monkeypatch.setattr(digest, "digest_body", drawn)
    assert digest.queue_digest(config, sqlite_engine, FIRE + timedelta(minutes=1)) is None
