"""The threads connector over lists built from the Threads API docs (and its one docs example)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors import AuthError, BrandIdentity, FeedCursor, MalformedResponse, RateLimited
from connectors.sources.threads import ThreadsConnector, ThreadsOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, mock_client, poll_with

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKEN = "THAAtestthreadstoken0123456789"


def _fixture(name: str) -> Any:
    return json.loads(fixture_bytes("threads", name))


SEARCH = _fixture("keyword_search_recent_acme_from_docs.json")
MINE = _fixture("user_replies_acme_from_docs.json")
THREADS = _fixture("user_threads_acme_from_docs.json")
CONVERSATION = _fixture("conversation_acme_thread_from_docs.json")
DOCS_EXAMPLE = _fixture("replies_list_root_post_replied_to_hide_status_SYNTHETIC_restfb.json")
BRAND = BrandIdentity("threads", handle="acme")
BOT = BrandIdentity("threads", handle="acme_helpbot", bot=True)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADS_ACCESS_TOKEN", TOKEN)


def _connector(identities: list[BrandIdentity] | None = None, **options: Any) -> ThreadsConnector:
    return ThreadsConnector(
        ThreadsOptions.model_validate(options),
        feed_name="acme-threads",
        identities=[BRAND, BOT] if identities is None else identities,
    )


def _api(pages: dict[str, Any] | None = None) -> Recording:
    """Answers each endpoint with its docs-built page (or the one given)."""
    given = {
        "keyword_search": SEARCH,
        "me/replies": MINE,
        "me/threads": THREADS,
        "conversation": CONVERSATION,
        **(pages or {}),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1.0/")
        for suffix, page in given.items():
            if path.endswith(suffix):
                return httpx.Response(200, json=page)
        return httpx.Response(404, json={})

    return Recording(answer)


def test_keyword_search_asks_recent_posts_since_the_window_with_the_token() -> None:
    api = _api()
    poll_with(_connector(query="acme", own_threads=False), api, NOW)
    search, mine = api.requests
    assert search.url.path == "/v1.0/keyword_search"
    params = dict(search.url.params)
    assert params["q"] == "acme"
    assert params["search_type"] == "RECENT" and params["search_mode"] == "KEYWORD"
    assert params["access_token"] == TOKEN
    assert {"replied_to", "root_post", "username", "timestamp"} <= set(params["fields"].split(","))
    # first run: now - 2 days backfill - 10 min overlap
    assert params["since"] == str(int(datetime(2026, 11, 21, 11, 50, tzinfo=UTC).timestamp()))
    assert mine.url.path == "/v1.0/me/replies"


def test_search_results_are_mentions_and_the_brands_own_post_is_not() -> None:
    result = poll_with(_connector(query="acme", own_threads=False), _api(), NOW)
    by_id = {m.external_id: m for m in result.mentions}
    assert set(by_id) == {"18000000000000001", "18000000000000002", "18000000000000004"}
    jamie = by_id["18000000000000001"]
    assert jamie.platform == "threads"
    assert jamie.author == "jamie.runs"
    assert jamie.created_at == datetime(2026, 11, 23, 9, 12, 30, tzinfo=UTC)
    assert jamie.url == "https://www.threads.net/@jamie.runs/post/000001"
    assert jamie.parent_id is None
    dana = by_id["18000000000000004"]
    assert dana.parent_id == dana.thread_id == "17999999999999990"


def test_the_brands_reply_answers_only_the_post_it_replied_to() -> None:
    result = poll_with(_connector(query="acme", own_threads=False), _api(), NOW)
    replies = {r.external_id: r for r in result.brand_replies}
    answer = replies["18000000000000101"]
    assert answer.in_reply_to == "18000000000000001"
    assert answer.created_at == datetime(2026, 11, 23, 9, 40, 12, tzinfo=UTC)
    assert answer.author == "acme" and not answer.bot
    # the reply to the root of dana_k's thread (same root_post) does not answer dana_k
    assert replies["18000000000000102"].in_reply_to == "17999999999999990"
    assert "18000000000000004" not in {r.in_reply_to for r in result.brand_replies}


def test_own_threads_conversation_gives_replies_as_mentions_and_the_brands_answers() -> None:
    api = _api()
    result = poll_with(_connector(backfill="7d"), api, NOW)
    threads, conversation = api.requests
    assert threads.url.path == "/v1.0/me/threads"
    assert threads.url.params["limit"] == "10"
    assert conversation.url.path == "/v1.0/18000000000000200/conversation"
    assert conversation.url.params["reverse"] == "true"
    assert "hide_status" in conversation.url.params["fields"].split(",")
    mentions = {m.external_id: m for m in result.mentions}
    assert set(mentions) == {"18000000000000203", "18000000000000205", "18000000000000201"}
    lee = mentions["18000000000000203"]
    assert lee.parent_id == lee.thread_id == "18000000000000200"
    replies = {r.external_id: r for r in result.brand_replies}
    # acme's top-level reply to its own thread answers the thread, 204/206 answer customers
    assert {k: r.in_reply_to for k, r in replies.items()} == {
        "18000000000000206": "18000000000000203",
        "18000000000000207": "18000000000000203",
        "18000000000000208": "18000000000000200",
        "18000000000000204": "18000000000000201",
    }


def test_a_bot_identitys_reply_is_marked_bot_and_the_owned_reply_is_not() -> None:
    result = poll_with(_connector(backfill="7d"), _api(), NOW)
    replies = {r.external_id: r for r in result.brand_replies}
    assert replies["18000000000000207"].bot
    assert replies["18000000000000207"].author == "acme_helpbot"
    assert not replies["18000000000000206"].bot


def test_is_reply_owned_by_me_is_the_brand_without_an_identity() -> None:
    result = poll_with(_connector([], backfill="7d"), _api(), NOW)
    assert {r.external_id for r in result.brand_replies} == {
        "18000000000000206",
        "18000000000000208",
        "18000000000000204",
    }
    # without the bot identity acme_helpbot is a customer: its reply is a mention
    assert "18000000000000207" in {m.external_id for m in result.mentions}


def test_hidden_replies_are_not_mentions() -> None:
    result = poll_with(_connector(backfill="7d"), _api(), NOW)
    assert "18000000000000202" not in {m.external_id for m in result.mentions}
    conversation = copy.deepcopy(CONVERSATION)
    troll = next(i for i in conversation["data"] if i["id"] == "18000000000000202")
    troll["hide_status"] = "UNHUSHED"  # unhidden again: a mention like any other
    result = poll_with(_connector(backfill="7d"), _api({"conversation": conversation}), NOW)
    assert "18000000000000202" in {m.external_id for m in result.mentions}


def test_the_docs_example_reply_list_reads_without_its_hidden_reply() -> None:
    """The docs' /replies example: NOT_HUSHED, HIDDEN and UNHUSHED replies, all ids 1234567890."""
    result = poll_with(_connector(backfill="36500d"), _api({"conversation": DOCS_EXAMPLE}), NOW)
    [mention] = result.mentions  # one id: the first copy is kept, the others are repeats
    assert mention.text == "First Reply"
    assert mention.created_at == datetime(2024, 1, 1, 18, 20, tzinfo=UTC)
    assert mention.author is None, "the example has no username"
    assert mention.parent_id == mention.thread_id == "1234567890"
    renumbered = copy.deepcopy(DOCS_EXAMPLE)
    for number, item in enumerate(renumbered["data"], 1):
        item["id"] = f"123456789{number}"
    result = poll_with(_connector(backfill="36500d"), _api({"conversation": renumbered}), NOW)
    assert [m.text for m in result.mentions] == ["First Reply", "Third Reply"]


def test_cursor_is_the_newest_time_and_the_next_poll_asks_from_it() -> None:
    first = poll_with(_connector(query="acme", backfill="7d"), _api(), NOW)
    assert json.loads(first.state.cursor or "") == {"since": "2026-11-23T10:15:00+00:00"}
    api = _api()
    second = poll_with(_connector(query="acme", backfill="7d"), api, NOW, first.state)
    since = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)  # 10:15 - 10 min overlap
    assert api.requests[0].url.params["since"] == str(int(since.timestamp()))
    assert [m.external_id for m in second.mentions] == [], "all older than the window"
    assert second.state == first.state


def test_pages_follow_paging_next_and_stop_at_max_pages() -> None:
    page = copy.deepcopy(SEARCH)
    page["paging"]["next"] = "https://graph.threads.net/v1.0/keyword_search?q=acme&after=X"
    api = _api({"keyword_search": page})
    result = poll_with(_connector(query="acme", own_threads=False, max_pages=2), api, NOW)
    searches = [r for r in api.requests if r.url.path.endswith("keyword_search")]
    assert len(searches) == 2
    assert searches[1].url.params["after"] == "X"
    assert any("max_pages" in w for w in result.warnings)


def test_an_expired_token_is_an_auth_error_naming_the_env_var() -> None:
    body = fixture_bytes("threads", "error_190_463_expired_from_docs.json")
    handler = Recording(lambda request: httpx.Response(400, content=body))
    with mock_client(handler) as client, pytest.raises(AuthError) as caught:
        _connector(query="acme").poll(client, FeedCursor(), NOW)
    assert "THREADS_ACCESS_TOKEN" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_an_app_request_limit_is_rate_limited() -> None:
    body = fixture_bytes("threads", "error_4_app_request_limit_from_docs.json")
    handler = Recording(lambda request: httpx.Response(403, content=body))
    with mock_client(handler) as client, pytest.raises(RateLimited) as caught:
        _connector(query="acme").poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


def test_usage_headers_at_the_threshold_slow_the_feed_down() -> None:
    usage = json.dumps({"call_count": 95, "total_cputime": 10, "total_time": 12})

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": []}, headers={"X-App-Usage": usage})

    connector = _connector(query="acme", own_threads=False)
    poll_with(connector, answer, NOW)
    resume = connector.not_before(NOW)
    assert resume is not None and resume > NOW


def test_a_missing_token_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THREADS_ACCESS_TOKEN")
    with mock_client(_api()) as client, pytest.raises(AuthError) as caught:
        _connector(query="acme").poll(client, FeedCursor(), NOW)
    assert "THREADS_ACCESS_TOKEN" in str(caught.value)
    assert "threads_keyword_search" in str(caught.value)


def test_a_list_without_data_is_malformed() -> None:
    junk = _api({"keyword_search": {"posts": []}})
    with mock_client(junk) as client, pytest.raises(MalformedResponse):
        _connector(query="acme").poll(client, FeedCursor(), NOW)


def test_options_need_something_to_read() -> None:
    with pytest.raises(ValueError, match="query"):
        ThreadsOptions(own_threads=False)


def test_config_warns_when_the_search_would_use_more_than_half_the_daily_queries() -> None:
    options = ThreadsOptions(query="acme")
    assert ThreadsConnector.config_warnings(options, 600) == []
    [warning] = ThreadsConnector.config_warnings(options, 60)
    assert "1440 queries a day" in warning and "2200" in warning
    assert ThreadsConnector.config_warnings(ThreadsOptions(), 60) == [], "no search, no limit"
