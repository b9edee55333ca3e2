"""The X connector on recorded API v2 pages: mentions, the brand's replies, cursor, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from connectors import (
    AuthError,
    BrandIdentity,
    FeedCursor,
    Narrowing,
    NotFoundError,
    RateLimited,
)
from connectors.errors import MalformedResponse
from connectors.sources.x import XConnector, XOptions, snowflake_time
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, mock_client

NOW = datetime(2021, 9, 22, 17, 0, tzinfo=UTC)
TOKEN = "AAAA-secret-bearer"
ENV = {"X_BEARER_TOKEN": TOKEN}

# @calin_a (870028999) answers @AndrewKnight226 (1717521084) in the #brexit page
CALIN_ID = "870028999"
CALIN_REPLY = "1440716745577140229"
ANDREW_POST = "1440621713281093641"


def twarc_page(name: str) -> dict[str, Any]:
    """A twarc2 archive line: the API body plus the tool's own "__twarc" key."""
    line = fixture_bytes("x", name).decode().splitlines()[0]
    page: dict[str, Any] = json.loads(line)
    return page


def brexit() -> dict[str, Any]:
    return twarc_page("search_recent_brexit_full_expansions_2021-09-22_twarc2.jsonl")


def obama() -> dict[str, Any]:
    return twarc_page("search_recent_obama_32_replies_2021-04-08_twarc2.jsonl")


def timeline_of(page: dict[str, Any], author_id: str, **meta: Any) -> dict[str, Any]:
    """A GET /2/users/:id/tweets page made of one author's real posts in a recorded page
    (newest first, as the timeline answers), with that author's user object."""
    posts = [t for t in page["data"] if t.get("author_id") == author_id]
    users = [u for u in page["includes"]["users"] if u["id"] == author_id]
    return {
        "data": posts,
        "includes": {"users": users},
        "meta": {
            "result_count": len(posts),
            "newest_id": posts[0]["id"],
            "oldest_id": posts[-1]["id"],
            **meta,
        },
    }


def with_parent(page: dict[str, Any], post_id: str) -> dict[str, Any]:
    """The page with a post of its includes.tweets moved into data (where a search for it
    would return it), kept newest first."""
    parent = next(t for t in page["includes"]["tweets"] if t["id"] == post_id)
    data = sorted([*page["data"], parent], key=lambda t: int(t["id"]), reverse=True)
    return {**page, "data": data}


def answer(routes: dict[str, Any], headers: dict[str, str] | None = None) -> Recording:
    """Answers each request by the longest route that its path ends with."""

    def handler(request: httpx.Request) -> httpx.Response:
        for suffix in sorted(routes, key=len, reverse=True):
            if request.url.path.endswith(suffix):
                body = routes[suffix]
                if callable(body):
                    result: httpx.Response = body(request)
                    return result
                return httpx.Response(200, json=body, headers=headers or {})
        return httpx.Response(200, json={"meta": {"result_count": 0}}, headers=headers or {})

    return Recording(handler)


def connector(options: dict[str, Any], identities: list[BrandIdentity] | None = None) -> XConnector:
    return XConnector(
        XOptions.model_validate(options), feed_name="acme-x", identities=identities or []
    )


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def poll(
    conn: XConnector,
    handler: Callable[[httpx.Request], httpx.Response],
    state: FeedCursor | None = None,
    now: datetime = NOW,
) -> Any:
    with mock_client(handler) as client:
        return conn.poll(client, state or FeedCursor(), now)


# -- options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"query": "acme", "user_id": "783214"}, {"user_id": "@acme"}, {"query": "  "}],
)
def test_options_need_exactly_one_source(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        XOptions.model_validate(options)


# -- the search stream -----------------------------------------------------------------


def test_search_page_gives_mentions_with_usernames_and_skips_retweets() -> None:
    recorder = answer({"/2/tweets/search/recent": brexit()})
    result = poll(connector({"query": "#brexit"}), recorder)

    [request] = recorder.requests
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.url.params["query"] == "#brexit"
    assert request.url.params["expansions"] == "author_id"
    assert request.url.params["user.fields"] == "username,name"
    for name in ("created_at", "conversation_id", "in_reply_to_user_id", "referenced_tweets"):
        assert name in request.url.params["tweet.fields"].split(",")
    assert "since_id" not in request.url.params  # a first run

    # 100 posts, 67 of them retweets: the other 33 are mentions (none by the brand)
    assert len(result.mentions) == 33
    assert result.brand_replies == []
    by_id = {m.external_id: m for m in result.mentions}
    reply = by_id[CALIN_REPLY]
    assert reply.author == "calin_a" and reply.author_id == CALIN_ID
    assert reply.created_at == datetime(2021, 9, 22, 16, 36, 54, tzinfo=UTC)
    assert reply.parent_id == ANDREW_POST and reply.thread_id == ANDREW_POST
    assert reply.url == f"https://x.com/calin_a/status/{CALIN_REPLY}"
    # the self-thread: OldUnclePunch answers himself inside conversation 1440709708738748423
    punch = by_id["1440714901538803715"]
    assert punch.author == "OldUnclePunch"
    assert punch.parent_id == "1440714041480015878"
    assert punch.thread_id == "1440709708738748423"
    assert json.loads(result.state.cursor) == {"since_id": "1440716895355764743", "brand": {}}
    assert all("__twarc" not in str(m.extra) for m in result.mentions)


def test_next_poll_asks_since_id_and_pages_with_next_token_up_to_max_pages() -> None:
    first = brexit()
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=first)  # every page names a next_token

    since = "1440000000000000000"  # 2021-09-20T12:03Z: inside the 7-day window
    saved = FeedCursor(cursor=json.dumps({"since_id": since, "brand": {}}))
    result = poll(connector({"query": "#brexit", "max_pages": 2}), handler, saved)

    assert [c.url.params.get("since_id") for c in calls] == [since, since]
    assert "next_token" not in calls[0].url.params
    assert calls[1].url.params["next_token"] == first["meta"]["next_token"]
    assert len(result.mentions) == 33  # a post seen on two pages is one mention
    assert any("over 2 pages" in w for w in result.warnings)
    assert json.loads(result.state.cursor)["since_id"] == "1440716895355764743"


def test_paging_stops_at_the_saved_position() -> None:
    pages = [brexit(), obama()]  # the second page is older than the saved id
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=pages[len(calls) - 1])

    saved = FeedCursor(cursor=json.dumps({"since_id": "1440000000000000000", "brand": {}}))
    now = NOW
    result = poll(connector({"query": "#brexit", "max_pages": 5}), handler, saved, now)
    assert len(calls) == 2
    assert len(result.mentions) == 33
    assert result.warnings == [] or all("over" not in w for w in result.warnings)


def test_first_run_reads_backfill_pages_only() -> None:
    recorder = answer({"/2/tweets/search/recent": brexit()})
    result = poll(connector({"query": "#brexit", "backfill_pages": 1, "max_pages": 9}), recorder)
    assert len(recorder.requests) == 1  # the page names a next_token; not followed
    assert result.warnings == []


def test_ids_compare_as_numbers_not_text() -> None:
    """'999...' > '1440...' as text; as snowflakes the saved id is older: all posts are new."""
    saved = FeedCursor(cursor=json.dumps({"since_id": "999999999999999999", "brand": {}}))
    now = snowflake_time("999999999999999999") + timedelta(days=1)
    page = brexit()
    for post in page["data"]:
        post["created_at"] = (now - timedelta(hours=1)).isoformat()
    result = poll(connector({"query": "#brexit"}), answer({"/recent": page}), saved, now)
    assert len(result.mentions) == 33
    # and posts at or below the saved id are dropped even when the server sends them
    newest = FeedCursor(cursor=json.dumps({"since_id": "1440716895355764743", "brand": {}}))
    again = poll(connector({"query": "#brexit"}), answer({"/recent": brexit()}), newest)
    assert again.mentions == []
    assert json.loads(again.state.cursor)["since_id"] == "1440716895355764743"


def test_a_cursor_older_than_the_search_window_becomes_start_time() -> None:
    recorder = answer({"/recent": brexit()})
    old = FeedCursor(cursor=json.dumps({"since_id": "1380242611781386245", "brand": {}}))
    result = poll(connector({"query": "#brexit", "max_pages": 1}), recorder, old)

    [request] = recorder.requests
    assert "since_id" not in request.url.params
    assert request.url.params["start_time"] == "2021-09-15T17:02:00Z"
    assert any("7-day search window" in w for w in result.warnings)


def test_unreadable_cursor_is_a_first_run_with_a_warning() -> None:
    recorder = answer({"/recent": brexit()})
    result = poll(connector({"query": "#brexit"}), recorder, FeedCursor(cursor="c1"))
    assert "since_id" not in recorder.requests[0].url.params
    assert any("unreadable" in w for w in result.warnings)


# -- the brand's reply -----------------------------------------------------------------


def test_brand_reply_found_on_the_brand_timeline_is_exact() -> None:
    """@calin_a as the brand: 1440716745577140229 names 1440621713281093641 (@AndrewKnight226,
    10:19:16Z) as replied_to, at 16:36:54Z: TTFR 6 h 17 min 38 s = 22,658 s."""
    page = brexit()
    recorder = answer(
        {
            "/2/tweets/search/recent": page,
            f"/2/users/{CALIN_ID}/tweets": timeline_of(page, CALIN_ID),
        }
    )
    brand = BrandIdentity("x", handle="calin_a", account_id=CALIN_ID)
    result = poll(connector({"query": "#brexit"}, [brand]), recorder)

    timeline = recorder.requests[1]
    assert timeline.url.path == f"/2/users/{CALIN_ID}/tweets"
    assert timeline.url.params["exclude"] == "retweets"
    [reply] = result.brand_replies
    assert reply.external_id == CALIN_REPLY
    assert reply.in_reply_to == ANDREW_POST
    assert reply.author == "calin_a" and not reply.bot
    assert not reply.earlier_unseen  # the timeline was read to its end
    parent = next(t for t in page["includes"]["tweets"] if t["id"] == ANDREW_POST)
    mention_at = datetime.fromisoformat(parent["created_at"])
    assert (reply.created_at - mention_at).total_seconds() == 22658
    # the brand's own post is not a mention
    assert CALIN_REPLY not in {m.external_id for m in result.mentions}
    assert json.loads(result.state.cursor)["brand"] == {CALIN_ID: CALIN_REPLY}


def test_brand_timeline_resumes_from_its_own_since_id() -> None:
    page = brexit()
    recorder = answer({"/recent": page, "/tweets": timeline_of(page, CALIN_ID)})
    brand = BrandIdentity("x", handle="calin_a", account_id=CALIN_ID)
    state = FeedCursor(
        cursor=json.dumps(
            {"since_id": "1440700000000000000", "brand": {CALIN_ID: "1440700000000000001"}}
        )
    )
    poll(connector({"query": "#brexit", "max_pages": 1}, [brand]), recorder, state)
    [timeline] = [r for r in recorder.requests if r.url.path.endswith("/tweets")]
    assert timeline.url.params["since_id"] == "1440700000000000001"


def test_reply_seen_only_in_the_stream_is_an_upper_bound() -> None:
    brand = BrandIdentity("x", handle="calin_a")  # no id: no timeline to read
    recorder = answer({"/recent": brexit()})
    result = poll(connector({"query": "#brexit"}, [brand]), recorder)
    assert len(recorder.requests) == 1
    [reply] = result.brand_replies
    assert reply.in_reply_to == ANDREW_POST
    assert reply.earlier_unseen
    assert any("no `x` brand identity has an `id`" in w for w in result.warnings)


def test_bot_identity_reply_is_marked_bot() -> None:
    page = brexit()
    recorder = answer({"/recent": page, "/tweets": timeline_of(page, CALIN_ID)})
    bot = BrandIdentity("x", handle="calin_a", account_id=CALIN_ID, bot=True)
    [reply] = poll(connector({"query": "#brexit"}, [bot]), recorder).brand_replies
    assert reply.bot


def test_timeline_cut_short_marks_replies_to_older_mentions_earlier_unseen() -> None:
    page = brexit()
    timeline = timeline_of(page, CALIN_ID, next_token="more")
    recorder = answer({"/recent": page, "/tweets": timeline})
    brand = BrandIdentity("x", handle="calin_a", account_id=CALIN_ID)
    saved = {"since_id": "1440700000000000000", "brand": {CALIN_ID: "1440000000000000000"}}
    result = poll(
        connector({"query": "#brexit", "max_pages": 1}, [brand]),
        recorder,
        FeedCursor(cursor=json.dumps(saved)),
    )
    [reply] = result.brand_replies
    # the walk stopped at CALIN_REPLY; the mention (older) may have an earlier reply unread
    assert reply.earlier_unseen


def test_self_thread_is_not_an_answer_and_deeper_reply_answers_its_parent_only() -> None:
    """obama page: LauraisOmitted's 1380242347905183747 replies to her own 1380242345652785166;
    gaudofdeath's 1380242054064660481 replies to 1380241544049950720 (CDonnyBrook1), deep in
    conversation 1380153700044435463, not to its root."""
    page = obama()
    gaud = next(u["id"] for u in page["includes"]["users"] if u["username"] == "gaudofdeath")
    laura = next(u["id"] for u in page["includes"]["users"] if u["username"] == "LauraisOmitted")
    recorder = answer({"/recent": page, f"/users/{gaud}/tweets": timeline_of(page, gaud)})
    brand = BrandIdentity("x", handle="gaudofdeath", account_id=gaud)
    result = poll(
        connector({"query": "obama"}, [brand]), recorder, now=datetime(2021, 4, 9, tzinfo=UTC)
    )

    [reply] = result.brand_replies
    assert reply.in_reply_to == "1380241544049950720"
    assert reply.in_reply_to != "1380153700044435463"
    by_id = {m.external_id: m for m in result.mentions}
    laura_reply = by_id["1380242347905183747"]
    assert laura_reply.author_id == laura and laura_reply.parent_id == "1380242345652785166"
    assert "1380242345652785166" in by_id  # both posts of her thread are mentions
    # the partial error of the page (a suspended user in the expansions) is a warning
    assert any("User has been suspended" in w for w in result.warnings)


def test_reply_to_a_deleted_post_keeps_the_poll_and_warns() -> None:
    deleted = json.loads(fixture_bytes("x", "users_tweets_reply_to_deleted_post_from_docs.json"))
    recorder = answer({"/recent": {"meta": {"result_count": 0}}, "/tweets": deleted})
    brand = BrandIdentity("x", handle="calin_a", account_id=CALIN_ID)
    result = poll(connector({"query": "#brexit"}, [brand]), recorder)
    [reply] = result.brand_replies
    assert reply.in_reply_to == ANDREW_POST
    assert any("Could not find tweet" in w for w in result.warnings)


# -- the mentions timeline -------------------------------------------------------------

MENTIONS = json.loads(
    fixture_bytes("x", "users_783214_mentions_default_fields_2022-10-07_tweepy_cassette.json")
)
# headers of the recorded answer (users_mentions_2022-10-07_tweepy_cassette_FULL.yaml)
CASSETTE_HEADERS = {
    "x-rate-limit-limit": "450",
    "x-rate-limit-remaining": "448",
    "x-rate-limit-reset": "1665183228",
}
CASSETTE_NOW = datetime(2022, 10, 7, 22, 43, 18, tzinfo=UTC)


def test_mentions_timeline_with_default_fields_takes_times_from_snowflakes() -> None:
    recorder = answer({"/mentions": MENTIONS}, CASSETTE_HEADERS)
    conn = connector({"user_id": "783214", "brand_timeline": False})
    result = poll(conn, recorder, now=CASSETTE_NOW)

    [request] = recorder.requests
    assert request.url.path == "/2/users/783214/mentions"
    assert len(result.mentions) == 10
    first = result.mentions[0]
    assert first.external_id == "1578516295611748353"
    # 1578516295611748353 >> 22 = 376,347,612,288 ms after the Twitter epoch (1288834974657):
    # 1665182586945 ms = 2022-10-07T22:43:06.945Z, 11 s before the recording's Date header
    assert first.created_at == datetime(2022, 10, 7, 22, 43, 6, 945000, tzinfo=UTC)
    assert first.author is None  # no author_id asked in that recording
    assert json.loads(result.state.cursor)["since_id"] == MENTIONS["meta"]["newest_id"]
    assert conn.not_before(CASSETTE_NOW) is None  # 448 requests left


def test_mentions_timeline_also_reads_the_brand_account_timeline() -> None:
    recorder = answer({"/mentions": MENTIONS}, CASSETTE_HEADERS)
    poll(connector({"user_id": "783214"}), recorder, now=CASSETTE_NOW)
    assert [r.url.path for r in recorder.requests] == [
        "/2/users/783214/mentions",
        "/2/users/783214/tweets",
    ]


def test_mentions_of_an_unknown_user_is_not_found() -> None:
    body = json.loads(fixture_bytes("x", "mentions_unknown_user_200_errors_from_docs.json"))
    with pytest.raises(NotFoundError, match="user_id"):
        poll(connector({"user_id": "999999999999999999"}), answer({"/mentions": body}))


# -- rate limits and errors ------------------------------------------------------------


def test_used_up_window_on_a_good_answer_holds_the_feed_until_the_reset() -> None:
    headers = {**CASSETTE_HEADERS, "x-rate-limit-remaining": "0"}
    conn = connector({"user_id": "783214"})
    recorder = answer({"/mentions": MENTIONS}, headers)
    result = poll(conn, recorder, now=CASSETTE_NOW)

    assert len(result.mentions) == 10
    reset = datetime.fromtimestamp(1665183228, tz=UTC)
    assert conn.not_before(CASSETTE_NOW) == reset
    # the brand timeline waits for the next poll instead of asking past a used-up window
    assert len(recorder.requests) == 1
    assert any("read next poll" in w for w in result.warnings)
    with pytest.raises(RateLimited) as caught:
        poll(conn, recorder, now=CASSETTE_NOW)
    assert caught.value.retry_after == (reset - CASSETTE_NOW).total_seconds()
    assert conn.not_before(reset) is None


def error(status: int, name: str, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    body = fixture_bytes("x", name)
    return lambda request: httpx.Response(status, content=body, headers=headers)


def test_429_waits_until_x_rate_limit_reset() -> None:
    reset = int(NOW.timestamp()) + 420
    handler = error(
        429,
        "error_429_too_many_requests_from_docs.json",
        **{"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )
    with pytest.raises(RateLimited) as caught:
        poll(connector({"query": "acme"}), handler)
    assert caught.value.retry_after == 420


def test_429_usage_capped_is_the_monthly_cap() -> None:
    handler = error(429, "error_429_usage_capped_from_docs.json")
    with pytest.raises(RateLimited, match="monthly Post cap") as caught:
        poll(connector({"query": "acme"}), handler)
    assert caught.value.retry_after == 3600


def test_401_names_the_env_var_and_never_the_token() -> None:
    handler = error(401, "error_401_unauthorized_from_docs.json")
    with pytest.raises(AuthError, match="X_BEARER_TOKEN") as caught:
        poll(connector({"query": "acme"}), handler)
    assert TOKEN not in str(caught.value)
    assert "Keys and tokens" in str(caught.value)


def test_401_with_a_user_token_says_it_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_X_USER_TOKEN", "user-token")
    conn = connector({"user_id": "783214", "user_token_env": "ACME_X_USER_TOKEN"})
    recorder = Recording(error(401, "error_401_unauthorized_from_docs.json"))
    with pytest.raises(AuthError, match=r"ACME_X_USER_TOKEN.*expired"):
        poll(conn, recorder)
    assert recorder.requests[0].headers["Authorization"] == "Bearer user-token"


def test_403_client_not_enrolled_names_the_access_level_needed() -> None:
    handler = error(403, "error_403_client_not_enrolled_from_docs.json")
    with pytest.raises(AuthError) as caught:
        poll(connector({"query": "acme"}), handler)
    message = str(caught.value)
    assert "client-not-enrolled" in message
    assert "Appropriate Level of API Access" in message
    assert "Basic" in message and "X_BEARER_TOKEN" in message


def test_400_says_what_x_refused() -> None:
    body = {
        "errors": [{"parameters": {"query": ["(("]}, "message": "There were errors processing"}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }
    handler = lambda request: httpx.Response(400, json=body)  # noqa: E731
    with pytest.raises(MalformedResponse, match=r"Invalid Request.*check the feed's query"):
        poll(connector({"query": "(("}), handler)


def test_since_id_refused_at_the_window_edge_is_read_from_7_days_back() -> None:
    refused = fixture_bytes("x", "error_400_since_id_too_old_from_docs.json")
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if "since_id" in request.url.params:
            return httpx.Response(400, content=refused)
        return httpx.Response(200, json=brexit())

    since = "1438200943211446272"  # 2021-09-15T18:00:00Z: inside our window, at its edge
    saved = FeedCursor(cursor=json.dumps({"since_id": since, "brand": {}}))
    result = poll(connector({"query": "#brexit", "max_pages": 1}), handler, saved)

    assert [c.url.params.get("start_time") for c in calls] == [None, "2021-09-15T17:02:00Z"]
    assert len(result.mentions) == 33
    assert any("since_id' must be a tweet id created after" in w for w in result.warnings)


def test_missing_token_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN")
    with pytest.raises(AuthError, match="X_BEARER_TOKEN is not set"):
        poll(connector({"query": "acme"}), answer({}))


def test_window_used_up_mid_walk_keeps_the_cursor_for_the_next_poll() -> None:
    headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW.timestamp()) + 60)}
    recorder = answer({"/recent": brexit()}, headers)  # the page names a next_token
    since = "1440000000000000000"
    saved = FeedCursor(cursor=json.dumps({"since_id": since, "brand": {}}))
    result = poll(connector({"query": "#brexit"}), recorder, saved)

    assert len(recorder.requests) == 1
    assert len(result.mentions) == 33  # kept: the next poll reads them again, deduplicated
    assert json.loads(result.state.cursor)["since_id"] == since
    assert any("rate limit used up" in w for w in result.warnings)


def test_brand_timeline_off_is_a_config_warning() -> None:
    options = XOptions.model_validate({"user_id": "783214", "brand_timeline": False})
    [warning] = XConnector.config_warnings(options, 300)
    assert "upper bound" in warning
    assert XConnector.config_warnings(XOptions.model_validate({"user_id": "783214"}), 300) == []


# -- the filters' accounts, sent with the query (a Narrowing) ---------------------------


def narrowed(
    narrowing: Narrowing, identities: list[BrandIdentity] | None = None, **options: Any
) -> XConnector:
    return XConnector(
        XOptions.model_validate({"query": "acme -is:retweet", **options}),
        feed_name="acme-x",
        identities=identities or [],
        narrowing=narrowing,
    )


def test_the_filters_accounts_go_into_the_search_query_in_xs_operators() -> None:
    conn = narrowed(Narrowing(authors=("alice", "bob"), not_authors=("acme_jane",)))
    recording = answer({"/2/tweets/search/recent": brexit()})
    poll(conn, recording)

    expected = "(acme -is:retweet) (from:alice OR from:bob) -from:acme_jane"
    assert recording.requests[0].url.params["query"] == expected
    assert conn.sent_narrowing() == "(from:alice OR from:bob) -from:acme_jane"


def test_one_required_account_is_a_bare_from() -> None:
    recording = answer({})
    poll(narrowed(Narrowing(authors=("alice",))), recording)
    assert recording.requests[0].url.params["query"] == "(acme -is:retweet) from:alice"


def test_without_a_narrowing_the_query_is_sent_as_written() -> None:
    recording = answer({})
    poll(narrowed(Narrowing()), recording)
    assert recording.requests[0].url.params["query"] == "acme -is:retweet"


def test_the_brand_keeps_its_posts_in_a_search_narrowed_to_other_accounts() -> None:
    # its replies come through the same search, and no filter judges them
    brand = [
        BrandIdentity(platform="x", handle="AcmeSupport", account_id="783214"),
        BrandIdentity(platform="x", handle="@AcmeHelp"),
    ]
    conn = narrowed(Narrowing(authors=("alice",), not_authors=("acmesupport", "spam")), brand)
    recording = answer({})
    poll(conn, recording)

    query = recording.requests[0].url.params["query"]
    assert query == "(acme -is:retweet) (from:alice OR from:783214 OR from:acmehelp) -from:spam"


def test_exclusions_give_way_first_when_the_query_would_pass_xs_512_characters() -> None:
    many = tuple(f"account_{n:05d}" for n in range(40))  # 40 x 20 characters
    conn = narrowed(Narrowing(authors=("alice",), not_authors=many))
    recording = answer({})
    poll(conn, recording)

    query = recording.requests[0].url.params["query"]
    assert len(query) <= 512
    assert query.startswith("(acme -is:retweet) from:alice -from:account_00000 ")
    assert "-from:account_00039" not in query


def test_a_mentions_timeline_is_not_narrowed() -> None:
    conn = XConnector(
        XOptions.model_validate({"user_id": "783214"}),
        feed_name="acme-x",
        narrowing=Narrowing(not_authors=("spam",)),
    )
    recording = answer({})
    poll(conn, recording)
    assert all("query" not in r.url.params for r in recording.requests)
    assert conn.sent_narrowing() == ""


def test_a_narrowed_query_x_refuses_is_sent_again_without_the_accounts_from_then_on() -> None:
    body = {
        "errors": [{"parameters": {"query": ["..."]}, "message": "There were errors processing"}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }

    def refuse_from(request: httpx.Request) -> httpx.Response:
        if "from:" in request.url.params.get("query", ""):
            return httpx.Response(400, json=body)
        return httpx.Response(200, json=brexit())

    conn = narrowed(Narrowing(not_authors=("acme_jane",)), query="#brexit")
    recording = Recording(refuse_from)
    first = poll(conn, recording)
    poll(conn, recording)

    queries = [r.url.params["query"] for r in recording.requests]
    assert queries == ["(#brexit) -from:acme_jane", "#brexit", "#brexit"]
    assert len(first.mentions) == 33
    assert any("without the filters' accounts" in w for w in first.warnings)
    assert conn.sent_narrowing() == ""


def test_the_feeds_own_query_refused_is_still_the_operators_to_mend() -> None:
    body = {"title": "Invalid Request", "detail": "bad", "errors": [{"message": "(("}]}
    conn = narrowed(Narrowing(), query="((")
    with pytest.raises(MalformedResponse, match="check the feed's query"):
        poll(conn, lambda request: httpx.Response(400, json=body))
