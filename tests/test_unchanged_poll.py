"""A poll's Core writes of the feed state (one UPDATE after a 304; one SELECT and one UPDATE or
INSERT after a page) leave it exactly as the full path would (the whole row read and written)."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select, update

from alerts.console import ConsoleSink
from connectors.base import FeedCursor, MentionRecord, PollResult
from connectors.errors import TransientError
from monitor.alerting import feed_health as health
from monitor.alerting.outbox import Dispatcher
from monitor.config import Config, parse_config
from monitor.ingest import feed_state
from monitor.ingest.pipeline import Pipeline
from monitor.scheduler import Service
from monitor.store.db import open_store, session
from monitor.store.models import Alert, FeedState, Mention
from tests.support import fake_connector

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ETAG = FeedCursor(cursor="2026-11-23T08:00:00+00:00", etag='"v1"', last_modified="Mon, 23 Nov")


# the fake connector registered, its queue empty (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fake_registered")


def make_config() -> Config:
    return parse_config(
        {
            "alerts": {"feed_failures": 2, "health_channel": "#ops"},
            "feeds": [
                {"name": "f1", "type": "fake", "interval": 60, "expect_activity_within": 120}
            ],
        }
    )


def not_modified(state: FeedCursor = ETAG, **kw: object) -> PollResult:
    return PollResult(state=state, not_modified=True, **kw)  # type: ignore[arg-type]


def page(external_id: str = "m1") -> PollResult:
    return PollResult(mentions=[MentionRecord("fake", external_id, T0, "A question")], state=ETAG)


QUIET = "quiet"  # in a history: the sweeper's silence check runs at that minute


def state_row(engine: Engine) -> dict[str, object]:
    with session(engine) as s:
        [row] = s.exec(select(FeedState)).all()
        return row.model_dump()


def health_kinds(engine: Engine) -> list[str]:
    with session(engine) as s:
        rows = s.exec(
            select(Alert.kind)
            .where(col(Alert.kind).in_(("feed_health", "feed_recovered")))
            .order_by(col(Alert.id))
        )
        return list(rows)


Step = PollResult | Exception | str


def history(engine: Engine, results: list[Step]) -> dict[str, object]:
    """Poll f1 once per result, a minute apart (or run the silence check, for QUIET); the
    state row afterwards."""
    config = make_config()
    pipeline = Pipeline(config, engine, httpx.Client())
    for minute, result in enumerate(results):
        now = T0 + timedelta(minutes=minute)
        if result == QUIET:
            with session(engine) as s:
                assert health.check_silence(s, config, pipeline.router, now)
                s.commit()
            continue
        fake_connector.QUEUE["f1"].append(result)  # type: ignore[arg-type]
        report = pipeline.poll("f1", now=now)
        assert report.ok == (not isinstance(result, Exception))
    return state_row(engine)


def full_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Pipeline, "_store_nothing", lambda *args: False)
    monkeypatch.setattr(feed_state, "record_success", feed_state.record_recovery)


@pytest.mark.parametrize(
    "results",
    [
        [page(), not_modified()],
        [page(), not_modified(), not_modified(FeedCursor("c2", '"v2"', None))],
        [page(), TransientError("503"), not_modified()],
        [page(), TransientError("503"), TransientError("503"), not_modified()],
        [not_modified()],  # no state row yet
        [page()],
        [page(), page("m2")],
        [page(), page()],
        [page(), TransientError("503"), TransientError("503"), page()],
        [page(), TransientError("503"), TransientError("503"), page("m2")],
        [page(), not_modified(), not_modified(), not_modified(), QUIET, page("m2")],
        [page(), not_modified(), not_modified(), not_modified(), QUIET, not_modified()],
    ],
    ids=[
        "healthy",
        "new-etag",
        "after-a-failure",
        "after-an-alerted-failure",
        "first-poll",
        "first-page",
        "new-items",
        "known-items",
        "known-items-after-an-alerted-failure",
        "new-items-after-an-alerted-failure",
        "new-items-after-quiet",
        "still-quiet",
    ],
)
def test_a_poll_saves_the_same_state_as_the_full_path(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, results: list[Step]
) -> None:
    fast = history(engine, results)
    fast_health = health_kinds(engine)
    with session(engine) as s:
        for table in (Alert, Mention, FeedState):
            for row in s.exec(select(table)):
                s.delete(row)
            s.flush()
        s.commit()
    full_path_only(monkeypatch)
    assert history(engine, results) == fast
    assert health_kinds(engine) == fast_health


def test_a_304_on_a_healthy_feed_moves_the_poll_times_and_keeps_the_rest(engine: Engine) -> None:
    before = history(engine, [page()])
    fake_connector.QUEUE["f1"].append(not_modified())
    later = T0 + timedelta(minutes=5)
    report = Pipeline(make_config(), engine, httpx.Client()).poll("f1", now=later)
    assert report.ok and report.not_modified and report.new_mentions == []
    after = state_row(engine)
    assert (after["last_poll_at"], after["last_success_at"]) == (later, later)
    assert (after["etag"], after["cursor"], after["last_modified"]) == (
        ETAG.etag,
        ETAG.cursor,
        ETAG.last_modified,
    )
    moved = {"last_poll_at", "last_success_at"}
    assert {k: v for k, v in after.items() if k not in moved} == {
        k: v for k, v in before.items() if k not in moved
    }


def test_a_304_after_an_alerted_failure_resets_it_and_says_recovered(engine: Engine) -> None:
    state = history(engine, [page(), TransientError("503"), TransientError("503"), not_modified()])
    assert state["consecutive_failures"] == 0 and state["next_poll_after"] is None
    assert state["failing_since"] is None and state["last_error"] == "TransientError: 503"
    assert health_kinds(engine) == ["feed_health", "feed_recovered"]


def test_a_304_keeps_the_connectors_warnings(engine: Engine) -> None:
    history(engine, [page()])
    fake_connector.QUEUE["f1"].append(not_modified(warnings=["feed moved"]))
    report = Pipeline(make_config(), engine, httpx.Client()).poll("f1", now=T0)
    assert report.warnings == ["feed moved"]


def test_a_dry_run_304_writes_nothing(engine: Engine) -> None:
    before = history(engine, [page()])
    fake_connector.QUEUE["f1"].append(not_modified(FeedCursor("c9", '"v9"', None)))
    pipeline = Pipeline(make_config(), engine, httpx.Client())
    report = pipeline.poll("f1", now=T0 + timedelta(hours=1), dry_run=True)
    assert report.ok and report.not_modified
    assert state_row(engine) == before


def test_a_304_on_a_state_row_without_last_item_at_starts_the_silence_clock(
    engine: Engine,
) -> None:
    with session(engine) as s:
        s.add(FeedState(feed="f1", etag='"v1"'))  # a row as an older version left it
        s.commit()
    state = history(engine, [not_modified()])
    assert state["last_item_at"] == T0 and state["last_success_at"] == T0


def test_poll_due_skips_a_backing_off_feed_without_fetching(engine: Engine) -> None:
    history(engine, [page(), TransientError("503")])  # backs off 60 s from T0 + 1 min
    pipeline = Pipeline(make_config(), engine, httpx.Client())
    calls = len(fake_connector.CALLS)
    assert pipeline.poll_due("f1", now=T0 + timedelta(minutes=1, seconds=30)) is None
    assert len(fake_connector.CALLS) == calls
    fake_connector.QUEUE["f1"].append(not_modified())
    report = pipeline.poll_due("f1", now=T0 + timedelta(minutes=2))
    assert report is not None and report.ok and report.not_modified
    assert fake_connector.CALLS[-1][1] == ETAG, "the saved cursor is handed to the connector"
    assert state_row(engine)["consecutive_failures"] == 0


def test_the_scheduled_poll_skips_a_backing_off_feed_then_polls_it(engine: Engine) -> None:
    history(engine, [page(), TransientError("503")])
    config = make_config()
    service = Service(
        config,
        Pipeline(config, engine, httpx.Client()),
        Dispatcher(engine, ConsoleSink(stream=io.StringIO()), pace=0),
    )
    calls = len(fake_connector.CALLS)
    assert service.poll_feed("f1", now=T0 + timedelta(minutes=1, seconds=59)) is None
    assert len(fake_connector.CALLS) == calls
    fake_connector.QUEUE["f1"].append(not_modified())
    report = service.poll_feed("f1", now=T0 + timedelta(minutes=2))
    assert report is not None and report.not_modified
    assert len(fake_connector.CALLS) == calls + 1


def test_a_poll_reads_its_state_while_another_poll_writes(tmp_path: Path) -> None:
    # a poll's first step, reading its cursor and backoff, used to wait for this process's
    # write turn: behind other polls' write transactions, before it could send its request
    engine = open_store(f"sqlite:///{tmp_path / 'monitor.db'}")
    history(engine, [page(), TransientError("503")])  # backs off 60 s from T0 + 1 min
    pipeline = Pipeline(make_config(), engine, httpx.Client())
    outcome: list[object] = []
    with pipeline.db_turn(), engine.begin() as writing:  # another poll's write transaction
        writing.execute(update(FeedState).values(items_seen=FeedState.items_seen + 1))
        reading = threading.Thread(
            target=lambda: outcome.append(pipeline.poll_due("f1", now=T0 + timedelta(minutes=1)))
        )
        reading.start()
        reading.join(timeout=10)
        assert not reading.is_alive(), "the read waited for the writer"
    assert outcome == [None]  # it read the backoff, and fetched nothing
    engine.dispose()
