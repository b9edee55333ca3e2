"""mastodon_stream through a real socket: a local SSE server replays recorded Mastodon streams."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors import (
    AuthError,
    BrandIdentity,
    BrandReply,
    FeedCursor,
    MentionRecord,
    NotFoundError,
    RateLimited,
    TransientError,
)
from connectors.http import make_client
from connectors.sources.mastodon import MastodonConnector, MastodonOptions
from connectors.sources.mastodon_stream import (
    MAX_EVENT_BYTES,
    MastodonStreamConnector,
    MastodonStreamOptions,
    fold,
    keyword_pattern,
)
from connectors.streams import StreamEvent, StreamGap
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply
from tests.support.sse_server import GARBAGE, Plan, SSEServer, events_only, recorded, sse_server

TOKEN = "test-token-not-secret-4f2a"
NOW = datetime(2026, 8, 2, 12, 0, tzinfo=UTC)
# the recorded user stream is mastodonpy_test's (the brand here); its events, in order:
# update 117024236332527350 (the brand's own public post "only real cars respond.")
# notification 14: admin mentions the brand (status 117024236408130890)
# update 117024236559579118 (the brand's DM to mastodonpy_test_2)
# notification 16: mastodonpy_test_2 replies to that DM (status 117024236635443611)
# status.update 117024236332527350 (edited: "only real animals respond."), delete of it
BRAND = BrandIdentity("mastodon", handle="mastodonpy_test")
MENTION_14 = "117024236408130890"
REPLY_16 = "117024236635443611"
BRAND_DM = "117024236559579118"
DELETED = "117024236332527350"


@pytest.fixture
def sse() -> Iterator[SSEServer]:
    with sse_server() as started:
        yield started


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTODON_STREAM_TOKEN", TOKEN)


def connector(
    sse: SSEServer,
    identities: tuple[BrandIdentity, ...] = (BRAND,),
    cls: type[MastodonStreamConnector] = MastodonStreamConnector,
    **options: Any,
) -> MastodonStreamConnector:
    options.setdefault("token_env", "MASTODON_STREAM_TOKEN")
    return cls(
        MastodonStreamOptions.model_validate(options),
        feed_name="acme-mastodon-live",
        identities=identities,
        base_url=sse.url,
    )


def read(
    source: MastodonStreamConnector, cursor: str | None = None
) -> tuple[list[StreamEvent], BaseException | None]:
    """Every event until the stream ends, and how it ended."""
    events: list[StreamEvent] = []
    try:
        for event in source.stream(cursor, threading.Event()):
            if event.alive:  # the connection is up: not an event
                continue
            events.append(event)
    except Exception as exc:
        return events, exc
    return events, None


def found(events: list[StreamEvent]) -> list[MentionRecord | BrandReply]:
    return [e.found for e in events if e.found is not None]


def recorded_payloads(kind: str) -> list[dict[str, Any]]:
    """The JSON payloads of the recorded user stream's events of one kind."""
    out = []
    for part in events_only(recorded()):
        name, data = part.split(b"\n", 1)
        if name == f"event: {kind}".encode():
            out.append(json.loads(data.removeprefix(b"data: ")))
    return out


def test_user_stream_mentions_delete_and_cursor(sse: SSEServer) -> None:
    events, ended = read(connector(sse, stream="user"))

    assert isinstance(ended, TransientError)  # the recording ends: the server hung up
    seen = sse.requests[0]
    assert seen.path == "/api/v1/streaming/user"
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["accept"] == "text/event-stream"
    # one event per recorded event (heartbeats are not events), none skipped
    assert len(events) == 6 and all(e.skipped == 0 for e in events)
    mentions = found(events)
    assert [m.external_id for m in mentions] == [MENTION_14, REPLY_16]
    assert all(isinstance(m, MentionRecord) for m in mentions)
    first, second = mentions
    assert isinstance(first, MentionRecord) and isinstance(second, MentionRecord)
    assert first.author == "admin"
    assert first.url == f"http://localhost:3000/@admin/{MENTION_14}"
    assert first.text.startswith("@mastodonpy_test")
    assert first.created_at == datetime(2026, 8, 2, 5, 22, 18, 555000, tzinfo=UTC)
    assert second.parent_id == BRAND_DM and second.author == "mastodonpy_test_2"
    # the brand's own posts that reply to nothing are not mentions, nor is their edit
    assert events[0].found is None and events[2].found is None and events[4].found is None
    assert events[5].deleted == DELETED and events[5].at is None
    # the cursor is the highest status id seen; the edit of an older status keeps it
    assert [e.cursor for e in events] == [DELETED, MENTION_14, BRAND_DM] + [REPLY_16] * 3
    assert events[1].at == first.created_at
    assert events[4].at == datetime(2026, 8, 2, 5, 22, 24, 192000, tzinfo=UTC)  # the edit's time


def test_brand_reply_in_the_stream_answers_the_mention(sse: SSEServer) -> None:
    """Brand = mastodonpy_test_2: the DM mentioning it is a mention (by `accounts`), its
    reply 1.159 s later (05:22:20.865 -> 05:22:22.024) is the brand's reply to it."""
    brand = BrandIdentity("mastodon", handle="mastodonpy_test_2")
    source = connector(sse, identities=(brand,), stream="user", accounts=["mastodonpy_test_2"])
    events, _ = read(source)

    results = found(events)
    mention = next(r for r in results if r.external_id == BRAND_DM)
    reply = next(r for r in results if isinstance(r, BrandReply))
    assert isinstance(mention, MentionRecord)
    assert (reply.external_id, reply.in_reply_to) == (REPLY_16, BRAND_DM)
    assert reply.bot is False
    assert (reply.created_at - mention.created_at).total_seconds() == pytest.approx(1.159)


def test_brands_own_update_replying_is_a_brand_reply(sse: SSEServer) -> None:
    """The brand's statuses come as `update` in its user stream: a real status replying to
    another (POST /api/v1/statuses answer, local instance), as the streaming server frames it."""
    status = fixture_bytes("mastodon", "status_reply_with_in_reply_to_local_instance.json")
    sse.serve(Plan(parts=[b"event: update\ndata: " + status.strip() + b"\n\n"]))
    bot = BrandIdentity("mastodon", handle="admin", bot=True)
    events, _ = read(connector(sse, identities=(bot,), stream="user", keywords=["nothing"]))

    (reply,) = found(events)
    assert isinstance(reply, BrandReply)
    assert (reply.external_id, reply.in_reply_to) == ("117020583258292382", "117020583245459824")
    assert reply.bot is True


def test_streamed_and_polled_post_are_the_same_record(sse: SSEServer) -> None:
    """The gap-filling poller and the stream store a post once: same key, same fields.
    The stream's payloads are the REST entities (Notification, Status), served as the
    notifications and tag timeline answers of the same instance."""
    notifications = list(reversed(recorded_payloads("notification")))  # newest first
    statuses = list(reversed(recorded_payloads("update")))
    rest = LocalServer()
    rest.route("/api/v1/notifications", Reply.json(notifications))
    rest.route("/api/v1/timelines/tag/cars", Reply.json(statuses))
    rest.start()
    try:
        polled: dict[str, MentionRecord] = {}
        for options in (
            MastodonOptions(mentions=True, token_env="MASTODON_STREAM_TOKEN", backfill=9e8),
            MastodonOptions(tag="cars", backfill=9e8),
        ):
            poller = MastodonConnector(options, feed_name="fill", base_url=rest.url)
            with make_client() as client:
                polled.update(
                    (m.external_id, m) for m in poller.poll(client, FeedCursor(), NOW).mentions
                )
    finally:
        rest.stop()
    streamed = {
        r.external_id: r
        for r in found(read(connector(sse, identities=(), stream="public", keywords=["x"]))[0])
    }
    # no brand and the keyword "x": only the notified statuses match; match the updates too
    streamed.update(
        (r.external_id, r)
        for r in found(read(connector(sse, identities=(), stream="hashtag", tag="cars"))[0])
    )
    assert set(streamed) == {MENTION_14, REPLY_16, DELETED, BRAND_DM}
    for key, record in streamed.items():
        assert isinstance(record, MentionRecord)
        assert (record.platform, record.external_id) == ("mastodon", key)
        expected = polled[key]
        if "edited_at" in record.extra:  # the stream also saw the edit; the poll the original
            expected = MentionRecord(**{**vars(expected), "text": record.text})
            expected.extra = {**expected.extra, "edited_at": record.extra["edited_at"]}
        assert record == expected


def test_edit_is_the_edited_status(sse: SSEServer) -> None:
    events, _ = read(connector(sse, identities=(), stream="public", keywords=["animals"]))
    # the original said "cars": only the edit matches (notifications match whatever the words)
    (edited,) = [r for r in found(events) if r.external_id == DELETED]
    assert isinstance(edited, MentionRecord)
    assert edited.external_id == DELETED and edited.text == "only real animals respond."
    assert edited.extra["edited_at"] == "2026-08-02T05:22:24.192Z"


def test_keywords_hashtags_and_accounts(sse: SSEServer) -> None:
    def ids(**options: Any) -> list[str]:
        events, _ = read(connector(sse, identities=(), stream="public", **options))
        return [r.external_id for r in found(events) if r.external_id not in notified][:2]

    notified = {MENTION_14, REPLY_16}

    # notifications are mentions whatever the words; the updates match on their own
    assert ids(keywords=["CARS"]) == [DELETED]  # case-insensitive; not the edit's "animals"
    assert ids(keywords=["car"]) == []  # whole words: "cars" is not "car"
    assert ids(accounts=["mastodonpy_test_2@localhost"]) == [BRAND_DM]  # mentioned
    assert ids(accounts=["117020617404561855"]) == [DELETED, BRAND_DM]  # author id
    assert ids(hashtags=["#nothing"]) == []
    pattern = keyword_pattern(["ソニー", "Zoë", "acme"])
    assert pattern is not None
    assert pattern.search(fold("ソニーの新製品"))  # no spaces between Japanese words
    assert pattern.search(fold("ZOË!")) and pattern.search(fold("Ａｃｍｅ."))  # NFKC: fullwidth
    assert not pattern.search(fold("acmeboard")) and not pattern.search(fold("zoëy"))
    assert not pattern.search(fold("subacme")) and pattern.search(fold("#acme"))


def test_hashtag_stream_asks_for_its_tag(sse: SSEServer) -> None:
    events, _ = read(connector(sse, identities=(), stream="hashtag:local", tag="#Cars"))
    assert sse.requests[0].path == "/api/v1/streaming/hashtag/local"
    assert sse.requests[0].query == {"tag": ["Cars"]}
    assert len(found(events)) == 5  # every status (a hashtag stream is already filtered)


def test_garbage_is_skipped_and_counted(sse: SSEServer) -> None:
    huge = b"event: update\ndata: " + b"x" * (MAX_EVENT_BYTES + 10) + b"\n\n"
    long_line = b":" + b"y" * (MAX_EVENT_BYTES + 10) + b"\n"
    parts = recorded()
    sse.serve(Plan(parts=[*parts[:2], *GARBAGE, huge, long_line, *parts[2:]]))
    events, ended = read(connector(sse, stream="user"))

    assert isinstance(ended, TransientError)
    assert [r.external_id for r in found(events)] == [MENTION_14, REPLY_16]
    # the garbage, the oversized event and the oversized comment
    assert [e.skipped for e in events] == [0, len(GARBAGE) + 2, 0, 0, 0, 0]


def test_hang_up_mid_message_is_transient_and_nothing_partial(sse: SSEServer) -> None:
    sse.serve(Plan(hang_up_after=3))  # heartbeat, update, notification 14, half an update
    events, ended = read(connector(sse, stream="user"))
    assert isinstance(ended, TransientError)
    assert "middle of an event" in str(ended)
    assert [e.cursor for e in events] == [DELETED, MENTION_14]


def test_reconnect_cannot_resume_and_the_fill_poll_covers_the_gap(
    sse: SSEServer, server: LocalServer
) -> None:
    """The runner's cycle: read, lose the connection, call stream() again with the cursor
    (StreamGap at once, no request), let the `mastodon` fill feed poll, stream from now.
    Every recorded mention ends up found once by its key, none lost."""
    parts = recorded()
    sse.serve(Plan(parts=parts, hang_up_after=3), Plan(parts=parts[5:]))
    source = connector(sse, stream="user")
    before, ended = read(source)
    assert isinstance(ended, TransientError)
    cursor = before[-1].cursor
    assert cursor == MENTION_14

    with pytest.raises(StreamGap):
        next(source.stream(cursor, threading.Event()))
    assert len(sse.requests) == 1  # a gap is known without asking the server

    # the fill feed (its own cursor: notification 14 was its last) polls what came since
    notifications = list(reversed(recorded_payloads("notification")))
    server.route("/api/v1/notifications", Reply.json(notifications[:1]))
    fill = MastodonConnector(
        MastodonOptions(mentions=True, token_env="MASTODON_STREAM_TOKEN"),
        feed_name="acme-mastodon",
        identities=[BRAND],
        base_url=server.url,
    )
    with make_client() as client:
        filled = fill.poll(client, FeedCursor(cursor="14"), NOW)
    assert server.requests[0].query["min_id"] == ["14"]

    after, _ = read(source, None)  # from now: the edit and the delete
    keys = [r.external_id for r in found(before) + filled.mentions + found(after)]
    assert keys == [MENTION_14, REPLY_16]
    assert [e.deleted for e in after if e.deleted] == [DELETED]


def test_silence_is_transient_after_idle_timeout(sse: SSEServer) -> None:
    class Quick(MastodonStreamConnector):
        idle_timeout = 0.6

    sse.serve(Plan(silent_after=2))
    started = time.monotonic()
    events, ended = read(connector(sse, cls=Quick, stream="user"))
    assert isinstance(ended, TransientError) and "silent" in str(ended)
    assert len(events) == 1
    assert 0.5 < time.monotonic() - started < 3.0


def test_dripping_bytes_arrive_but_no_line_for_too_long_is_transient(sse: SSEServer) -> None:
    class Quick(MastodonStreamConnector):
        idle_timeout = 0.6

    delete = [p for p in recorded() if p.startswith(b"event: delete")]
    sse.serve(Plan(parts=[b":)\n", *delete], drip=0.01))  # ~50 bytes over half a second
    events, ended = read(connector(sse, cls=Quick, stream="user"))
    assert [e.deleted for e in events] == [DELETED]
    assert isinstance(ended, TransientError)

    sse.serve(Plan(parts=delete, drip=0.15))  # a byte well within the read timeout, no line
    started = time.monotonic()
    events, ended = read(connector(sse, cls=Quick, stream="user"))
    assert events == [] and isinstance(ended, TransientError)
    assert "no complete line" in str(ended)
    assert time.monotonic() - started < 2.5


def test_stop_is_honoured_within_a_second_on_a_silent_connection(sse: SSEServer) -> None:
    sse.serve(Plan(silent_after=2))
    stop = threading.Event()
    events: list[StreamEvent] = []
    stopped_at: list[float] = []

    def stop_soon() -> None:
        time.sleep(0.5)
        stopped_at.append(time.monotonic())
        stop.set()

    threading.Thread(target=stop_soon, daemon=True).start()
    for event in connector(sse, stream="user").stream(None, stop):
        if not event.alive:
            events.append(event)
    returned = time.monotonic()
    assert len(events) == 1 and stopped_at
    assert returned - stopped_at[0] < 1.5


def test_auth_and_not_found_say_what_to_fix(sse: SSEServer) -> None:
    sse.serve(Plan(status=401, body=b'{"error":"Error: Invalid access token"}'))
    _, ended = read(connector(sse, stream="user"))
    assert isinstance(ended, AuthError)
    assert "MASTODON_STREAM_TOKEN" in str(ended) and TOKEN not in str(ended)

    sse.serve(Plan(status=404, body=b'{"error":"Not found"}'))
    _, ended = read(connector(sse, stream="user"))
    assert isinstance(ended, NotFoundError) and "streaming_url" in str(ended)

    sse.serve(Plan(content_type="text/html"))
    _, ended = read(connector(sse, stream="user"))
    assert ended is not None and "not an event stream" in str(ended)


def test_options_refuse_a_stream_that_cannot_work() -> None:
    with pytest.raises(ValueError, match="token_env"):
        MastodonStreamOptions(stream="user")
    with pytest.raises(ValueError, match="tag"):
        MastodonStreamOptions(stream="hashtag", token_env="T")
    with pytest.raises(ValueError, match="keywords"):
        MastodonStreamOptions(stream="public")
    assert MastodonStreamOptions(stream="public", keywords=[" ", "acme"]).keywords == ["acme"]


def test_streaming_url_is_used_when_given(sse: SSEServer) -> None:
    source = MastodonStreamConnector(
        MastodonStreamOptions(token_env="MASTODON_STREAM_TOKEN", streaming_url=sse.url + "/"),
        feed_name="acme-mastodon-live",
        base_url="https://mastodon.example",
    )
    events, _ = read(source)
    assert sse.requests[0].path == "/api/v1/streaming/user" and len(events) == 6


def test_cli_dry_run_shows_a_few_seconds_of_the_stream(sse: SSEServer, tmp_path: Path) -> None:
    sse.default = Plan(silent_after=len(recorded()))  # all of it, then the connection stays
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "mastodon", "handle": "mastodonpy_test", "bot": False},
        feed={
            "name": "acme-mastodon-live",
            "type": "mastodon_stream",
            "base_url": sse.url,
            "stream": "user",
            "token_env": "MASTODON_STREAM_TOKEN",
        },
        env={"MASTODON_STREAM_TOKEN": TOKEN},
    )
    assert done.returncode == 0, done.stderr
    assert f"mastodon:{MENTION_14}" in done.stdout
    assert f"mastodon:{REPLY_16}" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert not database.exists()


def test_conversation_events_are_read_and_match_nothing(sse: SSEServer) -> None:
    """The `direct` stream's recorded `conversation` events (the same DM and its reply, also
    sent as `update` and `notification` on the user stream) are events, not garbage."""
    sse.serve(
        Plan(
            parts=recorded(
                "streaming_direct_sse_conversation_reply_localhost_2026-08_mastodonpy.txt"
            )
        )
    )
    events, ended = read(connector(sse, stream="user", keywords=["mastodonpy_test"]))
    assert isinstance(ended, TransientError)
    assert [(e.found, e.skipped) for e in events] == [(None, 0), (None, 0)]


def test_rate_limited_stream_says_when_to_come_back(sse: SSEServer) -> None:
    sse.serve(Plan(status=429, body=b'{"error":"Too many requests"}'))
    _, ended = read(connector(sse, stream="user"))
    assert isinstance(ended, RateLimited)


@pytest.mark.parametrize("size", [1, 7, 4096, 65536, 10**8])
def test_framing_does_not_depend_on_how_the_bytes_are_cut(size: int) -> None:
    """The same recorded stream with garbage and oversized lines, cut into chunks of `size`
    bytes: the same events. An oversized comment costs nothing but itself; an oversized
    event is skipped whole, never the event after it."""
    huge = b"event: update\ndata: " + b"x" * (MAX_EVENT_BYTES + 10) + b"\n\n"
    long_comment = b":" + b"y" * (MAX_EVENT_BYTES + 10) + b"\n"
    parts = recorded()
    body = b"".join([*parts[:2], huge, long_comment, *parts[2:4], *GARBAGE, *parts[4:]])
    body = body.replace(b"\n", b"\r\n")  # CRLF line ends are SSE too
    source = MastodonStreamConnector(
        MastodonStreamOptions(stream="user", token_env="MASTODON_STREAM_TOKEN"),
        feed_name="acme-mastodon-live",
        identities=[BRAND],
    )
    chunks = (body[i : i + size] for i in range(0, len(body), size))
    events: list[StreamEvent] = []
    with pytest.raises(TransientError):
        events.extend(source._events(chunks, threading.Event()))
    assert [r.external_id for r in found(events)] == [MENTION_14, REPLY_16]
    assert [e.deleted for e in events if e.deleted] == [DELETED]
    assert [e.skipped for e in events] == [0, 2, 0, len(GARBAGE), 0, 0]


def test_redirect_to_another_host_says_to_set_streaming_url(sse: SSEServer) -> None:
    """httpx does not send the token to another host: the stream answers 401 there."""
    other = sse.url.replace("127.0.0.1", "localhost")
    sse.serve(Plan(location=f"{other}/api/v1/streaming/user"), Plan(require_token=True))
    _, ended = read(connector(sse, stream="user"))
    assert isinstance(ended, AuthError)
    assert f'streaming_url = "{other}"' in str(ended)
    assert "authorization" not in sse.requests[1].headers

    sse.serve(Plan(require_token=True))  # the same server, named as `streaming_url`: it works
    source = MastodonStreamConnector(
        MastodonStreamOptions(token_env="MASTODON_STREAM_TOKEN", streaming_url=other),
        feed_name="acme-mastodon-live",
        base_url="https://mastodon.example",
    )
    events, _ = read(source)
    assert len(events) == 6


def test_a_look_at_a_stream_with_a_stored_cursor_starts_from_now(
    sse: SSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`monitor poll FEED --dry-run` on a feed that has run: no StreamGap, a sample from now."""
    monkeypatch.setattr(MastodonStreamConnector, "sample_seconds", 0.5)
    sse.serve(Plan(silent_after=len(recorded())))
    with make_client() as client:
        result = connector(sse, stream="user").poll(client, FeedCursor(cursor="1"), NOW)
    assert [m.external_id for m in result.mentions] == [MENTION_14, REPLY_16]
    assert result.state.cursor == REPLY_16


def test_a_connection_says_it_is_up_before_any_status(sse: SSEServer) -> None:
    # a brand's notifications can be quiet for hours: the runner must see the connection
    # up at once (not "reconnecting" until the first status), with a cursor to resume from
    sse.serve(Plan(parts=[b":)\n"], silent_after=1))
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    events = list(connector(sse, stream="user").stream(None, stop))
    assert [e.alive for e in events] == [True]
    assert events[0].cursor is not None and events[0].found is None


def test_fields_of_another_type_are_left_out_not_passed_to_the_store() -> None:
    # an instance (or a proxy) sending an object where Mastodon sends a string: passed on,
    # the record failed its whole batch's store (a dict cannot be bound), for good
    source = MastodonStreamConnector(
        MastodonStreamOptions(stream="public", keywords=["acme"]),
        feed_name="acme-mastodon-live",
        identities=[BRAND],
    )
    status = {
        "id": "3",
        "created_at": "2026-08-02T05:22:17Z",
        "content": "<p>acme broke</p>",
        "account": {"acct": "bob", "id": "9"},
        "language": {"en": 1},
        "url": ["https://example.social/@bob/3"],
        "uri": "https://example.social/users/bob/statuses/3",
    }
    body = b"event: update\ndata: " + json.dumps(status).encode() + b"\n\n"
    events: list[StreamEvent] = []
    with pytest.raises(TransientError):  # the chunks end: the server hung up
        events.extend(source._events(iter([body]), threading.Event()))
    [record] = found(events)
    assert isinstance(record, MentionRecord)
    assert record.language is None and record.author == "bob"
    assert record.url == "https://example.social/users/bob/statuses/3"
