"""PostgreSQL's array read of the response times gives what the row-per-mention read gives."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from monitor.reports.query import Dimension, Runs, _ordered_runs, _pg_runs
from monitor.store.db import reader
from tests.reports.dataset import NOW, SINCE, UNTIL, WEEK2, load, mention

Collected = dict[tuple[Any, ...], tuple[list[float], list[float]]]


def collect(
    engine: Engine, runs: Runs, others: Sequence[Dimension], since: datetime, until: datetime
) -> Collected:
    """The runs merged per key and sorted: how _durations uses them."""
    found: Collected = {}
    with reader(engine).connect() as conn:
        for keys, calendar, business in runs(conn, others, since, until):
            lists = found.setdefault(keys, ([], []))
            lists[0].extend(calendar)
            lists[1].extend(business)
    for calendar, business in found.values():
        calendar.sort()
        business.sort()
    return found


@pytest.mark.parametrize(
    "others",
    [[], ["platform"], ["language"], ["platform", "feed", "sentiment", "language"]],
)
def test_array_read_gives_the_response_times_of_the_row_read(
    postgres_engine: Engine, others: list[Dimension]
) -> None:
    load(postgres_engine)
    # answers without a business time, and without any time: NULLs inside the arrays
    load(
        postgres_engine,
        [
            mention("github", WEEK2, ttfr_seconds=600.0, language="und"),
            mention("github", WEEK2, status="answered", language=None),
        ],
    )
    ordered = _ordered_runs(postgres_engine, others)
    for since, until in ((SINCE, UNTIL), (WEEK2, WEEK2 + timedelta(days=1))):
        by_arrays = collect(postgres_engine, _pg_runs, others, since, until)
        by_rows = collect(postgres_engine, ordered, others, since, until)
        assert by_arrays == by_rows
        assert sum(len(calendar) for calendar, _ in by_arrays.values()) > 0


@pytest.mark.parametrize("others", [[], ["platform"]])
def test_array_read_of_a_window_without_answers_gives_no_times(
    postgres_engine: Engine, others: list[Dimension]
) -> None:
    load(postgres_engine)
    # without GROUP BY, PostgreSQL answers one row of NULL arrays: no times, as the row read
    day = (NOW, NOW + timedelta(days=1))
    found = collect(postgres_engine, _pg_runs, others, *day)
    assert found == collect(postgres_engine, _ordered_runs(postgres_engine, others), others, *day)
    assert found == ({} if others else {(): ([], [])})
