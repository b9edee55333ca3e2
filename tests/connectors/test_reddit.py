"""The reddit connector against PRAW's recorded Reddit answers."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.base import BrandIdentity, FeedCursor, MentionRecord
from connectors.errors import AuthError, MalformedResponse, RateLimited
from connectors.http import make_client
from connectors.logins import Logins
from connectors.sources.reddit import RedditConnector, RedditOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply
from tests.support.mock_http import mock_client, poll_with

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKEN_URL = "https://auth.example.test/api/v1/access_token"
ENV = {"REDDIT_CLIENT_ID": "app-id", "REDDIT_CLIENT_SECRET": "app-secret"}
JSON = {"Content-Type": "application/json; charset=UTF-8"}


def _fixture(name: str) -> bytes:
    return fixture_bytes("reddit", name)


def _recorded_headers(name: str) -> dict[str, str]:
    headers: dict[str, str] = json.loads(_fixture(name))["headers"]
    return {k: v for k, v in headers.items() if k != "content-length"}


def _connector(identities: tuple[BrandIdentity, ...] = (), **options: Any) -> RedditConnector:
    options.setdefault("token_url", TOKEN_URL)
    options.setdefault("backfill", "36500d")  # the recordings are from 2016-2025
    return RedditConnector(
        RedditOptions.model_validate(options),
        feed_name="acme-reddit",
        identities=identities,
    )


class Recorder:
    """A MockTransport handler that answers from a route table and keeps every request."""

    def __init__(self, routes: dict[str, Callable[[httpx.Request], httpx.Response]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url).startswith(TOKEN_URL):
            return self.routes["token"](request)
        for prefix, route in self.routes.items():
            if request.url.path.startswith(prefix):
                return route(request)
        return httpx.Response(404, text="no route")

    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if not str(r.url).startswith(TOKEN_URL)]


def _token(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=_fixture("access_token_client_credentials_2016.json"))


def _body(name: str, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, content=_fixture(name), headers={**JSON, **headers})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


# -- auth ------------------------------------------------------------------------------


@pytest.mark.usefixtures("env")
def test_token_is_fetched_with_basic_auth_and_sent_as_bearer_with_raw_json() -> None:
    recorder = Recorder(
        {"token": _token, "/r/kakapo/comments": _body("r_kakapo_comments_limit100.json")}
    )
    connector = _connector(subreddit="kakapo", listings=["comments"])
    with mock_client(recorder) as client:
        connector.poll(client, FeedCursor(), NOW)
    token_request, listing = recorder.requests
    assert token_request.method == "POST"
    assert token_request.headers["Authorization"] == "Basic " + base64.b64encode(
        b"app-id:app-secret"
    ).decode("ascii")
    assert parse_qs(token_request.content.decode()) == {"grant_type": ["client_credentials"]}
    assert listing.headers["Authorization"] == "bearer <ACCESS_TOKEN>"
    assert listing.url.path == "/r/kakapo/comments"
    assert listing.url.params["raw_json"] == "1"
    assert listing.url.params["limit"] == "100"


@pytest.mark.usefixtures("env")
def test_token_is_reused_until_its_expires_in_runs_out() -> None:
    recorder = Recorder(
        {"token": _token, "/r/kakapo/comments": _body("r_kakapo_comments_limit100.json")}
    )
    connector = _connector(subreddit="kakapo", listings=["comments"])
    with mock_client(recorder) as client:
        connector.poll(client, FeedCursor(), NOW)
        connector.poll(client, FeedCursor(), NOW + timedelta(minutes=30))
        assert len(recorder.requests) - len(recorder.api_requests()) == 1
        # the recorded token lives 3600 s; it is renewed a minute early
        connector.poll(client, FeedCursor(), NOW + timedelta(seconds=3541))
    assert len(recorder.requests) - len(recorder.api_requests()) == 2


@pytest.mark.usefixtures("env")
def test_feeds_of_one_app_share_its_token_and_a_user_login_gets_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pipeline hands every connector one `Logins`: two subreddit feeds of the same app
    fetch one app-only token; the mentions feed acting for the brand account fetches its own."""
    monkeypatch.setenv("REDDIT_USERNAME", "acme")
    monkeypatch.setenv("REDDIT_PASSWORD", "hunter2")
    recorder = Recorder(
        {
            "token": _token,
            "/r/kakapo/comments": _body("r_kakapo_comments_limit100.json"),
            "/message/mentions": _body("message_mentions_inbox_2025.json"),
        }
    )
    logins = Logins()

    def built(**options: Any) -> RedditConnector:
        options.update(token_url=TOKEN_URL, backfill="36500d")
        return RedditConnector(
            RedditOptions.model_validate(options), feed_name="acme-reddit", logins=logins
        )

    first = built(subreddit="kakapo", listings=["comments"])
    second = built(subreddit="kakapo", listings=["comments"])
    mentions = built(mentions=True, username_env="REDDIT_USERNAME", password_env="REDDIT_PASSWORD")
    with mock_client(recorder) as client:
        first.poll(client, FeedCursor(), NOW)
        second.poll(client, FeedCursor(), NOW + timedelta(minutes=2))
        mentions.poll(client, FeedCursor(), NOW + timedelta(minutes=3))
    grants = [
        parse_qs(r.content.decode())["grant_type"]
        for r in recorder.requests
        if str(r.url).startswith(TOKEN_URL)
    ]
    assert grants == [["client_credentials"], ["password"]]
    paths = {r.url.path for r in recorder.api_requests()}
    assert {"/r/kakapo/comments", "/message/mentions"} <= paths


def test_mentions_log_in_with_the_password_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {**ENV, "ACME_REDDIT_USER": "acme_support", "ACME_REDDIT_PW": "pw"}.items():
        monkeypatch.setenv(key, value)
    recorder = Recorder(
        {"token": _token, "/message/mentions": _body("message_mentions_inbox_2025.json")}
    )
    connector = _connector(
        mentions=True, username_env="ACME_REDDIT_USER", password_env="ACME_REDDIT_PW"
    )
    with mock_client(recorder) as client:
        connector.poll(client, FeedCursor(), NOW)
    form = parse_qs(recorder.requests[0].content.decode())
    assert form == {"grant_type": ["password"], "username": ["acme_support"], "password": ["pw"]}


def test_a_missing_client_secret_is_an_auth_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "app-id")
    monkeypatch.delenv("REDDIT_CLIENT_SECRET", raising=False)
    with (
        mock_client(Recorder({})) as client,
        pytest.raises(AuthError, match="REDDIT_CLIENT_SECRET"),
    ):
        _connector(subreddit="kakapo").poll(client, FeedCursor(), NOW)


@pytest.mark.usefixtures("env")
def test_a_wrong_password_answered_as_invalid_grant_is_an_auth_error() -> None:
    recorder = Recorder({"token": lambda r: httpx.Response(200, json={"error": "invalid_grant"})})
    with (
        mock_client(recorder) as client,
        pytest.raises(AuthError, match="invalid_grant"),
    ):
        _connector(subreddit="kakapo").poll(client, FeedCursor(), NOW)


@pytest.mark.usefixtures("env")
def test_a_401_from_the_api_fetches_one_new_token_and_retries() -> None:
    answers = iter(
        [
            httpx.Response(401),
            httpx.Response(200, content=_fixture("r_kakapo_comments_limit100.json")),
        ]
    )
    recorder = Recorder({"token": _token, "/r/kakapo/comments": lambda r: next(answers)})
    connector = _connector(subreddit="kakapo", listings=["comments"])
    result = poll_with(connector, recorder, NOW)
    assert len(result.mentions) == 16
    assert len(recorder.requests) == 4  # token, 401, token, listing


def test_options_need_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RedditOptions.model_validate({"subreddit": "acme", "query": "acme"})
    with pytest.raises(ValueError, match="username_env"):
        RedditOptions.model_validate({"mentions": True})
    assert RedditOptions.model_validate({"subreddit": "r/acme"}).subreddit == "acme"


# -- rate limits -----------------------------------------------------------------------


def _used_up() -> dict[str, str]:
    """The recorded inbox answer's rate-limit headers, with nothing remaining."""
    headers = _recorded_headers("message_mentions_inbox_2025.headers.json")
    assert headers["x-ratelimit-reset"] == "53"
    return {**headers, "x-ratelimit-remaining": "0.0"}


@pytest.mark.usefixtures("env")
def test_an_answer_that_uses_up_the_budget_is_kept_and_the_next_request_waits() -> None:
    recorder = Recorder(
        {
            "token": _token,
            "/message/mentions": _body("message_mentions_inbox_2025.json", **_used_up()),
        }
    )
    connector = _connector(mentions=True, access_token_env="REDDIT_CLIENT_ID")
    with mock_client(recorder) as client:
        result = connector.poll(client, FeedCursor(), NOW)
        assert len(result.mentions) == 16, "the answer that spent the budget is kept"
        assert result.state.cursor
        with pytest.raises(RateLimited) as caught:
            connector.poll(client, result.state, NOW + timedelta(seconds=20))
        assert caught.value.retry_after == 33, "53 s from the answer, 20 s of them gone"
        assert len(recorder.api_requests()) == 1, "nothing is asked before the reset"
        connector.poll(client, result.state, NOW + timedelta(seconds=53))
    assert len(recorder.api_requests()) == 2


@pytest.mark.usefixtures("env")
def test_a_used_up_budget_stops_the_poll_before_its_next_listing_and_page() -> None:
    """The comments answer spends the budget: its items are kept, the posts listing waits
    for the next poll, and neither cursor skips what was not read."""
    recorder = Recorder(
        {
            "token": _token,
            "/r/kakapo/comments": _body("r_kakapo_comments_limit100.json", **_used_up()),
            "/r/kakapo/new": _body("r_askreddit_new_limit100.json"),
        }
    )
    connector = _connector(subreddit="kakapo", listings=["comments", "posts"])
    result = poll_with(connector, recorder, NOW)
    assert [r.url.path for r in recorder.api_requests()] == ["/r/kakapo/comments"]
    assert result.mentions, "the comments read are kept"
    assert "posts" not in json.loads(result.state.cursor or "")
    assert any("rate limit used up" in w for w in result.warnings)


@pytest.mark.usefixtures("env")
def test_a_used_up_budget_while_paging_back_keeps_the_page_and_the_saved_cursor() -> None:
    recorder = Recorder(
        {"token": _token, "/r/askreddit/new": _body("r_askreddit_new_limit100.json", **_used_up())}
    )
    connector = _connector(subreddit="askreddit", listings=["posts"])
    state = FeedCursor(cursor=json.dumps({"posts": "t3_48e000"}))  # older than the whole page
    result = poll_with(connector, recorder, NOW, state)
    assert len(recorder.api_requests()) == 1, "no second page before the reset"
    assert len(result.mentions) == 100
    assert json.loads(result.state.cursor or "") == {"posts": "t3_48e000"}, (
        "the posts between the page and the saved id are read next poll"
    )


@pytest.mark.usefixtures("env")
def test_a_used_up_budget_ends_the_recheck_with_the_replies_found() -> None:
    recorder = Recorder(
        {
            "token": _token,
            "/comments/": _body("comment_context_57dw9a_with_more_and_deleted.json", **_used_up()),
        }
    )
    brand = BrandIdentity(platform="reddit", handle="StanGibson18")
    connector = _connector((brand,), mentions=True, access_token_env="REDDIT_CLIENT_ID")
    mentions = [_mention("t1_d8r4im1", "t3_57dw9a"), _mention("t1_abc", "t3_other")]
    with mock_client(recorder) as client:
        replies = connector.recheck(client, mentions, NOW)
    assert len(recorder.api_requests()) == 1
    assert "t1_d8r79x6" in {r.external_id for r in replies}


@pytest.mark.usefixtures("env")
def test_a_429_without_retry_after_waits_for_the_ratelimit_reset() -> None:
    recorder = Recorder(
        {
            "token": _token,
            "/r/kakapo": lambda r: httpx.Response(
                429, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "412"}
            ),
        }
    )
    with (
        mock_client(recorder) as client,
        pytest.raises(RateLimited) as caught,
    ):
        _connector(subreddit="kakapo").poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == 412


@pytest.mark.usefixtures("env")
def test_recorded_headers_with_budget_left_poll_normally() -> None:
    headers = _recorded_headers("message_mentions_inbox_2025.headers.json")
    recorder = Recorder(
        {"token": _token, "/message/mentions": _body("message_mentions_inbox_2025.json", **headers)}
    )
    connector = _connector(mentions=True, access_token_env="REDDIT_CLIENT_ID")
    result = poll_with(connector, recorder, NOW)
    assert len(result.mentions) == 16


@pytest.mark.usefixtures("env")
def test_a_redirect_loop_is_a_malformed_answer_like_on_every_other_platform() -> None:
    # reddit read its answers with a GET of its own, which let httpx's TooManyRedirects
    # out as an error no connector error names
    loop = lambda r: httpx.Response(302, headers={"Location": str(r.url)})  # noqa: E731
    recorder = Recorder({"token": _token, "/r/kakapo": loop})
    with (
        httpx.Client(transport=httpx.MockTransport(recorder), follow_redirects=True) as client,
        pytest.raises(MalformedResponse, match="a redirect loop"),
    ):
        _connector(subreddit="kakapo").poll(client, FeedCursor(), NOW)


# -- listings and cursor ---------------------------------------------------------------


@pytest.mark.usefixtures("env")
def test_brand_reply_in_the_comment_stream_answers_the_comment_it_replies_to() -> None:
    """MC_Kloppedie, a moderator of r/kakapo, plays the brand.

    In the recorded stream Surgeon-San wrote t1_dfktga0 at created_utc 1490823202 and
    MC_Kloppedie answered it with t1_dfkuf3q (parent_id t1_dfktga0) at 1490824330:
    1490824330 // 86400 = 17254 days after 1970-01-01, i.e. 2017-03-29, and the remaining
    78730 s are 21 h 52 min 10 s, so 2017-03-29T21:52:10Z, 1128 s (18 min 48 s) later.
    """
    recorder = Recorder(
        {"token": _token, "/r/kakapo/comments": _body("r_kakapo_comments_limit100.json")}
    )
    brand = BrandIdentity(platform="reddit", handle="mc_kloppedie")  # case-insensitive
    connector = _connector((brand,), subreddit="kakapo", listings=["comments"])
    result = poll_with(connector, recorder, NOW)

    mentions = {m.external_id: m for m in result.mentions}
    replies = {r.external_id: r for r in result.brand_replies}
    assert "t1_dfktga0" in mentions
    assert mentions["t1_dfktga0"].author == "Surgeon-San"
    assert mentions["t1_dfktga0"].created_at == datetime(2017, 3, 29, 21, 33, 22, tzinfo=UTC)
    reply = replies["t1_dfkuf3q"]
    assert reply.in_reply_to == mentions["t1_dfktga0"].external_id
    assert reply.created_at == datetime(2017, 3, 29, 21, 52, 10, tzinfo=UTC)
    assert reply.author == "MC_Kloppedie"
    assert reply.author_id is None  # 2017 listings carry no author_fullname
    assert (reply.text or "").startswith("He's still relatively young")
    assert reply.url == (
        "https://www.reddit.com/r/kakapo/comments/626c0c/"
        "star_kakapo_sirocco_has_20th_birthday_on_sanctuary/dfkuf3q/"
    )
    # the second recorded exchange: Rewardoffered t1_dg3s290, answered by t1_dg41oob
    assert replies["t1_dg41oob"].in_reply_to == "t1_dg3s290"
    # the brand's 9 comments are replies, never mentions: 16 - 9 = 7 mentions
    assert len(result.mentions) == 7
    assert len(result.brand_replies) == 9
    assert not any(m.author == "MC_Kloppedie" for m in result.mentions)


@pytest.mark.usefixtures("env")
def test_comment_mentions_carry_parent_thread_and_a_permalink() -> None:
    recorder = Recorder(
        {"token": _token, "/r/kakapo/comments": _body("r_kakapo_comments_limit100.json")}
    )
    connector = _connector(subreddit="kakapo", listings=["comments"])
    result = poll_with(connector, recorder, NOW)
    first = result.mentions[0]
    assert first.external_id == "t1_dgauydy"
    assert first.author == "butt_woman"
    assert first.text == "i lick it"
    assert first.parent_id == "t1_dg7dqfd"
    assert first.thread_id == "t3_654eqk"
    assert first.url == (
        "https://www.reddit.com/r/kakapo/comments/654eqk/"
        "kakapo_calls_i_spent_100_days_last_year_making/dgauydy/"
    )
    assert first.created_at == datetime(2017, 4, 15, 16, 48, 28, tzinfo=UTC)  # 1492274908
    assert json.loads(result.state.cursor or "") == {"comments": "t1_dgauydy"}


@pytest.mark.usefixtures("env")
def test_mentions_inbox_items_get_the_context_permalink_and_thread() -> None:
    recorder = Recorder(
        {"token": _token, "/message/mentions": _body("message_mentions_inbox_2025.json")}
    )
    connector = _connector(mentions=True, access_token_env="REDDIT_CLIENT_ID")
    result = poll_with(connector, recorder, NOW)
    first = result.mentions[0]
    assert first.external_id == "t1_ekftbox"
    assert first.author == "2Botter2Loop"
    assert first.author_id == "t2_3efd9zdo"
    assert first.parent_id == "t3_bb24k7"
    assert first.thread_id == "t3_bb24k7"
    assert first.title == "Just a normal girl going for her 10th class exam in India"
    assert first.url == (
        "https://www.reddit.com/r/RemovedByBotter/comments/bb24k7/"
        "just_a_normal_girl_going_for_her_10th_class_exam/ekftbox/"
    )
    assert first.created_at == datetime(2019, 4, 9, 1, 45, 8, tzinfo=UTC)  # 1554774308
    # PRAW's recorder wrote `<USERNAME>` raw into body_html, where it reads as a tag
    assert first.text.startswith("Hello /u/,\n\nYour submission (https://redd.it/bb1sep) was")
    assert "submission (https://redd.it/bb1sep)" in first.text  # links kept as URLs
    assert recorder.api_requests()[0].url.path == "/message/mentions"
    assert recorder.api_requests()[0].headers["Authorization"] == "bearer app-id"


@pytest.mark.usefixtures("env")
def test_a_deleted_comment_is_skipped_without_failing_the_poll() -> None:
    recorder = Recorder(
        {"token": _token, "/r/test/comments": _body("api_info_deleted_comment_t1_d7ltvl0.json")}
    )
    connector = _connector(subreddit="test", listings=["comments"])
    result = poll_with(connector, recorder, NOW)
    assert result.mentions == []
    # the deleted comment still moves the cursor: it will not be fetched again
    assert json.loads(result.state.cursor or "") == {"comments": "t1_d7ltvl0"}


@pytest.mark.usefixtures("env")
def test_paging_back_stops_at_the_saved_fullname() -> None:
    recorder = Recorder(
        {"token": _token, "/r/askreddit/new": _body("r_askreddit_new_limit100.json")}
    )
    connector = _connector(subreddit="askreddit", listings=["posts"])
    # the 4th newest recorded post; the 3 above it are new
    state = FeedCursor(cursor=json.dumps({"posts": "t3_48fbg9"}))
    result = poll_with(connector, recorder, NOW, state)
    assert [m.external_id for m in result.mentions] == ["t3_48fbm9", "t3_48fbig", "t3_48fbgl"]
    assert len(recorder.api_requests()) == 1
    assert json.loads(result.state.cursor or "") == {"posts": "t3_48fbm9"}


@pytest.mark.usefixtures("env")
def test_paging_back_follows_after_until_the_saved_position() -> None:
    pages = {
        None: _fixture("r_askreddit_new_limit100.json"),
        "t3_48f6io": _fixture("r_kakapo_comments_before_cursor_empty.json"),
    }
    recorder = Recorder(
        {
            "token": _token,
            "/r/askreddit/new": lambda r: httpx.Response(
                200, content=pages[r.url.params.get("after")]
            ),
        }
    )
    connector = _connector(subreddit="askreddit", listings=["posts"])
    state = FeedCursor(cursor=json.dumps({"posts": "t3_48e000"}))  # older than the whole page
    result = poll_with(connector, recorder, NOW, state)
    assert len(result.mentions) == 100
    assert [r.url.params.get("after") for r in recorder.api_requests()] == [None, "t3_48f6io"]


@pytest.mark.usefixtures("env")
def test_first_run_keeps_only_the_backfill_window() -> None:
    """The newest recorded post is from 1456821458 (2016-03-01T08:37:38Z); 21 of the 100
    were created in the 600 s before it (created_utc >= 1456820858)."""
    recorder = Recorder(
        {"token": _token, "/r/askreddit/new": _body("r_askreddit_new_limit100.json")}
    )
    connector = _connector(subreddit="askreddit", listings=["posts"], backfill="10m")
    now = datetime(2016, 3, 1, 8, 37, 38, tzinfo=UTC)
    result = poll_with(connector, recorder, now)
    assert len(result.mentions) == 21
    assert len(recorder.api_requests()) == 1, "older than the window: no second page"


@pytest.mark.usefixtures("env")
def test_search_asks_for_the_newest_posts_matching_the_query() -> None:
    recorder = Recorder(
        {"token": _token, "/search": _body("search_r_all_q_praw_oauth_search.json")}
    )
    connector = _connector(query="praw oauth search")
    result = poll_with(connector, recorder, NOW)
    request = recorder.api_requests()[0]
    assert request.url.params["q"] == "praw oauth search"
    assert request.url.params["sort"] == "new"
    assert len(result.mentions) == 6
    assert all(m.external_id.startswith("t3_") for m in result.mentions)
    assert all(m.thread_id == m.external_id for m in result.mentions)
    assert "I am a moderator of /r/Europe" in result.mentions[0].text


# -- recheck ---------------------------------------------------------------------------


def _mention(external_id: str, thread_id: str) -> MentionRecord:
    return MentionRecord(
        platform="reddit",
        external_id=external_id,
        created_at=NOW,
        text="",
        thread_id=thread_id,
    )


@pytest.mark.usefixtures("env")
def test_recheck_finds_the_brand_reply_in_the_recorded_thread() -> None:
    """StanGibson18 (Ken Bone, the AMA's host) plays the brand.

    THE_GREAT_SHAZBOT asked t1_d8r4im1 at created_utc 1476408245 (2016-10-14T01:24:05Z);
    StanGibson18 answered with t1_d8r79x6 (parent_id t1_d8r4im1) at 1476411874:
    1476411874 // 86400 = 17088 days, i.e. 2016-10-14, and 8674 s are 2 h 24 min 34 s,
    so 2016-10-14T02:24:34Z, 3629 s after the question.
    """
    recorder = Recorder(
        {"token": _token, "/comments/": _body("comment_context_57dw9a_with_more_and_deleted.json")}
    )
    brand = BrandIdentity(platform="reddit", handle="StanGibson18")
    connector = _connector((brand,), mentions=True, access_token_env="REDDIT_CLIENT_ID")
    question = _mention("t1_d8r4im1", "t3_57dw9a")
    # ChrisHardwick's t1_d8ray04 sits in the same recorded tree: one walk serves both
    chris = _mention("t1_d8ray04", "t3_57dw9a")
    with mock_client(recorder) as client:
        replies = connector.recheck(client, [question, chris], NOW)

    request = recorder.api_requests()[0]
    assert request.url.path == "/comments/57dw9a"
    assert request.url.params["comment"] == "d8r4im1"
    assert request.url.params["raw_json"] == "1"
    assert len(recorder.api_requests()) == 1
    by_id = {r.external_id: r for r in replies}
    assert by_id["t1_d8r79x6"].in_reply_to == question.external_id
    assert by_id["t1_d8r79x6"].created_at == datetime(2016, 10, 14, 2, 24, 34, tzinfo=UTC)
    assert (by_id["t1_d8r79x6"].text or "").startswith("Too many weird, wild things to")
    # StanGibson18's later t1_d9613va (1477338737 = 2016-10-24T19:52:17Z) answers Chris
    assert by_id["t1_d9613va"].in_reply_to == chris.external_id
    assert by_id["t1_d9613va"].created_at == datetime(2016, 10, 24, 19, 52, 17, tzinfo=UTC)
    assert set(by_id) == {"t1_d8r79x6", "t1_d9613va"}


@pytest.mark.usefixtures("env")
def test_recheck_of_a_tree_full_of_more_stubs_is_bounded_and_finds_the_op_reply() -> None:
    """InnocuousCyanide posted t3_6wmniq and answered PrimeOfLime's t1_dm96bm3
    (1503957559) with t1_dm96vjw at 1503958214 = 2017-08-28T22:10:14Z. A `more` stub of 150
    more replies hangs under PrimeOfLime's comment; with no stub expansions allowed it stays
    unread, so an earlier brand reply may hide there: the one found is marked not exact."""
    recorder = Recorder(
        {"token": _token, "/comments/": _body("comment_context_6wmniq_many_more_objects.json")}
    )
    brand = BrandIdentity(platform="reddit", handle="InnocuousCyanide")
    connector = _connector(
        (brand,),
        mentions=True,
        access_token_env="REDDIT_CLIENT_ID",
        recheck_limit=1,
        max_more_calls=0,
    )
    mentions = [_mention("t1_dm96bm3", "t3_6wmniq"), _mention("t1_dm9lopq", "t3_6wmniq")]
    mentions.append(_mention("t3_zzzzzz", "t3_zzzzzz"))
    with mock_client(recorder) as client:
        replies = connector.recheck(client, mentions, NOW)
    assert len(recorder.api_requests()) == 1, "recheck_limit bounds the walks"
    assert [(r.external_id, r.in_reply_to) for r in replies] == [("t1_dm96vjw", "t1_dm96bm3")]
    assert replies[0].created_at == datetime(2017, 8, 28, 22, 10, 14, tzinfo=UTC)
    assert replies[0].earlier_unseen, "the unread stub under the mention may hide an earlier one"


@pytest.mark.usefixtures("env")
def test_recheck_skips_a_deleted_thread_and_walks_the_next() -> None:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/comments/gone":
            return httpx.Response(404)
        return httpx.Response(
            200, content=_fixture("comment_context_57dw9a_with_more_and_deleted.json")
        )

    recorder = Recorder({"token": _token, "/comments/": route})
    brand = BrandIdentity(platform="reddit", handle="StanGibson18")
    connector = _connector((brand,), mentions=True, access_token_env="REDDIT_CLIENT_ID")
    mentions = [_mention("t1_abc", "t3_gone"), _mention("t1_d8r4im1", "t3_57dw9a")]
    with mock_client(recorder) as client:
        replies = connector.recheck(client, mentions, NOW)
    assert [r.in_reply_to for r in replies] == ["t1_d8r4im1"]


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(400),
        # the recorded thread cut short: a body that is not JSON
        httpx.Response(
            200, content=_fixture("comment_context_57dw9a_with_more_and_deleted.json")[:500]
        ),
    ],
    ids=["refused", "malformed"],
)
@pytest.mark.usefixtures("env")
def test_recheck_skips_one_unreadable_thread_counts_it_and_walks_the_next(
    bad: httpx.Response, caplog: pytest.LogCaptureFixture
) -> None:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/comments/bad":
            return bad
        return httpx.Response(
            200, content=_fixture("comment_context_57dw9a_with_more_and_deleted.json")
        )

    recorder = Recorder({"token": _token, "/comments/": route})
    brand = BrandIdentity(platform="reddit", handle="StanGibson18")
    connector = _connector((brand,), mentions=True, access_token_env="REDDIT_CLIENT_ID")
    mentions = [_mention("t1_abc", "t3_bad"), _mention("t1_d8r4im1", "t3_57dw9a")]
    with mock_client(recorder) as client:
        replies = connector.recheck(client, mentions, NOW)
    assert [r.in_reply_to for r in replies] == ["t1_d8r4im1"]
    assert any(
        "reddit recheck: skipped 1 of 2 items it could not read (first: t1_abc:" in r.message
        for r in caplog.records
    )


@pytest.mark.usefixtures("env")
def test_recheck_with_an_unreadable_token_answer_asks_for_a_token_once() -> None:
    # a proxy's page instead of the token: the feed's login is broken, not one thread; asking
    # again for every thread is a login attempt per thread (the password grant's too)
    recorder = Recorder(
        {
            "token": lambda request: httpx.Response(200, text="<html>proxy login</html>"),
            "/comments/": _body("comment_context_57dw9a_with_more_and_deleted.json"),
        }
    )
    brand = BrandIdentity(platform="reddit", handle="StanGibson18")
    connector = _connector((brand,), query="acme")
    mentions = [_mention(f"t3_a{n}", f"t3_a{n}") for n in range(3)]
    with (
        mock_client(recorder) as client,
        pytest.raises(MalformedResponse, match="token endpoint"),
    ):
        connector.recheck(client, mentions, NOW)
    assert len(recorder.requests) == 1


@pytest.mark.usefixtures("env")
def test_recheck_without_brand_identities_asks_nothing() -> None:
    recorder = Recorder({})
    connector = _connector(mentions=True, access_token_env="REDDIT_CLIENT_ID")
    with mock_client(recorder) as client:
        assert connector.recheck(client, [_mention("t1_d8r4im1", "t3_57dw9a")], NOW) == []
    assert recorder.requests == []


# -- end to end ------------------------------------------------------------------------


@pytest.mark.usefixtures("env")
def test_end_to_end_over_a_real_socket_finds_the_brand_reply(server: LocalServer) -> None:
    headers = _recorded_headers("message_mentions_inbox_2025.headers.json")
    server.route(
        "/api/v1/access_token",
        Reply(200, _fixture("access_token_client_credentials_2016.json"), JSON),
    )
    server.route(
        "/r/kakapo/comments",
        Reply(200, _fixture("r_kakapo_comments_limit100.json"), {**JSON, **headers}),
    )
    connector = RedditConnector(
        RedditOptions.model_validate(
            {
                "subreddit": "kakapo",
                "listings": ["comments"],
                "token_url": f"{server.url}/api/v1/access_token",
                "backfill": "36500d",
            }
        ),
        feed_name="acme-reddit",
        identities=[BrandIdentity(platform="reddit", handle="MC_Kloppedie")],
        base_url=server.url,
    )
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)
    token_request, listing = server.requests
    assert token_request.method == "POST" and token_request.path == "/api/v1/access_token"
    assert token_request.headers["authorization"].startswith("Basic ")
    assert listing.headers["authorization"] == "bearer <ACCESS_TOKEN>"
    assert listing.query["raw_json"] == ["1"]
    assert {r.external_id: r.in_reply_to for r in result.brand_replies}["t1_dfkuf3q"] == (
        "t1_dfktga0"
    )
    assert len(result.mentions) == 7


def test_cli_dry_run_lists_the_mentions_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    server.route(
        "/api/v1/access_token",
        Reply(200, _fixture("access_token_client_credentials_2016.json"), JSON),
    )
    server.route(
        "/r/kakapo/comments", Reply(200, _fixture("r_kakapo_comments_limit100.json"), JSON)
    )
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "reddit", "handle": "MC_Kloppedie", "bot": False},
        feed={
            "name": "acme-reddit",
            "type": "reddit",
            "interval": "5m",
            "base_url": server.url,
            "token_url": f"{server.url}/api/v1/access_token",
            "subreddit": "kakapo",
            "listings": ["comments"],
            "backfill": "36500d",
        },
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    assert "reddit:t1_dgauydy" in done.stdout
    assert "butt_woman" in done.stdout
    assert "reddit:t1_dfkuf3q" not in done.stdout, "the brand's own comment is no mention"
    assert not database.exists()


@pytest.mark.usefixtures("env")
def test_a_403_on_a_private_subreddit_is_an_auth_error_without_a_token_retry() -> None:
    recorder = Recorder({"token": _token, "/r/secret": lambda r: httpx.Response(403)})
    connector = _connector(subreddit="secret", listings=["posts"])
    with (
        mock_client(recorder) as client,
        pytest.raises(AuthError, match="private"),
    ):
        connector.poll(client, FeedCursor(), NOW)
    assert len(recorder.requests) == 2  # one token, one refused listing


@pytest.mark.usefixtures("env")
def test_recheck_expands_the_more_stub_that_hides_the_brand_reply() -> None:
    """your_local_librarian's post t3_3hahrw (created_utc 1439797480) as the mention, with
    Matti_Matti_Matti as the brand: the tree's last top-level thing is a `more` stub of 9
    comments; Matti's t1_cu5oufs (1439798872) is only behind it. /api/morechildren shows it:
    TTFR 1439798872 - 1439797480 = 1392 s, and exact, since every stub was read."""
    recorder = Recorder(
        {
            "token": _token,
            "/comments/": _body("comments_3hahrw_top_level_more_stub.json"),
            "/api/morechildren": _body("api_morechildren_3hahrw.json"),
        }
    )
    brand = BrandIdentity(platform="reddit", handle="Matti_Matti_Matti")
    connector = _connector((brand,), query="kitten", access_token_env="REDDIT_CLIENT_ID")
    post = _mention("t3_3hahrw", "t3_3hahrw")
    post.created_at = datetime.fromtimestamp(1439797480, UTC)
    with mock_client(recorder) as client:
        replies = connector.recheck(client, [post], NOW)
    [reply] = replies
    assert (reply.external_id, reply.in_reply_to) == ("t1_cu5oufs", "t3_3hahrw")
    assert (reply.created_at - post.created_at).total_seconds() == 1392
    assert not reply.earlier_unseen
    more = recorder.api_requests()[1]
    assert more.url.path == "/api/morechildren"
    assert more.url.params["link_id"] == "t3_3hahrw"
    # the stub's 9 children ids, in the stub's order
    stub = "cu5tt8h,cu5v9yd,cu5twf5,cu5tkk4,cu5tead,cu5rxpy,cu5oufs,cu5tpek,cu5pbdh"
    assert more.url.params["children"] == stub
