"""The stream runner on a real store: batches stored with their cursor, reconnects, gaps filled.

The stream is tests/support/fake_stream.py (each connection plays a script); the platform
streams (Jetstream, Mastodon) have their own tests over local servers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from connectors import BrandReply, MentionRecord, PollResult, TransientError
from connectors.streams import StreamEvent, StreamGap
from monitor.config import Config, ConfigError, parse_config
from monitor.ingest import stream as stream_module
from monitor.ingest.pipeline import DELETED_BY_AUTHOR, Pipeline
from monitor.ingest.stream import StreamRunner
from monitor.store.db import session
from monitor.store.models import Alert, FeedState, Mention, StreamState
from tests.support import fake_connector, fake_stream
from tests.support.fake_stream import Script

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch, fake_registered: None) -> Iterator[None]:
    from connectors import registry

    monkeypatch.setitem(
        registry.REGISTRY, "fake_stream", "tests.support.fake_stream:FakeStreamConnector"
    )
    monkeypatch.setattr(stream_module, "BACKOFF_FIRST", 0.05)
    fake_stream.SCRIPTS.clear()
    fake_stream.CURSORS.clear()
    yield
    fake_stream.SCRIPTS.clear()


def make_config(**stream: Any) -> Config:
    return parse_config(
        {
            "brand": {"name": "Acme", "identities": [{"platform": "fake", "handle": "acme"}]},
            "alerts": {"on": ["all"]},
            "feeds": [
                {"name": "live", "type": "fake_stream", "fill_feed": "search", **stream},
                {"name": "search", "type": "fake", "enabled": False},
            ],
        }
    )


def mention(n: int, text_: str = "the app keeps crashing, awful") -> MentionRecord:
    return MentionRecord(
        platform="fake",
        external_id=f"m{n}",
        created_at=T0 + timedelta(seconds=n),
        text=text_,
        author=f"customer{n}",
    )


def event(n: int, found: MentionRecord | BrandReply | None = None, **kw: Any) -> StreamEvent:
    return StreamEvent(cursor=str(n), at=T0 + timedelta(seconds=n), found=found, **kw)


class Running:
    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine = engine
        self.pipeline = Pipeline(config, engine, httpx.Client())
        self.stop = threading.Event()
        self.alerted = threading.Event()
        self.runner = StreamRunner(
            self.pipeline,
            config.feed("live"),
            stop=self.stop,
            owner="test",
            on_alerts=self.alerted.set,
        )
        self.thread = threading.Thread(target=self.runner.run)
        self.thread.start()

    def until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    def finish(self) -> float:
        started = time.monotonic()
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        return time.monotonic() - started

    def mentions(self) -> dict[str, Mention]:
        with session(self.engine) as s:
            rows = list(s.exec(select(Mention)))
            s.expunge_all()
        return {m.external_id: m for m in rows}

    def feed_row(self) -> FeedState | None:
        with session(self.engine) as s:
            row = s.get(FeedState, "live")
            if row is not None:
                s.expunge(row)
            return row

    def state(self) -> StreamState | None:
        with session(self.engine) as s:
            row = s.get(StreamState, "live")
            if row is not None:
                s.expunge(row)
            return row


@pytest.fixture
def running(sqlite_engine: Engine) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(**stream: Any) -> Running:
        run = Running(sqlite_engine, make_config(**stream))
        started.append(run)
        return run

    yield start
    for run in started:
        run.stop.set()
        run.thread.join(10)


def test_matched_events_are_stored_and_alerted_with_their_cursor(
    running: Callable[..., Running],
) -> None:
    fake_stream.SCRIPTS.append(Script([event(1, mention(1)), event(2), event(3, mention(3))]))
    run = running()
    run.until(lambda: set(run.mentions()) == {"m1", "m3"})
    run.until(lambda: (row := run.feed_row()) is not None and row.cursor == "3")
    assert run.alerted.wait(5)
    with session(run.engine) as s:
        assert len(list(s.exec(select(Alert)))) == 2
    run.until(lambda: (st := run.state()) is not None and st.events_seen == 3)
    state = run.state()
    assert state is not None and state.state == "connected" and state.events_matched == 2
    assert state.cursor_at == T0 + timedelta(seconds=3)
    assert run.finish() < 2.0  # a silent connection still stops within the writer's tick
    final = run.state()
    assert final is not None and final.state == "stopped"


def test_a_lost_connection_reconnects_from_the_last_cursor_and_loses_nothing(
    running: Callable[..., Running],
) -> None:
    fake_stream.SCRIPTS.extend(
        [
            Script([event(1, mention(1)), event(2)], end=TransientError("connection reset")),
            Script([], end=TransientError("connection refused")),
            Script([event(3, mention(3))]),
        ]
    )
    run = running()
    run.until(lambda: set(run.mentions()) == {"m1", "m3"})
    assert fake_stream.CURSORS == [None, "2", "2"]
    run.until(lambda: (st := run.state()) is not None and st.state == "connected")
    row = run.feed_row()
    assert row is not None and row.consecutive_failures == 0 and row.cursor == "3"
    run.finish()


def test_failures_show_as_reconnecting_with_attempts_and_mark_the_feed_failing(
    running: Callable[..., Running],
) -> None:
    fake_stream.SCRIPTS.extend([Script([], end=TransientError("503 from the server"))] * 3)
    fake_stream.SCRIPTS.append(Script([0.5]))
    run = running()
    run.until(lambda: len(fake_stream.CURSORS) >= 3)
    run.until(lambda: (st := run.state()) is not None and st.attempts >= 3)
    state = run.state()
    assert state is not None and state.state == "reconnecting"
    assert state.last_error is not None and "503 from the server" in state.last_error
    row = run.feed_row()
    assert row is not None and row.consecutive_failures >= 3
    assert row.last_error is not None and "503" in row.last_error
    run.finish()


def test_a_gap_is_filled_once_by_the_fill_feed_and_shown(
    running: Callable[..., Running],
) -> None:
    fake_connector.QUEUE["search"].append(PollResult(mentions=[mention(7, "missed while away")]))
    fake_stream.SCRIPTS.extend(
        [Script([], end=StreamGap("the cursor is older than the server keeps")), Script([event(9)])]
    )
    run = running()
    run.until(lambda: "m7" in run.mentions())
    assert [name for name, _ in fake_connector.CALLS] == ["search"]
    assert fake_stream.CURSORS == [None, None]  # after the fill: from now
    run.until(lambda: (st := run.state()) is not None and st.gap is not None)
    state = run.state()
    assert state is not None and state.gap is not None
    assert "filled by search (1 new)" in state.gap and "older than the server keeps" in state.gap
    run.finish()


def test_the_brand_reply_on_the_stream_stops_the_clock_and_a_delete_closes(
    running: Callable[..., Running],
) -> None:
    reply = BrandReply(
        platform="fake",
        external_id="r1",
        in_reply_to="m1",
        created_at=T0 + timedelta(seconds=61),
        author="acme",
    )
    fake_stream.SCRIPTS.append(
        Script(
            [
                event(1, mention(1)),
                event(2, mention(2)),
                0.4,  # separate batches: the reply and the delete find their mentions stored
                event(61, reply),
                event(62, deleted="m2"),
            ]
        )
    )
    run = running()
    run.until(
        lambda: run.mentions().get("m1") is not None and run.mentions()["m1"].status == "answered"
    )
    assert run.mentions()["m1"].ttfr_seconds == 60
    run.until(lambda: run.mentions()["m2"].status == "dismissed")
    assert run.mentions()["m2"].resolved_by == DELETED_BY_AUTHOR
    run.finish()


def test_a_batch_the_store_refuses_is_kept_and_stored_later(
    running: Callable[..., Running], sqlite_engine: Engine
) -> None:
    fake_stream.SCRIPTS.append(Script([event(1, mention(1)), 0.5, event(2, mention(2))]))
    run = running()
    run.until(lambda: "m1" in run.mentions())
    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE mention RENAME TO mention_away"))
    time.sleep(1.0)  # m2 arrives and its store fails at least once
    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE mention_away RENAME TO mention"))
    run.until(lambda: set(run.mentions()) == {"m1", "m2"})
    row = run.feed_row()
    assert row is not None and row.cursor == "2"
    run.finish()


def test_a_stream_feed_must_fill_from_a_polled_feed_of_its_network() -> None:
    with pytest.raises(ConfigError) as missing:
        parse_config({"feeds": [{"name": "live", "type": "fake_stream", "fill_feed": "nowhere"}]})
    assert "feeds[0].fill_feed" in str(missing.value) and "nowhere" in str(missing.value)
    with pytest.raises(ConfigError) as other:
        parse_config(
            {
                "feeds": [
                    {"name": "hn", "type": "hn", "query": "acme"},
                    {"name": "live", "type": "fake_stream", "fill_feed": "hn"},
                ]
            }
        )
    assert "feeds[1].fill_feed" in str(other.value) and "polled fake feed" in str(other.value)


def test_status_shows_the_stream_its_pace_its_lag_and_a_gap(
    running: Callable[..., Running],
) -> None:
    from monitor.reports.status import status_report

    fake_stream.SCRIPTS.extend(
        [Script([], end=StreamGap("cursor too old")), Script([event(1, mention(1)), 5.0])]
    )
    run = running()
    run.until(
        lambda: (st := run.state()) is not None and st.events_seen == 1 and st.gap is not None
    )
    config = run.pipeline.config
    text_, code = status_report(config, run.engine, T0 + timedelta(seconds=11))
    line = next(x for x in text_.splitlines() if x.startswith("  live:"))
    assert "connected for" in line and "cursor 10s behind" in line
    assert "1 of 1 since start" in line
    assert "last gap:" in text_ and "filled by search" in text_
    live_row = next(x for x in text_.splitlines() if x.startswith("live "))
    assert live_row.split()[-1] == "-"  # NEXT POLL: a stream is never polled
    run.finish()
    # a reader that stopped writing its row (a dead process) is a problem for --problems
    later = datetime.now(UTC) + timedelta(minutes=5)
    with session(run.engine) as s:
        row = s.get(StreamState, "live")
        assert row is not None
        row.state = "connected"
        s.add(row)
        s.commit()
    text_, code = status_report(config, run.engine, later)
    assert "NO READER" in text_ and code == 1


def test_a_store_failing_for_long_holds_at_most_max_buffered_and_loses_nothing(
    running: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a database that answers slowly and then refuses, for as long as it likes: each failed
    # store must not let the reader take another MAX_BUFFERED on top of the batch in flight
    monkeypatch.setattr(stream_module, "MAX_BUFFERED", 20)
    monkeypatch.setattr(stream_module, "FLUSH_EVENTS", 5)
    real_store = Pipeline.store
    down = threading.Event()
    down.set()

    def store(self: Pipeline, *args: Any, **kw: Any) -> Any:
        if down.is_set():
            time.sleep(0.2)
            raise RuntimeError("the database is away")
        return real_store(self, *args, **kw)

    monkeypatch.setattr(Pipeline, "store", store)
    read: list[int] = []

    def events() -> Iterator[StreamEvent]:
        for n in range(1, 101):
            read.append(n)
            yield event(n, mention(n))

    fake_stream.SCRIPTS.append(Script(events()))  # type: ignore[arg-type]
    run = running()
    time.sleep(3.0)  # a few failed stores
    assert len(read) <= 20 + 1  # what the reader holds: the batch and the one in flight
    down.clear()
    run.until(lambda: len(run.mentions()) == 100, timeout=20)
    row = run.feed_row()
    assert row is not None and row.cursor == "100"
    run.finish()


def test_a_reader_that_filled_the_buffer_goes_on_once_the_writer_took_it(
    running: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a busy stream against a slow (not failing) database: the reader waits at MAX_BUFFERED
    # and must go on when the writer has taken the batch, not wait for good
    monkeypatch.setattr(stream_module, "MAX_BUFFERED", 20)
    real_store = Pipeline.store

    def slow_store(self: Pipeline, *args: Any, **kw: Any) -> Any:
        time.sleep(0.3)
        return real_store(self, *args, **kw)

    monkeypatch.setattr(Pipeline, "store", slow_store)
    fake_stream.SCRIPTS.append(Script([event(n, mention(n)) for n in range(1, 101)]))
    run = running()
    run.until(lambda: len(run.mentions()) == 100, timeout=20)
    row = run.feed_row()
    assert row is not None and row.cursor == "100"
    run.finish()


def test_a_fill_or_a_cursor_read_that_raises_does_not_end_the_reader(
    running: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the database blinks as the reader starts, and again as it fills a gap: `monitor run`
    # starts a reader once, so one that ends here is gone until a restart
    from sqlalchemy.exc import OperationalError

    blink = {"saved_cursor": 1, "poll": 1}
    for name in blink:
        real = getattr(Pipeline, name)

        def flaky(
            self: Pipeline, *args: Any, _name: str = name, _real: Any = real, **kw: Any
        ) -> Any:
            if blink[_name]:
                blink[_name] -= 1
                raise OperationalError("SELECT", {}, Exception("database is locked"))
            return _real(self, *args, **kw)

        monkeypatch.setattr(Pipeline, name, flaky)
    fake_connector.QUEUE["search"].append(PollResult(mentions=[mention(7, "missed while away")]))
    fake_stream.SCRIPTS.extend(
        [
            Script([], end=StreamGap("the cursor is older than the server keeps")),
            Script([], end=StreamGap("the cursor is older than the server keeps")),
            Script([event(9, mention(9))]),
        ]
    )
    run = running()
    run.until(lambda: {"m7", "m9"} <= set(run.mentions()))
    assert blink == {"saved_cursor": 0, "poll": 0}
    run.until(lambda: (st := run.state()) is not None and st.state == "connected")
    run.finish()


def test_a_quiet_stream_that_reconnected_shows_connected_and_the_feed_recovers(
    running: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a brand's notifications or a few DIDs: hours without an event are normal. A connection
    # that came back is connected, not "reconnecting for 3h" (a problem for --problems after
    # two minutes), and the feed marked failing by the lost connection is recovered
    from monitor.reports.status import stream_lines

    fake_stream.SCRIPTS.extend(
        [
            Script([event(1, mention(1))], end=TransientError("connection reset")),
            Script([]),  # connects, then nothing but heartbeats
        ]
    )
    monkeypatch.setattr(stream_module, "PROVEN_AFTER", 0.5)
    run = running()
    run.until(lambda: len(fake_stream.CURSORS) == 2)
    run.until(lambda: (st := run.state()) is not None and st.state == "connected", timeout=5)
    # the second connection has said it is up, and no event came: proven after a while
    run.until(lambda: (st := run.state()) is not None and st.attempts == 0, timeout=5)
    state = run.state()
    assert state is not None and state.attempts == 0 and state.events_seen == 1
    run.until(lambda: (row := run.feed_row()) is not None and row.consecutive_failures == 0)
    lines, trouble = stream_lines(
        run.pipeline.config, run.engine, datetime.now(UTC) + timedelta(seconds=1)
    )
    assert "live: connected for" in lines[1] and not trouble
    run.finish()


def test_a_post_and_its_edit_in_one_batch_are_stored_once(
    running: Callable[..., Running],
) -> None:
    # Jetstream's `update` and Mastodon's `status.update` come as the post again: in one
    # batch (a busy second, or a batch kept while the database was away) they are one mention
    fake_stream.SCRIPTS.append(
        Script(
            [
                event(1, mention(1)),
                event(2, mention(1, "the app keeps crashing, awful (edited)")),
                event(3, mention(3)),
            ]
        )
    )
    run = running()
    run.until(lambda: set(run.mentions()) == {"m1", "m3"})
    run.until(lambda: (row := run.feed_row()) is not None and row.cursor == "3")
    with session(run.engine) as s:
        assert len(list(s.exec(select(Alert)))) == 2
    run.finish()


def _reply(to: str, at: int) -> BrandReply:
    return BrandReply(
        platform="fake",
        external_id=f"r-{to}",
        in_reply_to=to,
        created_at=T0 + timedelta(seconds=at),
        author="acme",
    )


def test_a_brand_reply_in_the_batch_of_its_mention_or_before_it_stops_the_clock(
    running: Callable[..., Running],
) -> None:
    # same batch: the reply 30 s after the mention. Before it: a reply stored in an earlier
    # batch than its mention (streams are not strictly ordered; a fill poll lands later)
    fake_stream.SCRIPTS.append(
        Script(
            [
                event(1, mention(1)),
                event(31, _reply("m1", 31)),
                event(40, _reply("m2", 60)),
                0.5,
                event(41, mention(2)),
            ]
        )
    )
    run = running()
    run.until(lambda: set(run.mentions()) == {"m1", "m2"})
    run.until(lambda: all(m.status == "answered" for m in run.mentions().values()), timeout=5)
    got = run.mentions()
    assert got["m1"].ttfr_seconds == 30 and got["m2"].ttfr_seconds == 58
    run.finish()


def test_a_wake_up_call_that_raises_does_not_stop_the_storing(
    sqlite_engine: Engine,
) -> None:
    # worker mode wakes a delivery through the event loop (run_coroutine_threadsafe), which
    # raises once that loop is closing: the batches after it must still be stored
    calls: list[int] = []

    def on_alerts() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Event loop is closed")

    config = make_config()
    pipeline = Pipeline(config, sqlite_engine, httpx.Client())
    stop = threading.Event()
    runner = StreamRunner(pipeline, config.feed("live"), stop=stop, on_alerts=on_alerts)
    fake_stream.SCRIPTS.append(Script([event(1, mention(1)), 0.6, event(2, mention(2))]))
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        with session(sqlite_engine) as s:
            stored = {m.external_id for m in s.exec(select(Mention))}
        assert stored == {"m1", "m2"} and len(calls) == 2
    finally:
        stop.set()
        thread.join(10)


def test_a_store_that_keeps_failing_marks_the_feed_failing_and_shows_on_its_line(
    running: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a value the database refuses, a full disk: the stream reads on but stores nothing. A
    # failing poll's store marks its feed failing; a stream's must too, and its line must say
    # why its cursor falls behind, not just "connected"
    from monitor.reports.status import stream_lines

    real_store = Pipeline.store
    broken = threading.Event()
    broken.set()

    def store(self: Pipeline, *args: Any, **kw: Any) -> Any:
        if broken.is_set():
            raise RuntimeError("could not extend file: No space left on device")
        return real_store(self, *args, **kw)

    monkeypatch.setattr(Pipeline, "store", store)
    fake_stream.SCRIPTS.append(Script([event(1, mention(1))]))
    run = running()
    run.until(lambda: (row := run.feed_row()) is not None and row.consecutive_failures >= 1)
    row = run.feed_row()
    assert row is not None and row.last_error is not None and "No space left" in row.last_error
    run.until(lambda: (st := run.state()) is not None and st.last_error is not None)
    lines, trouble = stream_lines(run.pipeline.config, run.engine, datetime.now(UTC))
    assert "No space left" in lines[1] and trouble
    broken.clear()
    run.until(lambda: "m1" in run.mentions())
    run.until(lambda: (row := run.feed_row()) is not None and row.consecutive_failures == 0)
    run.until(lambda: (st := run.state()) is not None and st.last_error is None)
    lines, trouble = stream_lines(run.pipeline.config, run.engine, datetime.now(UTC))
    assert "connected for" in lines[1] and "No space" not in lines[1] and not trouble
    run.finish()


def test_a_server_that_accepts_then_hangs_up_at_once_backs_off_and_stays_failing(
    running: Callable[..., Running],
) -> None:
    # connected, then closed before any event, again and again: the backoff must grow and
    # the feed stay failing (its alert at the threshold), not recover on every connect
    fake_stream.SCRIPTS.extend(
        [Script([0.01], end=TransientError("closed by the proxy"))] * 4 + [Script([5.0])]
    )
    run = running()
    run.until(lambda: len(fake_stream.CURSORS) >= 4)
    run.until(lambda: (st := run.state()) is not None and st.attempts >= 3)
    row = run.feed_row()
    assert row is not None and row.consecutive_failures >= 3
    run.finish()


def test_a_delete_with_an_unstorable_id_does_not_fail_every_store_after_it(
    running: Callable[..., Running],
) -> None:
    # a Jetstream delete is built from the event's did and rkey as sent; JSON may carry a
    # lone surrogate ("\ud800") or a NUL in them. Records are made storable when made, the
    # deleted id was not: its close failed on every store after it, for good
    fake_stream.SCRIPTS.append(
        Script(
            [
                event(1, mention(1)),
                event(2, deleted="at://did:plc:x\x00/app.bsky.feed.post/\ud800"),
                0.5,
                event(3, mention(3)),
            ]
        )
    )
    run = running()
    run.until(lambda: {"m1", "m3"} <= set(run.mentions()))
    time.sleep(0.5)
    row = run.feed_row()
    assert row is not None
    assert row.consecutive_failures == 0, row.last_error
    state = run.state()
    assert state is not None and state.last_error is None
    run.finish()


def test_one_record_the_database_refuses_does_not_hold_back_the_others(
    running: Callable[..., Running],
) -> None:
    # a field of another type than the platform documents, passed on by a connector (a
    # Mastodon `language` that is an object): the batch it is in failed to store on every
    # try, and every later batch was added to it, so the stream stored nothing more
    odd = mention(2)
    odd.language = {"en": 1}  # type: ignore[assignment]
    fake_stream.SCRIPTS.append(
        Script(
            [event(1, mention(1)), event(2, odd), event(3, mention(3)), 0.3, event(4, mention(4))]
        )
    )
    run = running()
    run.until(lambda: {"m1", "m3", "m4"} <= set(run.mentions()), timeout=10)
    row = run.feed_row()
    assert row is not None and row.cursor == "4"
    run.finish()


def test_thousands_of_matches_a_second_are_all_stored_once_with_the_last_cursor(
    running: Callable[..., Running],
) -> None:
    # a storm: 3,000 matching events as fast as the reader takes them, far more than one
    # 200 ms batch. All stored once, one alert each, the cursor at the last
    total = 3000
    fake_stream.SCRIPTS.append(Script([event(n, mention(n)) for n in range(1, total + 1)]))
    run = running()
    run.until(lambda: len(run.mentions()) == total, timeout=60)
    run.until(lambda: (row := run.feed_row()) is not None and row.cursor == str(total))
    with session(run.engine) as s:
        assert len(list(s.exec(select(Alert)))) == total
    run.until(lambda: (st := run.state()) is not None and st.events_matched == total)
    run.finish()


def test_a_store_that_fails_after_its_commit_is_retried_without_a_second_alert(
    running: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the connection drops as the COMMIT's answer comes back: the batch is stored, the
    # runner thinks not and stores it again. One alert each, and the later delete applies
    real_store = Pipeline.store
    failures = {"left": 2}

    def store(self: Pipeline, *args: Any, **kw: Any) -> Any:
        report = real_store(self, *args, **kw)
        if failures["left"] and report.new_mentions:
            failures["left"] -= 1
            raise RuntimeError("server closed the connection unexpectedly")
        return report

    monkeypatch.setattr(Pipeline, "store", store)
    fake_stream.SCRIPTS.append(
        Script([event(1, mention(1)), event(2, mention(2)), 0.5, event(3, deleted="m2")])
    )
    run = running()
    run.until(lambda: (row := run.feed_row()) is not None and row.cursor == "3", timeout=10)
    run.until(lambda: run.mentions()["m2"].status == "dismissed")
    assert set(run.mentions()) == {"m1", "m2"}
    with session(run.engine) as s:
        assert len(list(s.exec(select(Alert)))) == 2
    run.finish()


def test_the_cursor_is_not_stored_past_a_delete_not_yet_applied(
    running: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the batch's mentions and cursor were committed first and its deletions closed in a
    # second transaction: a crash between them, or a close that fails, left the cursor past
    # a delete never applied. Mastodon cannot replay it: the post stayed open (SLA alerts)
    def close_deleted(self: Pipeline, *args: Any, **kw: Any) -> int:
        raise RuntimeError("the database went away")

    fake_stream.SCRIPTS.append(
        Script(
            [
                event(1, mention(1)),
                event(2, mention(2)),
                0.6,
                event(3, mention(3)),
                event(4, deleted="m2"),
            ]
        )
    )
    run = running()
    run.until(lambda: (row := run.feed_row()) is not None and row.cursor == "2")
    monkeypatch.setattr(Pipeline, "close_deleted", close_deleted)
    time.sleep(1.5)  # event 3 and the delete are read; closing fails, again and again
    row = run.feed_row()
    assert row is not None and row.cursor == "2"
    monkeypatch.undo()
    run.until(lambda: run.mentions()["m2"].status == "dismissed")
    run.until(lambda: (row := run.feed_row()) is not None and row.cursor == "4")
    assert "m3" in run.mentions()
    run.finish()


def test_a_post_deleted_in_the_batch_that_brought_it_is_not_alerted(
    running: Callable[..., Running],
) -> None:
    # a post and its delete within one batch (a bot's post-and-delete): nothing to answer
    fake_stream.SCRIPTS.append(
        Script([event(1, mention(1)), event(2, mention(2)), event(3, deleted="m2")])
    )
    run = running()
    run.until(lambda: (row := run.feed_row()) is not None and row.cursor == "3")
    assert set(run.mentions()) == {"m1"}
    with session(run.engine) as s:
        assert len(list(s.exec(select(Alert)))) == 1
    run.finish()


def test_a_gap_stays_filled_while_the_connection_after_the_fill_keeps_failing(
    running: Callable[..., Running],
) -> None:
    # the fill ran as the reconnect began (Mastodon: on every reconnect), then the server
    # refused the connection for a while: what was posted meanwhile is a gap too. The
    # stream went on from "now" once connected, and those posts were never filled
    fake_connector.QUEUE["search"].extend(
        [
            PollResult(mentions=[mention(7, "posted while the stream was away")]),
            PollResult(mentions=[mention(8, "posted while the server refused")]),
        ]
    )
    fake_stream.SCRIPTS.extend(
        [
            Script([event(1, mention(1))], end=TransientError("connection reset")),
            Script([], end=StreamGap("the server cannot resume")),
            Script([], end=TransientError("connection refused")),
            Script([], end=TransientError("connection refused")),
            Script([event(9, mention(9))]),
        ]
    )
    run = running()
    run.until(lambda: "m9" in run.mentions())
    assert {"m1", "m7", "m8", "m9"} <= set(run.mentions())
    run.finish()
