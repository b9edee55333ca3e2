"""The mastodon connector over recorded Mastodon API answers (httpx.MockTransport)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors import AuthError, BrandIdentity, FeedCursor, MentionRecord, RateLimited
from connectors.errors import MalformedResponse
from connectors.sources.mastodon import MastodonConnector, MastodonOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, mock_client, poll_with

NOW = datetime(2026, 8, 2, 12, 0, tzinfo=UTC)
CONTEXT = fixture_bytes("mastodon", "context_110446983926957470_mastodon_social_2023.json")
TAG_PAGE = fixture_bytes("mastodon", "timeline_tag_hoot_local_instance.json")
REPLY = json.loads(fixture_bytes("mastodon", "status_reply_with_in_reply_to_local_instance.json"))


def _headers(name: str) -> dict[str, str]:
    recorded = json.loads(fixture_bytes("mastodon", name))["headers"]
    keep = {"link", "etag", "content-type"}
    return {k: v for k, v in recorded.items() if k in keep or "ratelimit" in k}


def _connector(
    identities: tuple[BrandIdentity, ...] = (),
    base_url: str = "https://mastodon.example",
    **options: Any,
) -> MastodonConnector:
    return MastodonConnector(
        MastodonOptions.model_validate(options),
        feed_name="acme-mastodon",
        identities=identities,
        base_url=base_url,
    )


def _mention(external_id: str) -> MentionRecord:
    return MentionRecord(
        platform="mastodon",
        external_id=external_id,
        created_at=datetime(2023, 5, 28, 15, 20, 30, tzinfo=UTC),
        text="the mention",
    )


@pytest.mark.parametrize(
    "identity",
    [
        BrandIdentity("mastodon", handle="halcy"),
        BrandIdentity("mastodon", handle="@halcy@mastodon.social"),
        BrandIdentity("mastodon", account_id="43"),
    ],
)
def test_recheck_attaches_recorded_context_reply_to_the_mention_it_answers(
    identity: BrandIdentity,
) -> None:
    # Recorded GET /api/v1/statuses/110446983926957470/context on mastodon.social: one
    # ancestor (110446983178245440) and one descendant by halcy (account id 43), who plays
    # the brand here: id 110446984249325790, created_at "2023-05-28T15:20:35.248Z",
    # in_reply_to_id "110446983926957470".
    handler = Recording(lambda request: httpx.Response(200, content=CONTEXT))

    connector = _connector((identity,), base_url="https://mastodon.social", tag="x")
    with mock_client(handler) as client:
        replies = connector.recheck(client, [_mention("110446983926957470")], NOW)

    assert handler.requests[0].url.path == "/api/v1/statuses/110446983926957470/context"
    assert len(replies) == 1
    reply = replies[0]
    assert reply.in_reply_to == "110446983926957470"
    assert reply.external_id == "110446984249325790"
    assert reply.created_at == datetime(2023, 5, 28, 15, 20, 35, 248000, tzinfo=UTC)
    assert reply.author == "halcy" and reply.author_id == "43"
    assert reply.url == "https://mastodon.social/@halcy/110446984249325790"
    assert reply.text == "final status"
    assert reply.bot is False
    assert reply.earlier_unseen is False, "1 descendant: far below the anonymous limit of 60"


def test_a_context_cut_at_the_anonymous_limit_marks_the_reply_not_exact() -> None:
    """/context without a token stops at 60 descendants (Mastodon's DESCENDANTS_LIMIT): the
    recorded context with 59 more replies by someone else before halcy's (the recorded
    status, new ids) is full, so an earlier brand reply may be among those left out."""
    data = json.loads(CONTEXT)
    [recorded] = data["descendants"]
    others = []
    for n in range(59):
        other = copy.deepcopy(recorded)
        other["id"] = str(110446983926957471 + n)
        other["account"] = {**recorded["account"], "id": "999", "username": "x", "acct": "x"}
        others.append(other)
    data["descendants"] = [*others, recorded]
    halcy = BrandIdentity("mastodon", handle="halcy")
    connector = _connector((halcy,), base_url="https://mastodon.social", tag="x")
    with mock_client(lambda request: httpx.Response(200, json=data)) as client:
        [reply] = connector.recheck(client, [_mention("110446983926957470")], NOW)
    assert reply.external_id == "110446984249325790"
    assert reply.earlier_unseen is True


def test_recheck_finds_nothing_when_no_descendant_is_the_brand() -> None:
    connector = _connector((BrandIdentity("mastodon", handle="acme"),), tag="x")
    with mock_client(lambda request: httpx.Response(200, content=CONTEXT)) as client:
        assert connector.recheck(client, [_mention("110446983926957470")], NOW) == []


def test_recheck_skips_a_deleted_mention_and_goes_on() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/1/" in request.url.path:
            return httpx.Response(404, json={"error": "Record not found"})
        return httpx.Response(200, content=CONTEXT)

    connector = _connector((BrandIdentity("mastodon", handle="halcy"),), tag="x")
    with mock_client(handler) as client:
        replies = connector.recheck(client, [_mention("1"), _mention("110446983926957470")], NOW)
    assert [r.external_id for r in replies] == ["110446984249325790"]


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(400),
        # the recorded context cut short: a body that is not JSON
        httpx.Response(200, content=CONTEXT[: len(CONTEXT) // 2]),
    ],
    ids=["refused", "malformed"],
)
def test_recheck_skips_one_unreadable_context_counts_it_and_reads_the_others(
    bad: httpx.Response, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/1/" in request.url.path:
            return bad
        return httpx.Response(200, content=CONTEXT)

    connector = _connector((BrandIdentity("mastodon", handle="halcy"),), tag="x")
    with mock_client(handler) as client:
        replies = connector.recheck(client, [_mention("1"), _mention("110446983926957470")], NOW)
    assert [r.external_id for r in replies] == ["110446984249325790"]
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "mastodon recheck: skipped 1 of 2 items it could not read (first: 1:" in (
        warning.message
    )


def test_recheck_raises_when_no_context_could_be_read() -> None:
    connector = _connector((BrandIdentity("mastodon", handle="halcy"),), tag="x")
    with (
        mock_client(lambda request: httpx.Response(400)) as client,
        pytest.raises(MalformedResponse, match="unexpected HTTP 400"),
    ):
        connector.recheck(client, [_mention("1"), _mention("2")], NOW)


def test_recheck_a_rate_limit_after_only_unreadable_contexts_is_raised_as_a_rate_limit() -> None:
    # The first context is refused (400, skipped as unreadable), the second answers 429: the
    # walk read nothing, so the 429 is what the feed must see (a history walk waits it out),
    # not the 400 as "nothing could be read" (a history walk stops on that).
    def handler(request: httpx.Request) -> httpx.Response:
        if "/1/" in request.url.path:
            return httpx.Response(400)
        return httpx.Response(429, headers={"Retry-After": "30"})

    connector = _connector((BrandIdentity("mastodon", handle="halcy"),), tag="x")
    with mock_client(handler) as client, pytest.raises(RateLimited) as raised:
        connector.recheck(client, [_mention("1"), _mention("110446983926957470")], NOW)
    assert raised.value.retry_after == 30.0


def test_brand_status_with_in_reply_to_in_the_poll_is_a_reply_not_a_mention() -> None:
    # The recorded reply by admin (id 117020583258292382, 2026-08-01T13:53:15.910Z) answers
    # status 117020583245459824; served here as a one-status tag timeline page.
    connector = _connector((BrandIdentity("mastodon", handle="admin"),), tag="hoot")
    with mock_client(lambda request: httpx.Response(200, json=[REPLY])) as client:
        result = connector.poll(client, FeedCursor(), NOW)
    assert result.mentions == []
    [reply] = result.brand_replies
    assert reply.in_reply_to == "117020583245459824"
    assert reply.external_id == "117020583258292382"
    assert reply.created_at == datetime(2026, 8, 1, 13, 53, 15, 910000, tzinfo=UTC)
    assert reply.text == "@mastodonpy_test_2 same!"
    assert result.state.cursor == "117020583258292382"


def test_tag_timeline_first_poll_yields_the_status_and_saves_its_id() -> None:
    handler = Recording(
        lambda request: httpx.Response(
            200, content=TAG_PAGE, headers=_headers("timeline_tag_hoot_local_instance.headers.json")
        )
    )

    with mock_client(handler) as client:
        result = _connector(tag="#hoot").poll(client, FeedCursor(), NOW)

    assert handler.requests[0].url.path == "/api/v1/timelines/tag/hoot"
    assert "min_id" not in handler.requests[0].url.params
    [mention] = result.mentions
    assert mention.external_id == "117020593741189701"
    assert mention.created_at == datetime(2026, 8, 1, 13, 55, 55, 867000, tzinfo=UTC)
    assert mention.author == "mastodonpy_test_2"
    assert mention.author_id == "117020566092212359"
    assert mention.text == "#hoot (hashtag toot)"
    assert mention.url == "http://localhost:3000/@mastodonpy_test_2/117020593741189701"
    assert mention.language == "ja"
    assert result.state.cursor == "117020593741189701"
    assert result.state.etag == 'W/"1959be2cab840530950fde53c158e465"'


def test_next_poll_asks_only_for_statuses_newer_than_the_cursor() -> None:
    handler = Recording(lambda request: httpx.Response(200, json=[]))

    state = FeedCursor(cursor="117020593741189701", etag='W/"v1"')
    with mock_client(handler) as client:
        result = _connector(tag="hoot").poll(client, state, NOW)
    assert handler.requests[0].url.params["min_id"] == "117020593741189701"
    assert handler.requests[0].headers["If-None-Match"] == 'W/"v1"'
    assert result.mentions == []
    assert result.state.cursor == "117020593741189701"


def test_full_page_follows_the_link_prev_min_id(monkeypatch: pytest.MonkeyPatch) -> None:
    # With a page size of 1 the recorded one-item page counts as full, so the connector
    # follows rel="prev" (min_id=21 in the recorded Link header) and then meets an empty page.
    monkeypatch.setattr("connectors.sources.mastodon.PAGE_SIZE", 1)
    monkeypatch.setenv("MASTODON_TOKEN", "t0k3n")
    page = fixture_bytes("mastodon", "notifications_types_mention_local_instance.json")
    headers = _headers("notifications_types_mention_local_instance.headers.json")
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if len(requests) == 1:
            return httpx.Response(200, content=page, headers=headers)
        return httpx.Response(200, json=[])

    connector = _connector(mentions=True, token_env="MASTODON_TOKEN")
    result = poll_with(connector, handler, NOW, FeedCursor(cursor="20"))
    assert [r.url.params["min_id"] for r in requests] == ["20", "21"]
    assert [m.external_id for m in result.mentions] == ["117020577157693549"]
    assert result.state.cursor == "21"


def test_mentions_skip_notifications_whose_status_is_null_and_send_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Recorded on mastodon.social: 40 mention notifications, 39 with "status": null.
    monkeypatch.setenv("MASTODON_TOKEN", "t0k3n")
    page = fixture_bytes("mastodon", "notifications_mastodon_social_mentions_some_null_status.json")
    handler = Recording(lambda request: httpx.Response(200, content=page))

    connector = _connector(mentions=True, token_env="MASTODON_TOKEN", backfill="60d")
    with mock_client(handler) as client:
        result = connector.poll(client, FeedCursor(), datetime(2026, 4, 12, tzinfo=UTC))

    assert handler.requests[0].url.path == "/api/v1/notifications"
    assert handler.requests[0].url.params.get_list("types[]") == ["mention"]
    assert handler.requests[0].headers["Authorization"] == "Bearer t0k3n"
    [mention] = result.mentions
    assert mention.external_id == "116275331587890092"
    assert mention.author == "latencyobs@icosahedron.website"
    assert mention.created_at.tzinfo is not None
    # the cursor is the newest notification id, not a status id
    assert result.state.cursor == "550622655"


def test_missing_token_env_is_an_auth_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MASTODON_TOKEN", raising=False)
    connector = _connector(mentions=True, token_env="MASTODON_TOKEN")
    with (
        mock_client(lambda request: httpx.Response(200, json=[])) as client,
        pytest.raises(AuthError, match="MASTODON_TOKEN"),
    ):
        connector.poll(client, FeedCursor(), NOW)


def test_401_tells_the_operator_which_token_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTODON_TOKEN", "expired")
    connector = _connector(mentions=True, token_env="MASTODON_TOKEN")
    handler = lambda request: httpx.Response(401, json={"error": "The access token is invalid"})  # noqa: E731
    with mock_client(handler) as client, pytest.raises(AuthError, match="MASTODON_TOKEN"):
        connector.poll(client, FeedCursor(), NOW)


def test_search_keeps_the_local_id_and_the_remote_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # Recorded /api/v2/search on mastodon.social: remote statuses have a local id that differs
    # from the id in their home-server url/uri.
    monkeypatch.setenv("MASTODON_TOKEN", "t0k3n")
    page = fixture_bytes("mastodon", "search_v2_q_halcy_resolve_mastodon_social.json")
    handler = Recording(lambda request: httpx.Response(200, content=page))

    connector = _connector(query="halcy", token_env="MASTODON_TOKEN", backfill="7d")
    with mock_client(handler) as client:
        result = connector.poll(client, FeedCursor(), datetime(2026, 4, 12, tzinfo=UTC))

    assert handler.requests[0].url.params["type"] == "statuses"
    assert handler.requests[0].url.params["q"] == "halcy"
    by_id = {m.external_id: m for m in result.mentions}
    greg = by_id["116388149027005349"]
    assert greg.url == "https://icosahedron.website/@greg/116388148912635764"
    assert greg.extra["uri"] == "https://icosahedron.website/users/greg/statuses/116388148912635764"
    assert greg.parent_id == "116387888508422624"
    assert greg.created_at == datetime(2026, 4, 11, 21, 16, 53, tzinfo=UTC)
    assert result.state.cursor == "116388149027005349"


def test_429_without_retry_after_waits_for_the_rate_limit_reset() -> None:
    # Mastodon's 429 carries X-RateLimit-Reset (ISO) but no Retry-After; the reset seen on
    # the previous answer tells how long to wait.
    answers = iter(
        [
            httpx.Response(200, json=[], headers={"X-RateLimit-Reset": "2026-08-02T12:03:00Z"}),
            httpx.Response(429, json={"error": "Too many requests"}),
        ]
    )
    connector = _connector(tag="hoot")
    with mock_client(lambda request: next(answers)) as client:
        connector.poll(client, FeedCursor(), NOW)
        with pytest.raises(RateLimited) as caught:
            connector.poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == 180


def test_429_with_nothing_known_waits_for_the_next_five_minute_window() -> None:
    connector = _connector(tag="hoot")
    now = datetime(2026, 8, 2, 12, 1, 30, tzinfo=UTC)
    with (
        mock_client(lambda request: httpx.Response(429)) as client,
        pytest.raises(RateLimited) as caught,
    ):
        connector.poll(client, FeedCursor(), now)
    assert caught.value.retry_after == 210


def test_first_poll_ignores_statuses_older_than_the_backfill_window() -> None:
    connector = _connector(tag="hoot", backfill="1h")
    with mock_client(lambda request: httpx.Response(200, content=TAG_PAGE)) as client:
        result = connector.poll(client, FeedCursor(), NOW)  # the status is 22 h old
    assert result.mentions == []
    assert result.state.cursor == "117020593741189701"


@pytest.mark.parametrize(
    "options",
    [{}, {"tag": "a", "mentions": True, "token_env": "T"}, {"mentions": True}, {"query": "x"}],
)
def test_options_need_exactly_one_stream_and_a_token_where_required(
    options: dict[str, Any],
) -> None:
    with pytest.raises(ValueError):
        MastodonOptions.model_validate(options)
