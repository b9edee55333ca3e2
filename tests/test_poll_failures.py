"""Any failure of a poll, or of storing it, is the feed's: marked failing with its reason, backed
off, alerted after `feed_failures` polls, its traceback logged once; the other feeds carry on.
Text a database refuses (NUL, lone surrogates) is made storable for every connector."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from connectors.base import FeedCursor, MentionRecord, PollResult
from monitor.config import Config, parse_config
from monitor.ingest import decide
from monitor.ingest.pipeline import Pipeline
from monitor.store.db import session
from monitor.store.models import Alert, FeedState, Mention
from tests.support import fake_connector

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("fake_registered")


def make_config(*feeds: dict[str, Any]) -> Config:
    return parse_config(
        {
            "alerts": {"feed_failures": 2, "health_channel": "#ops"},
            "feeds": list(feeds)
            or [
                {"name": "f1", "type": "fake", "interval": 60},
                {"name": "f2", "type": "fake", "interval": 60},
            ],
        }
    )


def state_of(engine: Engine, feed: str) -> FeedState:
    with session(engine) as s:
        state = s.get(FeedState, feed)
        assert state is not None, f"no state row for {feed}"
        return state


def rows(engine: Engine, model: type) -> list[Any]:
    with session(engine) as s:
        return list(s.exec(select(model)))


def good(eid: str, cursor: str) -> PollResult:
    return PollResult(
        mentions=[MentionRecord("fake", eid, NOW, "A question about billing")],
        state=FeedCursor(cursor=cursor),
    )


def test_a_connector_bug_fails_its_feed_alone_with_a_reason_a_backoff_and_an_alert(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = Pipeline(make_config(), engine, httpx.Client())
    fake_connector.QUEUE["f1"].extend([ZeroDivisionError("division by zero"), RecursionError()])
    fake_connector.QUEUE["f2"].extend([good("a", "c1"), good("b", "c2")])
    with caplog.at_level(logging.INFO, logger="monitor"):
        first = pipeline.poll_due("f1", now=NOW)
        assert first is not None and not first.ok
        assert pipeline.poll_due("f2", now=NOW) is not None
        state = state_of(engine, "f1")
        assert state.consecutive_failures == 1
        assert state.last_error == (
            "PollFailed: the fake connector failed unexpectedly: "
            "ZeroDivisionError: division by zero"
        )
        # backs off: the feed's interval first, doubling after
        assert state.next_poll_after == NOW + timedelta(seconds=60)
        assert pipeline.poll_due("f1", now=NOW + timedelta(seconds=30)) is None
        later = NOW + timedelta(seconds=61)
        assert pipeline.poll_due("f1", now=later) is not None
        assert pipeline.poll_due("f2", now=later) is not None
    state = state_of(engine, "f1")
    assert state.consecutive_failures == 2
    assert state.next_poll_after == later + timedelta(seconds=120)
    assert "RecursionError" in (state.last_error or "")
    # the healthy feed kept going
    assert state_of(engine, "f2").cursor == "c2" and len(rows(engine, Mention)) == 2
    # the feed-health alert after `feed_failures` polls, as for any failure
    kinds = [a.kind for a in rows(engine, Alert) if a.feed == "f1"]
    assert kinds == ["feed_health"]
    # the traceback is logged once, when the feed starts failing
    traces = [r for r in caplog.records if r.exc_info and r.getMessage().startswith("feed f1")]
    assert len(traces) == 1 and traces[0].exc_info is not None
    error = traces[0].exc_info[1]
    assert error is not None and isinstance(error.__cause__, ZeroDivisionError)


def test_a_value_the_database_refuses_rolls_the_poll_back_and_fails_the_feed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cleaning (as a future field might be): the store fails, nothing of the poll
    is written, the cursor stays where the last stored poll left it, the feed says why."""
    pipeline = Pipeline(make_config(), engine, httpx.Client())
    fake_connector.QUEUE["f1"].append(good("1", "c1"))
    assert pipeline.poll("f1", now=NOW).ok

    refused = "\x00" if engine.dialect.name == "postgresql" else "\ud800"
    made = decide.mention_row

    def unclean(*args: Any) -> dict[str, Any]:
        row = made(*args)
        row["text"] = f"bad {refused} text"
        return row

    monkeypatch.setattr(decide, "mention_row", unclean)
    fake_connector.QUEUE["f1"].append(good("2", "c2"))
    report = pipeline.poll("f1", now=NOW + timedelta(minutes=1))
    assert not report.ok
    state = state_of(engine, "f1")
    assert (state.cursor, state.consecutive_failures) == ("c1", 1)
    if engine.dialect.name == "postgresql":
        # the driver's words, not the statement with its parameters
        assert state.last_error == (
            "PollFailed: the database refused the poll's data: DataError: "
            "PostgreSQL text fields cannot contain NUL (0x00) bytes"
        )
    else:
        assert (state.last_error or "").startswith("PollFailed: storing the poll failed: ")
    assert [m.external_id for m in rows(engine, Mention)] == ["1"]

    monkeypatch.setattr(decide, "mention_row", made)
    fake_connector.QUEUE["f1"].append(good("2", "c2"))
    assert pipeline.poll("f1", now=NOW + timedelta(minutes=5)).ok
    state = state_of(engine, "f1")
    assert (state.cursor, state.consecutive_failures) == ("c2", 0)


def test_nul_and_lone_surrogates_from_a_jsonl_feed_are_stored(
    engine: Engine, tmp_path: Path
) -> None:
    lines = [
        {
            "id": "n\u00001",
            "created_at": "2026-11-23T08:00:00Z",
            "text": "The app crashed \u0000 again \ud83d and again",
            "title": "t\u0000itle",
            "author": "ann\udc80",
            "author_id": "a\u00001",
            "url": "https://example.com/\u0000x",
            "language": "e\u0000n",
            "thread_id": "t\u00001",
        },
        {
            "kind": "reply",
            "id": "r\u00001",
            "in_reply_to": "n\u00001",
            "created_at": "2026-11-23T08:30:00Z",
            "author": "Acme\u0000",
            "text": "Sorry \ud800",
        },
    ]
    path = tmp_path / "mentions.jsonl"
    # json.dumps writes them as \u escapes, as a hostile exporter would
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="ascii")
    config = make_config({"name": "file", "type": "jsonl", "path": str(path), "interval": 60})
    report = Pipeline(config, engine, httpx.Client()).poll("file", now=NOW)
    assert report.ok, report.error
    [mention] = rows(engine, Mention)
    assert mention.external_id == "n1"
    assert mention.text == "The app crashed  again \ufffd and again"
    assert (mention.title, mention.author, mention.author_id) == ("title", "ann\ufffd", "a1")
    assert (mention.url, mention.thread_id) == ("https://example.com/x", "t1")
    assert mention.first_response_by == "Acme", "the reply was stored and attached"
    assert state_of(engine, "file").consecutive_failures == 0


def test_a_connector_error_quoting_a_nul_is_stored_as_the_reason(engine: Engine) -> None:
    from connectors.errors import MalformedResponse

    pipeline = Pipeline(make_config(), engine, httpx.Client())
    fake_connector.QUEUE["f1"].append(MalformedResponse("the API said: bad\x00 \ud800input"))
    assert not pipeline.poll("f1", now=NOW).ok
    assert state_of(engine, "f1").last_error == ("MalformedResponse: the API said: bad \ufffdinput")


def test_a_feed_recovers_from_a_bug_on_its_next_good_poll(engine: Engine) -> None:
    pipeline = Pipeline(make_config(), engine, httpx.Client())
    fake_connector.QUEUE["f1"].extend([KeyError("id"), good("1", "c1")])
    assert not pipeline.poll("f1", now=NOW).ok
    assert "KeyError" in (state_of(engine, "f1").last_error or "")
    assert pipeline.poll("f1", now=NOW + timedelta(hours=1)).ok
    state = state_of(engine, "f1")
    assert (state.cursor, state.consecutive_failures, state.next_poll_after) == ("c1", 0, None)
