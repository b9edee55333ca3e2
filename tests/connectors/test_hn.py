"""The hn connector against recorded Algolia HN Search answers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import BrandIdentity, FeedCursor, MentionRecord
from connectors.errors import MalformedResponse
from connectors.http import make_client
from connectors.sources import hn
from connectors.sources.hn import HackerNewsConnector, HackerNewsOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply
from tests.support.mock_http import Recording, mock_client, poll_with

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # epoch 1795435200
RELEVANCE = fixture_bytes("hn", "algolia_search_query_relevance_2024.json")
STORY_AND_COMMENT = fixture_bytes("hn", "algolia_search_by_date_story_and_comment_from_docs.json")
ITEM_1 = fixture_bytes("hn", "algolia_items_1_with_child_15_PARTLY_EDITED.json")
ITEM_1_NULLS = fixture_bytes("hn", "algolia_items_1_nil_fields.json")
EMPTY = b'{"hits": [], "nbHits": 0, "page": 0, "nbPages": 0, "hitsPerPage": 100}'
SAMA = BrandIdentity(platform="hn", handle="sama")


def _connector(identities: tuple[BrandIdentity, ...] = (), **options: Any) -> HackerNewsConnector:
    options.setdefault("query", "acme")
    return HackerNewsConnector(
        HackerNewsOptions.model_validate(options), feed_name="acme-hn", identities=identities
    )


def _serve(*bodies: bytes) -> Recording:
    answers = iter(bodies)
    return Recording(lambda request: httpx.Response(200, content=next(answers)))


def _mention(external_id: str) -> MentionRecord:
    return MentionRecord(platform="hn", external_id=external_id, created_at=NOW, text="")


# -- recheck: the brand's reply in the recorded item tree --------------------------------


def test_recheck_finds_the_brand_child_in_the_recorded_item_tree() -> None:
    """sama plays the brand: the recorded tree of story 1 (pg, created_at_i 1160418111,
    2006-10-09T18:21:51Z) holds his comment 15 at created_at_i 1160423461:
    1160423461 // 86400 = 13430 days, i.e. 2006-10-09, and 71461 s are 19 h 51 min 1 s,
    so 2006-10-09T19:51:01Z (the recorded created_at says the same), 5350 s later."""
    recorder = _serve(ITEM_1)
    story = _mention("1")
    with mock_client(recorder) as client:
        replies = _connector((SAMA,)).recheck(client, [story], NOW)
    assert recorder.requests[0].url.path == "/api/v1/items/1"
    assert len(replies) == 1
    reply = replies[0]
    assert reply.in_reply_to == story.external_id
    assert reply.external_id == "15"
    assert reply.created_at == datetime(2006, 10, 9, 19, 51, 1, tzinfo=UTC)
    assert reply.author == "sama"
    assert reply.text == '"the rising star of venture capital" -unknown VC eating lunch on SHR'
    assert reply.url == "https://news.ycombinator.com/item?id=15"
    assert reply.bot is False
    assert reply.earlier_unseen is False, "the whole tree was read"


def test_a_tree_cut_at_the_node_bound_marks_the_reply_not_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The walk reads at most MAX_TREE_NODES nodes (5000); lowered to the recorded tree's
    one child, the walk is full at its bound, so sama's comment may not be the first."""
    monkeypatch.setattr(hn, "MAX_TREE_NODES", 1)
    with mock_client(_serve(ITEM_1)) as client:
        [reply] = _connector((SAMA,)).recheck(client, [_mention("1")], NOW)
    assert reply.external_id == "15"
    assert reply.earlier_unseen is True


def test_recheck_of_an_item_with_null_fields_and_no_children_finds_nothing() -> None:
    with mock_client(_serve(ITEM_1_NULLS)) as client:
        assert _connector((SAMA,)).recheck(client, [_mention("1")], NOW) == []


def test_recheck_ignores_children_by_others_and_is_bounded() -> None:
    recorder = _serve(ITEM_1, ITEM_1)
    pg = BrandIdentity(platform="hn", handle="pg")  # pg wrote the story, not a reply
    with mock_client(recorder) as client:
        replies = _connector((pg,), recheck_limit=1).recheck(
            client, [_mention("1"), _mention("2")], NOW
        )
    assert replies == []
    assert len(recorder.requests) == 1


def test_recheck_skips_a_missing_item_and_reads_the_next() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/items/99"):
            return httpx.Response(404, json={"error": "Not Found"})
        return httpx.Response(200, content=ITEM_1)

    with mock_client(Recording(answer)) as client:
        replies = _connector((SAMA,)).recheck(client, [_mention("99"), _mention("1")], NOW)
    assert [(r.external_id, r.in_reply_to) for r in replies] == [("15", "1")]


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(400, json={"error": "bad request"}),
        # the recorded tree cut short: a body that is not JSON
        httpx.Response(200, content=ITEM_1[: len(ITEM_1) // 2]),
    ],
    ids=["refused", "malformed"],
)
def test_recheck_skips_one_unreadable_item_counts_it_and_reads_the_others(
    bad: httpx.Response, caplog: pytest.LogCaptureFixture
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/items/2"):
            return bad
        return httpx.Response(200, content=ITEM_1)

    mentions = [_mention("2"), _mention("1")]
    with mock_client(Recording(answer)) as client:
        replies = _connector((SAMA,)).recheck(client, mentions, NOW)
    assert [(r.external_id, r.in_reply_to) for r in replies] == [("15", "1")]
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "hn recheck: skipped 1 of 2 items it could not read (first: 2:" in warning.message


def test_recheck_reports_a_refusal_it_cannot_take_for_a_deleted_item() -> None:
    # only a 404 means "deleted": a 400 on every item (a changed API, a proxy's error page)
    # is the feed's failure, not one item's
    answer = lambda request: httpx.Response(400, json={"error": "bad request"})  # noqa: E731
    with (
        mock_client(Recording(answer)) as client,
        pytest.raises(MalformedResponse, match="unexpected HTTP 400"),
    ):
        _connector((SAMA,)).recheck(client, [_mention("1")], NOW)


# -- poll ------------------------------------------------------------------------------


def test_first_poll_asks_for_the_backfill_window_newest_first() -> None:
    recorder = _serve(EMPTY)
    result = poll_with(_connector(query="acme corp"), recorder, NOW)
    params = recorder.requests[0].url.params
    assert recorder.requests[0].url.path == "/api/v1/search_by_date"
    assert params["query"] == "acme corp"
    assert params["tags"] == "(story,comment)"
    # 1795435200 (NOW) - 2 days (172800 s)
    assert params["numericFilters"] == "created_at_i>1795262400"
    assert params["hitsPerPage"] == "100"
    assert params["page"] == "0"
    assert result.mentions == []
    assert result.state.cursor == "1795262400"


def test_a_later_poll_starts_from_the_cursor_less_the_overlap() -> None:
    recorder = _serve(EMPTY)
    result = poll_with(_connector(), recorder, NOW, FeedCursor(cursor="1707256226"))
    # 1707256226 - 600 s of overlap for hits the index adds late
    assert recorder.requests[0].url.params["numericFilters"] == "created_at_i>1707255626"
    assert result.state.cursor == "1707256226", "an empty page keeps the cursor"


def test_story_hits_become_mentions_and_the_cursor_is_the_newest_time() -> None:
    result = poll_with(_connector(backfill="36500d"), _serve(RELEVANCE), NOW)
    assert len(result.mentions) == 20
    first = result.mentions[0]
    assert first.external_id == "21150606"
    assert first.author == "protomyth"
    assert first.title == "SQL queries don't start with SELECT"
    assert first.text == ""
    assert first.url == "https://news.ycombinator.com/item?id=21150606"
    assert first.extra["link"] == (
        "https://jvns.ca/blog/2019/10/03/sql-queries-don-t-start-with-select/"
    )
    assert first.created_at == datetime(2019, 10, 3, 18, 49, 59, tzinfo=UTC)  # 1570128599
    assert first.thread_id == "21150606" and first.parent_id is None
    # the newest hit is 39281178 at 1707256226 (2024-02-06T21:50:26Z)
    assert result.state.cursor == "1707256226"


def test_a_brand_comment_among_the_hits_is_a_reply_to_its_parent() -> None:
    result = poll_with(_connector((SAMA,), backfill="36500d"), _serve(STORY_AND_COMMENT), NOW)
    assert [m.external_id for m in result.mentions] == ["1"]
    assert result.mentions[0].author == "pg"
    assert len(result.brand_replies) == 1
    reply = result.brand_replies[0]
    assert (reply.external_id, reply.in_reply_to) == ("15", result.mentions[0].external_id)
    assert reply.created_at == datetime(2006, 10, 9, 19, 51, 1, tzinfo=UTC)  # 1160423461


def test_a_comment_hit_carries_its_parent_story_and_plain_text() -> None:
    result = poll_with(_connector(backfill="36500d"), _serve(STORY_AND_COMMENT), NOW)
    comment = {m.external_id: m for m in result.mentions}["15"]
    assert comment.parent_id == "1"
    assert comment.thread_id == "1"
    assert comment.title == "Y Combinator"
    assert comment.text == '"the rising star of venture capital" -unknown VC eating lunch on SHR'
    assert comment.extra["link"] == "http://ycombinator.com"


def test_a_full_page_narrows_the_time_window_instead_of_numbering_pages() -> None:
    recorder = _serve(RELEVANCE, EMPTY)
    result = poll_with(_connector(hits_per_page=20), recorder, NOW, FeedCursor(cursor="1300000000"))
    second = recorder.requests[1].url.params
    # 1300000000 - 600 = 1299999400; the oldest of the 20 hits is 3215317 at 1320843974
    assert second["numericFilters"] == "created_at_i>1299999400,created_at_i<=1320843974"
    assert second["page"] == "0"
    assert len(result.mentions) == 20
    assert result.warnings == []


def test_max_pages_bounds_one_poll_and_says_what_was_skipped() -> None:
    recorder = Recording(lambda request: httpx.Response(200, content=RELEVANCE))
    result = poll_with(
        _connector(hits_per_page=20, max_pages=3), recorder, NOW, FeedCursor(cursor="1")
    )
    assert len(recorder.requests) == 3
    # the same 20 hits again: the window cannot narrow, so the page number moves on
    assert [r.url.params["page"] for r in recorder.requests] == ["0", "0", "1"]
    assert len(result.mentions) == 20
    assert result.warnings and "3 pages" in result.warnings[0]


def test_query_must_not_be_blank() -> None:
    with pytest.raises(ValueError, match="must name"):
        HackerNewsOptions.model_validate({"query": "  "})


# -- end to end ------------------------------------------------------------------------


def test_end_to_end_over_a_real_socket_polls_and_finds_the_brand_reply(server: LocalServer) -> None:
    server.route("/search_by_date", Reply(200, RELEVANCE, {"Content-Type": "application/json"}))
    server.route("/items/1", Reply(200, ITEM_1, {"Content-Type": "application/json"}))
    connector = HackerNewsConnector(
        HackerNewsOptions.model_validate({"query": "query", "backfill": "36500d"}),
        feed_name="acme-hn",
        identities=[SAMA],
        base_url=server.url,
    )
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)
        replies = connector.recheck(client, [_mention("1")], NOW)
    search, item = server.requests
    assert search.path == "/search_by_date"
    assert search.query["tags"] == ["(story,comment)"]
    assert item.path == "/items/1"
    assert len(result.mentions) == 20
    assert [(r.external_id, r.in_reply_to) for r in replies] == [("15", "1")]


def test_cli_dry_run_lists_the_mentions_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    server.route("/search_by_date", Reply(200, RELEVANCE, {"Content-Type": "application/json"}))
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "hn", "handle": "sama"},
        feed={
            "name": "acme-hn",
            "type": "hn",
            "interval": "5m",
            "base_url": server.url,
            "query": "query",
            "backfill": "36500d",
        },
    )
    assert done.returncode == 0, done.stderr
    assert "hn:21150606" in done.stdout
    assert "protomyth" in done.stdout
    assert not database.exists()
