"""The bluesky_stream feed over a real websocket: a recorded production stretch of Jetstream
replayed by tests/support/jetstream_server.py, with its faults.

What the tests match in the recording (2026-07-04, 17 posts): the keywords "debunked" (the post
whose createdAt has no milliseconds and +00:00), "government" (a reply, and two
posts of a self-thread), "primátorem" (Czech, any case) and "ジャードゥーガル" (Japanese,
inside unspaced text), and the hashtag HowToTellAiToShutUp (a tag facet). The brand is
given the DID of a real author: did:plc:u4lmvw4wwzaql3z5kcf3r7h4, whose self-thread of three
posts is the only reply chain whose parent is inside the stretch, or
did:plc:t2yw5frug3pu4nmygjiq7vln, whose reply answers a post outside it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.base import BrandIdentity, BrandReply, MentionRecord
from connectors.errors import MalformedResponse, RateLimited, TransientError
from connectors.sources.bluesky import BlueskyConnector
from connectors.sources.bluesky_stream import (
    MAX_MESSAGE,
    REWIND_US,
    BlueskyStreamConnector,
    keyword_pattern,
)
from connectors.streams import StreamEvent, StreamGap
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.jetstream_server import (
    JetstreamReplay,
    Raw,
    frame,
    jetstream_replay,
    recorded_lines,
)
from tests.support.mock_http import poll_with
from tests.support.tcp_proxy import tcp_proxy

KEYWORDS = ["debunked", "government", "PRIMÁTOREM", "ジャードゥーガル"]
HASHTAGS = ["#HowToTellAiToShutUp"]
SELF_THREAD = "did:plc:u4lmvw4wwzaql3z5kcf3r7h4"
REPLIER = "did:plc:t2yw5frug3pu4nmygjiq7vln"
DELETED = "at://did:plc:4smmjsqf6l5jkzczvw6vsrqc/app.bsky.feed.post/3mpt73z3ejc2p"
# the recording's own time, for the saved cursor's age
RECORDED_AT = 1783175888.4


def post(did: str, rkey: str) -> str:
    return f"at://{did}/app.bsky.feed.post/{rkey}"


@pytest.fixture
def replay() -> Iterator[JetstreamReplay]:
    with jetstream_replay() as server:
        yield server


def make(
    server: JetstreamReplay,
    identities: list[BrandIdentity] | None = None,
    **options: Any,
) -> BlueskyStreamConnector:
    opts = {"keywords": KEYWORDS, "hashtags": HASHTAGS, **options}
    connector = BlueskyStreamConnector(
        BlueskyStreamConnector.Options.model_validate(opts),
        feed_name="acme-bsky-live",
        identities=identities or [],
        base_url=server.url,
    )
    connector.clock = lambda: RECORDED_AT + 60
    return connector


def read(
    connector: BlueskyStreamConnector,
    cursor: str | None = None,
    *,
    count: int | None = None,
    within: float = 1.0,
) -> list[StreamEvent]:
    """Events until `count` were read, or `within` seconds passed (the stop is set)."""
    stop = threading.Event()
    timer = threading.Timer(within, stop.set)
    timer.start()
    events: list[StreamEvent] = []
    try:
        for event in connector.stream(cursor, stop):
            if event.alive:  # the connection is up: not an event
                continue
            events.append(event)
            if count is not None and len(events) >= count:
                break
    finally:
        timer.cancel()
    return events


def post_events() -> list[dict[str, Any]]:
    """The recorded events a post subscription gets (posts, identity, account), in order."""
    events = [json.loads(line) for line in recorded_lines()]
    return [
        e
        for e in events
        if e["kind"] != "commit" or e["commit"]["collection"] == "app.bsky.feed.post"
    ]


def test_matched_posts_are_mentions_as_the_bluesky_feed_makes_them(
    replay: JetstreamReplay,
) -> None:
    events = read(make(replay))

    assert len(events) == len(post_events()) == 20  # every event, matched or not
    assert [e.cursor for e in events] == [str(e["time_us"]) for e in post_events()]
    found = {e.found.external_id: e.found for e in events if isinstance(e.found, MentionRecord)}
    assert sorted(found) == sorted(
        [
            post("did:plc:ybqkf2mtfbwx3qhga63mttja", "3mptbyoigog2b"),  # debunked
            post("did:plc:d3blkgynnwi3rp7vak25pfe3", "3mptbyo7dms2m"),  # government
            post(SELF_THREAD, "3mptbyou7ls2i"),  # government
            post(SELF_THREAD, "3mptbyoumc22i"),  # government
            post("did:plc:fe7cz462lvsuhadx6z35orni", "3mptbypt22l26"),  # primátorem
            post("did:plc:amnbije7mr5g3pgxuun7q44o", "3mptbyqhi7s2f"),  # ジャードゥーガル
            post("did:plc:tn3hni2jpphsgl6amfbb7ja6", "3mptbypfywk2v"),  # #HowToTellAiToShutUp
        ]
    )
    odd = found[post("did:plc:ybqkf2mtfbwx3qhga63mttja", "3mptbyoigog2b")]
    assert odd.created_at == datetime(2026, 7, 4, 14, 38, 2, tzinfo=UTC)  # "...:02+00:00"
    assert odd.language == "en-US"
    assert odd.author is None and odd.author_id == "did:plc:ybqkf2mtfbwx3qhga63mttja"
    assert odd.url == (
        "https://bsky.app/profile/did:plc:ybqkf2mtfbwx3qhga63mttja/post/3mptbyoigog2b"
    )
    assert "https://www.ufofeed.com/266486/" in odd.text  # link facets expanded
    reply = found[post("did:plc:d3blkgynnwi3rp7vak25pfe3", "3mptbyo7dms2m")]
    assert reply.parent_id == post("did:plc:vqr6qcne2dya6o46z2citxdk", "3mpt6d6eu5k2p")
    assert reply.thread_id is not None
    assert reply.created_at == datetime(2026, 7, 4, 14, 38, 6, 55000, tzinfo=UTC)
    middle = found[post(SELF_THREAD, "3mptbyou7ls2i")]
    assert middle.parent_id == middle.thread_id == post(SELF_THREAD, "3mptbyospqk2i")
    first = events[0]
    assert first.at == datetime.fromtimestamp(int(str(first.cursor)) / 1e6, tz=UTC)
    [request] = replay.requests
    assert "wantedCollections=app.bsky.feed.post" in request
    assert "wantedDids" not in request and "cursor" not in request


def test_dids_only_asks_the_server_for_those_accounts(replay: JetstreamReplay) -> None:
    connector = make(
        replay,
        [BrandIdentity("bluesky", account_id=REPLIER)],
        keywords=[],
        hashtags=[],
        dids=[SELF_THREAD],
    )
    events = read(connector)
    mentions = [e.found.external_id for e in events if isinstance(e.found, MentionRecord)]
    assert mentions == [
        post(SELF_THREAD, r) for r in ("3mptbyospqk2i", "3mptbyou7ls2i", "3mptbyoumc22i")
    ]
    assert [type(e.found) for e in events if isinstance(e.found, BrandReply)] == [BrandReply]
    query = parse_qs(urlsplit(replay.requests[0]).query)
    assert query["wantedDids"] == sorted([REPLIER, SELF_THREAD])  # the brand's, for its replies


def test_the_same_post_is_the_same_mention_polled_or_streamed(
    replay: JetstreamReplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real notifications (reply, mention, quote of did:plc:iijrtk7ocored6zuziwmqq3c) from the
    polled feed's recording, each turned into the Jetstream commit that made the post."""
    monkeypatch.setenv("BSKY_TEST_TOKEN", "test-access-jwt")
    page = fixture_bytes("bluesky", "listNotifications_200_mixed_reasons_2023.json")
    polled = BlueskyConnector(
        BlueskyConnector.Options.model_validate({"mentions": True, "token_env": "BSKY_TEST_TOKEN"}),
        feed_name="acme-bsky",
    )
    result = poll_with(
        polled, lambda request: httpx.Response(200, content=page), datetime(2023, 9, 3, tzinfo=UTC)
    )
    notifications = json.loads(page)["notifications"]
    views = {n["uri"]: n for n in notifications if n["reason"] in ("reply", "mention", "quote")}
    lines = []
    for number, mention in enumerate(result.mentions):
        view = views[mention.external_id]
        did, _, rkey = view["uri"].removeprefix("at://").split("/")
        commit = {"rev": "r", "operation": "create", "collection": "app.bsky.feed.post"}
        commit |= {"rkey": rkey, "record": view["record"], "cid": view["cid"]}
        event = {"did": did, "time_us": 1693660000000000 + number, "kind": "commit"}
        lines.append(json.dumps({**event, "commit": commit}))
    replay.lines = lines
    brand = BrandIdentity("bluesky", account_id="did:plc:iijrtk7ocored6zuziwmqq3c")
    streamed = [
        e.found for e in read(make(replay, [brand], keywords=[], hashtags=[], mentions=True))
    ]

    assert len(result.mentions) == len(streamed) == 16  # the last day of the recording
    deeper = 0
    for polled_one, live in zip(result.mentions, streamed, strict=True):
        if live is None:
            # Bluesky also notifies replies further down a thread the account is in; the
            # event names only the parent and the root, neither of them the brand's here
            assert polled_one.parent_id and polled_one.thread_id
            assert "iijrtk7ocored6zuziwmqq3c" not in polled_one.parent_id + polled_one.thread_id
            deeper += 1
            continue
        assert isinstance(live, MentionRecord)
        for name in ("platform", "external_id", "created_at", "text", "language"):
            assert getattr(live, name) == getattr(polled_one, name), name
        for name in ("author_id", "parent_id", "thread_id"):
            assert getattr(live, name) == getattr(polled_one, name), name
        assert polled_one.author and live.author is None  # the event has no handle
    assert deeper == 3


def test_brand_replies_in_a_real_self_thread(replay: JetstreamReplay) -> None:
    """The brand's first post (it matches "band") is no mention; its two replies answer the
    posts just before them in the stretch; another author's reply to the brand would be."""
    brand = BrandIdentity("bluesky", account_id=SELF_THREAD)
    events = read(make(replay, [brand], keywords=["band", "government"]))
    replies = [e.found for e in events if isinstance(e.found, BrandReply)]
    assert [(r.external_id, r.in_reply_to) for r in replies] == [
        (post(SELF_THREAD, "3mptbyou7ls2i"), post(SELF_THREAD, "3mptbyospqk2i")),
        (post(SELF_THREAD, "3mptbyoumc22i"), post(SELF_THREAD, "3mptbyou7ls2i")),
    ]
    assert replies[0].created_at == datetime(2026, 7, 4, 14, 38, 6, 691000, tzinfo=UTC)
    assert replies[0].author_id == SELF_THREAD and not replies[0].bot
    mentions = [e.found.external_id for e in events if isinstance(e.found, MentionRecord)]
    assert post(SELF_THREAD, "3mptbyospqk2i") not in mentions
    assert post("did:plc:d3blkgynnwi3rp7vak25pfe3", "3mptbyo7dms2m") in mentions


def test_a_bot_reply_outside_the_words_is_a_bot_brand_reply(replay: JetstreamReplay) -> None:
    bot = BrandIdentity("bluesky", account_id=REPLIER, bot=True)
    [reply] = [e.found for e in read(make(replay, [bot])) if isinstance(e.found, BrandReply)]
    assert reply.external_id == post(REPLIER, "3mptbypky4c27")  # "My show is super boring"
    assert reply.in_reply_to == post("did:plc:e2mt5exdcni67eeoj32hqxc4", "3mpt2odmuns24")
    assert reply.bot


def test_a_reply_to_the_brand_is_a_mention_with_mentions_on(replay: JetstreamReplay) -> None:
    brand = BrandIdentity("bluesky", account_id="did:plc:e2mt5exdcni67eeoj32hqxc4")
    events = read(make(replay, [brand], keywords=[], hashtags=[], mentions=True))
    found = [e.found.external_id for e in events if e.found is not None]
    assert found == [post(REPLIER, "3mptbypky4c27")]


def test_a_delete_names_the_post(replay: JetstreamReplay) -> None:
    events = read(make(replay))
    [gone] = [e for e in events if e.deleted]
    assert gone.deleted == DELETED
    assert gone.found is None and gone.cursor == "1783175888377628"


def test_a_resume_repeats_nothing_and_loses_nothing(replay: JetstreamReplay) -> None:
    connector = make(replay)
    first = read(connector, count=8)
    rest = read(connector, first[-1].cursor)
    assert [e.cursor for e in first + rest] == [str(e["time_us"]) for e in post_events()]
    # asked from before the cursor: events are not in time_us order
    assert f"cursor={int(str(first[-1].cursor)) - REWIND_US}" in replay.requests[1]


def test_a_resume_from_an_older_cursor_yields_again_what_came_after_it(
    replay: JetstreamReplay,
) -> None:
    """The runner stored less than was yielded (a failed batch): nothing after its cursor is
    dropped as already seen."""
    connector = make(replay)
    first = read(connector, count=8)
    rest = read(connector, first[4].cursor)
    assert [e.cursor for e in first[:5] + rest] == [str(e["time_us"]) for e in post_events()]


def test_a_new_connector_resumes_at_least_once(replay: JetstreamReplay) -> None:
    first = read(make(replay), count=8)
    rest = read(make(replay), first[-1].cursor)
    assert {e.cursor for e in first} | {e.cursor for e in rest} == {
        str(e["time_us"]) for e in post_events()
    }


def test_a_hang_up_mid_message_is_transient(replay: JetstreamReplay) -> None:
    replay.hang_up_after = 5
    events: list[StreamEvent] = []
    with pytest.raises(TransientError):
        for event in make(replay).stream(None, threading.Event()):
            if not event.alive:
                events.append(event)
    assert len(events) == 5


def test_garbage_is_skipped_and_counted(replay: JetstreamReplay) -> None:
    replay.garbage[3] = [
        "not json at all",
        "\x00",
        b"\x28\xb5\x2f\xfd compressed, not asked for",
        "[1, 2]",
        '{"kind": "commit"}',
        '{"did": "did:plc:x", "time_us": 1783175888000000, "kind": "commit", "commit": "x"}',
        json.dumps({"pad": "x" * MAX_MESSAGE}),
        Raw(frame(b'{"text": "\xff\xfe not UTF-8"}')),  # a text frame
        # a well-formed envelope with odd insides: an event, found nothing, no crash
        json.dumps(
            {
                "did": "did:plc:x",
                "time_us": 1783175888000001,
                "kind": "commit",
                "commit": {"operation": "create", "collection": {"a": 1}, "rkey": "r", "rev": []},
            }
        ),
    ]
    events = read(make(replay))
    assert len(events) == 21
    assert [e.skipped for e in events[:5]] == [0, 0, 0, 8, 0]
    assert events[3].cursor == "1783175888000001" and events[3].found is None


def test_a_message_beyond_the_hard_cap_ends_the_connection(replay: JetstreamReplay) -> None:
    replay.garbage[2] = ["x" * (4 * MAX_MESSAGE + 1)]
    with pytest.raises(TransientError, match="closed"):
        read(make(replay), within=5)


def test_a_nul_in_a_post_is_stored_without_it(replay: JetstreamReplay) -> None:
    lines = recorded_lines()
    target = next(i for i, line in enumerate(lines) if "3mptbyoigog2b" in line)
    lines[target] = lines[target].replace("debunked", "debun\\u0000ked debunked")
    replay.lines = lines
    found = [e.found for e in read(make(replay)) if isinstance(e.found, MentionRecord)]
    [mention] = [m for m in found if "ufofeed" in m.text]
    assert "\x00" not in mention.text and "debunked" in mention.text


def test_silence_is_transient_after_idle_timeout(
    replay: JetstreamReplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BlueskyStreamConnector, "idle_timeout", 1.0)
    replay.silent_after = 4
    started = time.monotonic()
    with pytest.raises(TransientError, match="sent nothing"):
        read(make(replay), within=10)
    assert 1.0 <= time.monotonic() - started < 3.0


def test_a_quiet_filtered_stream_that_answers_pings_stays_up(
    replay: JetstreamReplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the wanted accounts' posts: silence is normal, a pong says the socket lives; a
    network that drops everything (no pong) is dead after idle_timeout."""
    monkeypatch.setattr(BlueskyStreamConnector, "idle_timeout", 1.0)
    connector = make(replay, keywords=[], hashtags=[], dids=[SELF_THREAD])
    started = time.monotonic()
    events = read(connector, within=3.0)
    assert len(events) == 3 and time.monotonic() - started >= 2.9
    with tcp_proxy("127.0.0.1", replay.port) as proxy:
        connector.base_url = f"ws://127.0.0.1:{proxy.port}"
        stop = threading.Event()
        with pytest.raises(TransientError, match="sent nothing"):
            for _ in connector.stream(None, stop):
                proxy.blackhole()


def test_stop_is_honoured_within_a_second_on_a_silent_socket(replay: JetstreamReplay) -> None:
    replay.silent_after = 3
    stop = threading.Event()
    events: list[StreamEvent] = []
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    for event in make(replay).stream(None, stop):
        if not event.alive:
            events.append(event)
    assert len(events) == 3
    assert time.monotonic() - started < 1.7


def test_a_slow_drip_still_reads_whole_messages(replay: JetstreamReplay) -> None:
    replay.lines = [line for line in recorded_lines() if SELF_THREAD in line][:2]
    replay.drip = 0.0003
    events = read(make(replay, keywords=["band"]), within=6, count=2)
    assert [e.found.external_id for e in events if e.found] == [post(SELF_THREAD, "3mptbyospqk2i")]


def test_refusals_at_connect_say_what_to_do(replay: JetstreamReplay) -> None:
    replay.refuse = (429, "slow down", {"Retry-After": "7"})
    with pytest.raises(RateLimited) as limited:
        read(make(replay))
    assert limited.value.retry_after == 7
    replay.refuse = (400, "invalid collection: app.bsky.feed.pots", {})
    with pytest.raises(MalformedResponse, match="invalid collection"):
        read(make(replay))
    replay.refuse = (503, "busy", {})
    with pytest.raises(TransientError):
        read(make(replay))
    connector = make(replay)
    connector.base_url = f"ws://127.0.0.1:{unused_port()}"
    with pytest.raises(TransientError, match="cannot reach"):
        read(connector)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_server_replays_at_a_set_rate_and_repeats(replay: JetstreamReplay) -> None:
    """For the bench: two copies of the recording at 40 events a second (20 each)."""
    replay.rate, replay.repeat = 40.0, 2
    started = time.monotonic()
    events = read(make(replay), count=40, within=5)
    assert len(events) == 40 and 0.9 < time.monotonic() - started < 2.5
    cursors = [int(str(e.cursor)) for e in events]
    assert min(cursors[20:]) > max(cursors[:20])  # the copy is moved on in time


def test_a_cursor_older_than_resume_window_is_a_gap(replay: JetstreamReplay) -> None:
    connector = make(replay)
    cursor = "1783175888090631"
    connector.clock = lambda: RECORDED_AT + 21 * 3600
    with pytest.raises(StreamGap, match="resume_window"):
        read(connector, cursor)
    assert replay.requests == []  # not even connected
    connector.clock = lambda: RECORDED_AT + 19 * 3600
    assert read(connector, cursor)
    with pytest.raises(StreamGap):
        read(connector, "2026-07-04T14:38:00Z")


def test_keywords_are_whole_words_in_any_case_and_script() -> None:
    pattern = keyword_pattern(["acme", "Acme Support", "アクメ", "ÉCLAIR"])
    assert pattern is not None

    def hit(text: str) -> bool:
        return bool(pattern.search(text.casefold()))

    assert hit("I love ACME!") and hit("#acme") and hit("acme's")
    assert not hit("acmeville") and not hit("pacme")
    assert hit("acme   support rocks") and hit("アクメの配送が遅い") and hit("un éclair")
    assert not hit("support acme-ish"[:8])


def test_dry_run_poll_shows_what_a_few_seconds_matched(
    replay: JetstreamReplay, tmp_path: Path
) -> None:
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "bluesky", "id": REPLIER},
        feed={
            "name": "acme-bsky-live",
            "type": "bluesky_stream",
            "base_url": replay.url,
            "keywords": ["debunked", "band"],
        },
    )
    assert done.returncode == 0, done.stderr
    assert "3mptbyoigog2b" in done.stdout
    assert "3mptbyospqk2i" in done.stdout
    assert not database.exists()


def test_a_connection_says_it_is_up_before_any_event(replay: JetstreamReplay) -> None:
    # a stream of a few DIDs can be quiet for hours: the runner must see the connection up
    # at once, not "reconnecting" until the first post
    replay.silent_after = 0
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    events = list(make(replay).stream(None, stop))
    assert [e.alive for e in events] == [True]
    assert events[0].cursor is None and events[0].found is None


def test_stop_is_honoured_while_a_server_accepts_but_never_answers() -> None:
    # a host that takes the TCP connection and never answers the websocket handshake: the
    # contract is to return within about a second of `stop`, not after open_timeout (10 s);
    # `monitor run` waits 10 s per stream at shutdown, then its "stopped" row is never written
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        connector = BlueskyStreamConnector(
            BlueskyStreamConnector.Options(keywords=["acme"]),
            feed_name="bsky-live",
            identities=[],
            base_url=f"ws://127.0.0.1:{port}",
        )
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        events = list(connector.stream(None, stop))
        assert events == []
        assert time.monotonic() - started < 1.5


def test_a_lone_surrogate_in_a_post_is_stored_as_a_replacement_character(
    replay: JetstreamReplay,
) -> None:
    # JSON may escape a lone surrogate; encoding the text for its facets raised, the stream
    # ended, and the resume replayed the same post: the feed reconnected for good
    lines = recorded_lines()
    target = next(i for i, line in enumerate(lines) if "3mptbyoigog2b" in line)
    lines[target] = lines[target].replace("debunked", "debunked \\ud800")
    replay.lines = lines
    events = read(make(replay), within=2.0)
    assert len(events) == 20
    found = [e.found for e in events if isinstance(e.found, MentionRecord)]
    [mention] = [m for m in found if "ufofeed" in m.text]
    assert "\ud800" not in mention.text and "debunked \ufffd" in mention.text


def test_a_post_of_odd_field_types_is_skipped_not_the_end_of_the_stream(
    replay: JetstreamReplay,
) -> None:
    # tags, facets or langs of another type than Bluesky's lexicon says: a TypeError out of
    # the matching ended the connection, and the resume replayed the same event, for good
    odd = [
        {"text": "debunked", "createdAt": "2026-07-04T08:38:00Z", "facets": 5},
        {"text": "debunked", "createdAt": "2026-07-04T08:38:00Z", "tags": 5},
        {"text": "debunked", "createdAt": "2026-07-04T08:38:00Z", "facets": [{"features": 5}]},
        {"text": "debunked", "createdAt": "2026-07-04T08:38:00Z", "langs": [{"en": 1}]},
    ]
    replay.garbage[3] = [
        json.dumps(
            {
                "did": "did:plc:x",
                "time_us": 1783175888000001 + n,
                "kind": "commit",
                "commit": {
                    "operation": "create",
                    "collection": "app.bsky.feed.post",
                    "rkey": f"odd{n}",
                    "rev": "r",
                    "record": record,
                },
            }
        )
        for n, record in enumerate(odd)
    ]
    events = read(make(replay), within=2.0)
    assert len(events) + sum(e.skipped for e in events) == 20 + len(odd)
    for e in events:
        if isinstance(e.found, MentionRecord):
            assert e.found.language is None or isinstance(e.found.language, str)
