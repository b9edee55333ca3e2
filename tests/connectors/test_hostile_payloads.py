"""Hostile answers to the issue-22 connectors: wrong types, future times, odd ids."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors import FeedCursor, MalformedResponse, RateLimited
from connectors.errors import ConnectorError, TransientError
from connectors.sources.tripadvisor import TripadvisorConnector, TripadvisorOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, poll_with

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TA_PAGE = json.loads(fixture_bytes("tripadvisor", "location_reviews_page_from_docs.json"))


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIPADVISOR_API_KEY", "ta-secret-key-0123456789")


def _tripadvisor(page: Any, state: FeedCursor | None = None) -> Any:
    connector = TripadvisorConnector(
        TripadvisorOptions.model_validate({"location_id": "1234567"}),
        feed_name="acme-tripadvisor",
        identities=[],
    )
    answer = Recording(lambda request: httpx.Response(200, json=page))
    return poll_with(connector, answer, NOW, state)


@pytest.mark.parametrize(
    ("field", "value"),
    [("text", 123), ("text", ["<b>x</b>"]), ("title", {"a": 1}), ("url", 7)],
)
def test_tripadvisor_review_field_of_the_wrong_type_is_not_a_crash(field: str, value: Any) -> None:
    page = copy.deepcopy(TA_PAGE)
    page["data"][0][field] = value
    result = _tripadvisor(page)
    first = next(m for m in result.mentions if m.external_id == str(page["data"][0]["id"]))
    assert isinstance(first.text, str) and isinstance(first.url, str | None)
    assert len(result.mentions) == 4  # the other reviews are read as before


def test_tripadvisor_owner_response_text_of_the_wrong_type_is_not_a_crash() -> None:
    page = copy.deepcopy(TA_PAGE)
    page["data"][0]["owner_response"] = {"id": 9, "text": 5, "author": ["x"]}
    result = _tripadvisor(page)
    reply = next(r for r in result.brand_replies if r.in_reply_to == str(page["data"][0]["id"]))
    assert reply.text is None and reply.author is None


def test_tripadvisor_review_with_an_object_for_an_id_is_skipped() -> None:
    page = copy.deepcopy(TA_PAGE)
    page["data"][0]["id"] = {"x": 1}
    result = _tripadvisor(page)
    assert all(m.external_id.isdigit() for m in result.mentions)
    assert any("skipped" in w for w in result.warnings)


def test_tripadvisor_cursor_never_moves_past_now() -> None:
    # a review dated in 2999 must not hide every review published until then
    page = copy.deepcopy(TA_PAGE)
    page["data"][0]["published_date"] = "2999-01-01T00:00:00Z"
    result = _tripadvisor(page)
    assert result.state.cursor is not None
    assert datetime.fromisoformat(result.state.cursor) <= NOW


# -- X ---------------------------------------------------------------------------------


def _x_poll(page: dict[str, Any], state: FeedCursor | None = None) -> Any:
    from tests.connectors.test_x import NOW as X_NOW
    from tests.connectors.test_x import answer, connector, poll

    return poll(connector({"query": "brexit"}), answer({"/search/recent": page}), state, X_NOW)


def _brexit() -> dict[str, Any]:
    from tests.connectors.test_x import brexit

    return brexit()


@pytest.fixture
def _x_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "AAAA-secret-bearer")


@pytest.mark.usefixtures("_x_token")
@pytest.mark.parametrize("odd", ["²", "١٢٣", "-5", " 7", ""])
def test_x_post_id_that_is_not_ascii_digits_is_malformed(odd: str) -> None:
    # "²".isdigit() is True and int("²") raises ValueError: the poll died with a Python error
    page = _brexit()
    page["data"][0]["id"] = odd
    with pytest.raises(MalformedResponse, match="numeric id"):
        _x_poll(page)


@pytest.mark.usefixtures("_x_token")
def test_x_post_id_beyond_64_bits_does_not_carry_the_cursor() -> None:
    # a 40-digit id moved since_id past every real post (all later posts lost), and without
    # created_at its snowflake time overflowed: OverflowError on this poll and every next one
    page = _brexit()
    real_newest = page["data"][0]["id"]
    page["data"][0]["id"] = "9" * 40
    del page["data"][0]["created_at"]
    with pytest.raises(MalformedResponse, match="numeric id"):
        _x_poll(page)
    page["data"][0]["id"] = str(2**63 - 1)  # a 64-bit id dated in 2080 by its snowflake
    page["data"][0]["created_at"] = "2021-09-22T16:00:00.000Z"
    result = _x_poll(page)
    assert json.loads(result.state.cursor)["since_id"] != str(2**63 - 1)
    assert int(json.loads(result.state.cursor)["since_id"]) < int(real_newest) + 2**40


@pytest.mark.usefixtures("_x_token")
@pytest.mark.parametrize("since", ["9" * 40, "²", str(2**64)])
def test_x_saved_cursor_with_an_odd_since_id_reads_as_a_first_run(since: str) -> None:
    state = FeedCursor(cursor=json.dumps({"since_id": since, "brand": {since: since}}))
    result = _x_poll(_brexit(), state)
    assert json.loads(result.state.cursor)["since_id"] == _brexit()["data"][0]["id"]


# -- Threads ---------------------------------------------------------------------------


@pytest.fixture
def _threads_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADS_ACCESS_TOKEN", "THAAtestthreadstoken0123456789")


def _threads_search(page: dict[str, Any]) -> Any:
    from tests.connectors.test_threads import NOW as THREADS_NOW
    from tests.connectors.test_threads import _api, _connector

    connector = _connector(query="acme", own_threads=False)
    return poll_with(connector, _api({"keyword_search": page}), THREADS_NOW)


@pytest.mark.usefixtures("_threads_token")
def test_threads_cursor_never_moves_past_now() -> None:
    # a post stamped 2999 carried `since` there: every later search asked from 2999 and
    # every mention older than it was dropped as outside the window, for good
    from tests.connectors.test_threads import NOW as THREADS_NOW
    from tests.connectors.test_threads import SEARCH

    page = copy.deepcopy(SEARCH)
    page["data"][0]["timestamp"] = "2999-01-01T00:00:00+0000"
    result = _threads_search(page)
    assert datetime.fromisoformat(json.loads(result.state.cursor)["since"]) <= THREADS_NOW


@pytest.mark.usefixtures("_threads_token")
@pytest.mark.parametrize("odd", [{"a": 1}, ["x"], True, 1.5])
def test_threads_item_whose_id_is_not_a_string_or_number_is_skipped(odd: Any) -> None:
    from tests.connectors.test_threads import SEARCH

    page = copy.deepcopy(SEARCH)
    page["data"][0]["id"] = odd
    page["data"][1]["root_post"] = {"id": odd}
    result = _threads_search(page)
    ids = [m.external_id for m in result.mentions]
    assert ids and all(i.isdigit() for i in ids)
    assert all(m.thread_id is None or m.thread_id.isdigit() for m in result.mentions)


# -- Facebook and Instagram: a comment stamped ahead of our clock ------------------------


@pytest.fixture
def _meta_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEBOOK_PAGE_TOKEN", "EAAGm0PX4ZCpsBAKZCZCtesttoken")
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "EAAB-test-token-123456")


@pytest.mark.usefixtures("_meta_tokens")
def test_facebook_cursor_never_moves_past_now() -> None:
    # one comment stamped 2999 moved `since` there: every comment written until then was
    # "not new" and every post "not updated since the cursor", for good
    from tests.connectors.test_facebook import NOW as FB_NOW
    from tests.connectors.test_facebook import Graph, connector, recorded_stream
    from tests.support.mock_http import mock_client

    stream = recorded_stream()
    stream["data"][0]["created_time"] = "2999-01-01T00:00:00+0000"
    with mock_client(Graph(comments=stream)) as client:
        result = connector().poll(client, FeedCursor(), FB_NOW)
    assert result.state.cursor is not None
    assert datetime.fromisoformat(json.loads(result.state.cursor)["since"]) <= FB_NOW


@pytest.mark.usefixtures("_meta_tokens")
def test_instagram_cursor_never_moves_past_now() -> None:
    from tests.connectors.test_instagram import (
        LIXIANG,
        MEDIA_NODE,
        Api,
        comments_page,
        connector,
        media_page,
        poll,
        thread,
    )
    from tests.connectors.test_instagram import NOW as IG_NOW

    ahead = {**LIXIANG, "timestamp": "2999-01-01T00:00:00+0000"}
    result = poll(
        Api(media=media_page(MEDIA_NODE), comments=comments_page(thread(ahead))), connector()
    )
    assert datetime.fromisoformat(json.loads(result.state.cursor)["since"]) <= IG_NOW


# -- the Graph error envelope ------------------------------------------------------------


def _graph_error(message: str, code: int = 100, status: int = 400) -> Exception:
    from connectors.metagraph import graph_get
    from tests.support.mock_http import mock_client

    body = {"error": {"message": message, "type": "OAuthException", "code": code}}
    answer = mock_client(lambda request: httpx.Response(status, json=body))
    with answer as client, pytest.raises(ConnectorError) as caught:
        graph_get(
            client,
            "https://graph.facebook.com/v26.0",
            "1/feed",
            token="EAAGm0PX4ZCpsBAKZCZCtesttoken",
            token_env="FACEBOOK_PAGE_TOKEN",
            app_secret="appsecret-0123456789",
        )
    return caught.value


def test_graph_error_quoting_the_appsecret_proof_hides_it() -> None:
    from connectors.metagraph import appsecret_proof

    proof = appsecret_proof("EAAGm0PX4ZCpsBAKZCZCtesttoken", "appsecret-0123456789")
    error = _graph_error(f"Invalid appsecret_proof {proof} for token EAAGm0PX4ZCpsBAKZCZCtesttoken")
    assert proof not in str(error) and "EAAGm0PX4ZCpsBAKZCZCtesttoken" not in str(error)


def test_graph_error_with_a_huge_message_is_cut() -> None:
    # a 100 kB message went whole into the exception: every log line and the feed's stored
    # error; X and Tripadvisor already cut what they quote at 300 characters
    error = _graph_error("x" * 100_000, code=1, status=500)
    assert isinstance(error, TransientError)
    assert len(str(error)) < 1000


@pytest.mark.parametrize("status", [200, 400, 500])
def test_tripadvisor_error_quoting_the_key_never_carries_it(status: int) -> None:
    # the refusals (4xx, 5xx) hid the key; an error envelope in a 200 quoted it
    key = "ta-secret-key-0123456789"
    body = {"error": {"message": f"key {key} is not valid for this location", "code": 7}}
    connector = TripadvisorConnector(
        TripadvisorOptions.model_validate({"location_id": "1234567"}),
        feed_name="acme-tripadvisor",
        identities=[],
    )
    answer = Recording(lambda request: httpx.Response(status, json=body))
    with pytest.raises(ConnectorError) as caught:
        poll_with(connector, answer, NOW)
    assert key not in str(caught.value)


@pytest.mark.usefixtures("_x_token")
@pytest.mark.parametrize(
    ("where", "value"),
    [("referenced_tweets", 5), ("referenced_tweets", True), ("errors", 5), ("lang", 5)],
)
def test_x_field_of_the_wrong_type_is_not_a_crash(where: str, value: Any) -> None:
    # `for ref in tweet.get("referenced_tweets") or []` raised TypeError on a number
    page = _brexit()
    if where == "errors":
        page["errors"] = value
    else:
        page["data"][0][where] = value
    result = _x_poll(page)
    assert len(result.mentions) == len(_x_poll(_brexit()).mentions)
    assert all(m.language is None or isinstance(m.language, str) for m in result.mentions)


@pytest.mark.usefixtures("_meta_tokens")
@pytest.mark.parametrize(
    ("field", "value"), [("timestamp", 5), ("timestamp", "yesterday"), ("id", {"a": 1})]
)
def test_instagram_one_unreadable_comment_does_not_fail_the_feed(field: str, value: Any) -> None:
    # one comment without a readable time raised MalformedResponse for the whole poll, on
    # every poll while its media stayed among the newest: the feed read nothing else
    from tests.connectors.test_instagram import (
        IKROSKUN,
        LIXIANG,
        MEDIA_NODE,
        OWNER_REPLY,
        Api,
        comments_page,
        connector,
        media_page,
        poll,
        thread,
    )

    junk = {**LIXIANG, "id": "900050", field: value}
    junk_reply = {**OWNER_REPLY, "id": "900051", field: value}
    api = Api(
        media=media_page(MEDIA_NODE),
        comments=comments_page(thread(junk), thread(LIXIANG, junk_reply, OWNER_REPLY)),
    )
    result = poll(api, connector(identities=(IKROSKUN,)))
    assert [m.external_id for m in result.mentions] == [LIXIANG["id"]]
    assert [r.external_id for r in result.brand_replies] == [OWNER_REPLY["id"]]
    assert sum("skipped" in w for w in result.warnings) == 2


def _x_answer(status: int, headers: list[tuple[bytes, bytes]]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        body = _brexit() if status == 200 else {"title": "Too Many Requests"}
        return httpx.Response(status, json=body, headers=headers)

    return handler


@pytest.mark.usefixtures("_x_token")
@pytest.mark.parametrize("status", [200, 429])
def test_x_rate_limit_reset_header_of_junk_is_not_a_crash(status: int) -> None:
    # "²".isdigit() is True and float("²") raises: a Latin-1 byte in a header failed the poll
    from tests.connectors.test_x import NOW as X_NOW
    from tests.connectors.test_x import connector, poll

    headers = [(b"x-rate-limit-remaining", b"0"), (b"x-rate-limit-reset", b"\xb2")]
    conn = connector({"query": "brexit"})
    if status == 429:
        with pytest.raises(RateLimited) as caught:
            poll(conn, _x_answer(status, headers))
        assert caught.value.retry_after is not None and caught.value.retry_after > 0
    else:
        poll(conn, _x_answer(status, headers))
        assert conn.not_before(X_NOW) is not None  # the window is used up: wait for it


@pytest.mark.usefixtures("_x_token")
@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-rate-limit-remaining", b"0"), (b"x-rate-limit-reset", b"1")],  # 1970: past
        [(b"retry-after", b"-5")],
        [(b"retry-after", b"0")],
    ],
)
def test_x_429_never_asks_to_retry_at_once(headers: list[tuple[bytes, bytes]]) -> None:
    # a reset already past by our clock (the clocks differ) gave retry_after 0.0: the feed
    # was due again at once and met the same 429, in a tight loop against a limited API
    from tests.connectors.test_x import connector, poll

    with pytest.raises(RateLimited) as caught:
        poll(connector({"query": "brexit"}), _x_answer(429, headers))
    assert caught.value.retry_after is not None and caught.value.retry_after >= 30


def test_shared_check_response_reads_a_junk_reset_header_as_absent() -> None:
    # connectors/http.py read X-RateLimit-Reset with isdigit(): "²" passed, float() raised
    from connectors.http import check_response

    headers = [(b"X-RateLimit-Remaining", b"0"), (b"X-RateLimit-Reset", b"\xb2")]
    with pytest.raises(RateLimited) as caught:
        check_response(httpx.Response(403, headers=headers))
    assert caught.value.retry_after is None


@pytest.mark.usefixtures("_meta_tokens")
def test_facebook_bot_reply_does_not_use_up_the_human_answer() -> None:
    # C2's thread: the customer at 19:38:44, then an auto-reply by a bot account of the
    # brand, then the Page's own (human) answer the next day. The bot's comment closed the
    # customer's "turn", so the Page's answer answered nothing: the pipeline ignores bot
    # replies, and the mention stayed open forever
    from connectors import BrandIdentity
    from tests.connectors.test_facebook import (
        C2,
        LATE_C2,
        POST_OBJECT,
        REPLY_C2,
        Graph,
        connector,
        recorded_stream,
    )
    from tests.connectors.test_facebook import (
        NOW as FB_NOW,
    )
    from tests.support.mock_http import mock_client

    stream = recorded_stream()
    bot = copy.deepcopy(next(c for c in stream["data"] if c["id"] == LATE_C2))
    bot.update(
        id=f"{POST_OBJECT}_7",
        created_time="2021-08-10T19:39:00+0000",
        **{"from": {"name": "Acme Auto Reply", "id": "4242"}},
    )
    stream["data"].append(bot)
    helpbot = BrandIdentity(platform="facebook", account_id="4242", bot=True)
    with mock_client(Graph(comments=stream)) as client:
        result = connector((helpbot,)).poll(client, FeedCursor(), FB_NOW)
    human = [r for r in result.brand_replies if r.in_reply_to == C2 and not r.bot]
    assert [r.external_id for r in human] == [REPLY_C2]
    assert [r.in_reply_to for r in result.brand_replies if r.bot] == [C2]


@pytest.mark.usefixtures("_threads_token")
def test_threads_brand_reply_found_by_the_search_too_is_still_the_answer() -> None:
    # the keyword search was read before the brand's own replies, and an id seen once is
    # not read again: the brand's reply matching the query (as "Acme support here" does)
    # became a mention, its /me/replies copy was dropped, and Jamie's post stayed unanswered
    from tests.connectors.test_threads import MINE, SEARCH, _api, _connector
    from tests.connectors.test_threads import NOW as THREADS_NOW

    search = copy.deepcopy(SEARCH)
    reply = copy.deepcopy(MINE["data"][0])
    reply["text"] = "Acme support here: " + reply["text"]
    search["data"].insert(0, reply)
    connector = _connector(identities=[], query="acme", own_threads=False)
    result = poll_with(connector, _api({"keyword_search": search}), THREADS_NOW)
    assert reply["id"] not in {m.external_id for m in result.mentions}
    assert {(r.external_id, r.in_reply_to) for r in result.brand_replies} >= {
        (reply["id"], "18000000000000001")
    }
    # the brand's own post in the search is no mention either, once its name is known
    assert "18000000000000003" not in {m.external_id for m in result.mentions}


@pytest.mark.parametrize("rating", [True, "5", [5], None])
def test_tripadvisor_rating_that_is_not_a_number_is_no_rating(rating: Any) -> None:
    # True passed `isinstance(rating, int | float) and 1 <= rating <= 5`: a 1-star review
    page = copy.deepcopy(TA_PAGE)
    page["data"][0]["rating"] = rating
    result = _tripadvisor(page)
    first = next(m for m in result.mentions if m.external_id == str(page["data"][0]["id"]))
    assert first.rating is None


@pytest.mark.usefixtures("_meta_tokens")
def test_facebook_comments_data_that_is_not_a_list_is_not_a_crash() -> None:
    # `for r in data or []` over a rating story's (or a thread's) comments raised TypeError
    # on a number: the whole poll, or the whole recheck, failed with a Python error
    from tests.connectors.test_facebook import NOW as FB_NOW
    from tests.connectors.test_facebook import Graph, connector, open_mention, ratings_page
    from tests.support.mock_http import mock_client

    ratings = ratings_page()
    ratings["data"][0]["open_graph_story"]["comments"] = {"data": 5}
    result = poll_with(
        connector(watch=["ratings"], backfill="3650d"), Graph(ratings=ratings), FB_NOW
    )
    assert len(result.mentions) == 4
    node = {"id": "77_1", "created_time": "2021-08-10T19:38:44+0000", "comments": {"data": 5}}
    created = datetime(2021, 8, 10, 19, 38, 44, tzinfo=UTC)
    with mock_client(Graph(nodes={"77_1": (200, node)})) as client:
        assert connector().recheck(client, [open_mention("77_1", "77_1", created)], FB_NOW) == []


@pytest.mark.usefixtures("_meta_tokens")
@pytest.mark.parametrize(("field", "value"), [("timestamp", None), ("id", ["x"])])
def test_instagram_one_unreadable_tag_does_not_fail_the_feed(field: str, value: Any) -> None:
    from tests.connectors.test_instagram import TAGS, Api, connector, poll

    tags = copy.deepcopy(TAGS)
    tags["data"][0][field] = value
    result = poll(Api(tags=tags), connector(watch=["tags"]))
    assert len(result.mentions) == len(poll(Api(tags=TAGS), connector(watch=["tags"])).mentions) - 1
    assert any("skipped" in w for w in result.warnings)
