"""The discourse connector over recorded Discourse answers (discourse_api specs and API docs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors import AuthError, BrandIdentity, FeedCursor, MentionRecord
from connectors.sources import discourse
from connectors.sources.discourse import DiscourseConnector, DiscourseOptions, post_id
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import mock_client

FORUM = "https://forum.acme.test"
LATEST_2018 = "posts_latest_2018_topic8_user_posts_then_system_staff.json"
LATEST_2020 = "posts_latest_2020_admin_and_system.json"
TOPIC_57 = "topic_57_try_discourse_2013_reply_to_post_1_PARTLY_EDITED.json"


def connector(identities: tuple[BrandIdentity, ...] = (), **options: Any) -> DiscourseConnector:
    return DiscourseConnector(
        DiscourseOptions.model_validate(options),
        feed_name="forum",
        identities=identities,
        base_url=FORUM,
    )


def serve(files: dict[str, str], seen: list[httpx.Request]) -> httpx.Client:
    """Answers each path with its recorded file; any older page (`before=`) is empty."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "before" in request.url.params:
            return httpx.Response(200, json={"latest_posts": []})
        name = files.get(request.url.path)
        if name is None:
            return httpx.Response(404)
        return httpx.Response(200, content=fixture_bytes("discourse", name))

    return mock_client(handler)


def test_recorded_topic_reply_answers_the_post_it_replies_to() -> None:
    """try.discourse.org topic 57: splattne (played by the brand) posts #14 with
    reply_to_post_number 1 at 2013-02-05T12:14:17.364-05:00 = 17:14:17.364Z, answering
    samsaffron's post #1 of 2013-02-04T15:26:26.278-05:00."""
    forum = connector((BrandIdentity("discourse", handle="splattne"),), query="sandbox")
    mentions = [
        MentionRecord(
            "discourse", post_id(57, 1), datetime(2013, 2, 4, 20, 26, 26, tzinfo=UTC), ""
        ),
        MentionRecord("discourse", post_id(57, 3), datetime(2013, 2, 4, 20, 29, tzinfo=UTC), ""),
    ]
    seen: list[httpx.Request] = []
    with serve({"/t/57.json": TOPIC_57}, seen) as http:
        (reply,) = forum.recheck(http, mentions, datetime(2013, 2, 6, tzinfo=UTC))
    assert [r.url.path for r in seen] == ["/t/57.json"], "one call per topic"
    assert reply.in_reply_to == "t/57/1" == mentions[0].external_id
    assert reply.external_id == "t/57/14"
    assert reply.created_at == datetime(2013, 2, 5, 17, 14, 17, 364000, tzinfo=UTC)
    assert (reply.author, reply.author_id, reply.bot) == ("splattne", "50", False)
    assert reply.url == f"{FORUM}/t/this-site-is-a-sandbox-it-is-reset-every-day/57/14"
    assert reply.text == "What? So I have to post this every day?"


def serve_topic_in_chunks(first: int, seen: list[httpx.Request]) -> httpx.Client:
    """Recorded topic 57 whose /t/57.json carries only its first `first` posts (its `stream`
    still lists all four ids, as a long topic's does); /t/57/posts.json?post_ids[]=..
    answers the asked posts of the recording in the documented {"post_stream": {"posts"}}."""
    topic = json.loads(fixture_bytes("discourse", TOPIC_57))
    recorded = topic["post_stream"]["posts"]
    topic["post_stream"]["posts"] = recorded[:first]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/t/57.json":
            return httpx.Response(200, json=topic)
        if request.url.path == "/t/57/posts.json":
            asked = {int(i) for i in request.url.params.get_list("post_ids[]")}
            posts = [p for p in recorded if p["id"] in asked]
            return httpx.Response(200, json={"post_stream": {"posts": posts}, "id": 57})
        return httpx.Response(404)

    return mock_client(handler)


def test_recheck_reads_the_topic_past_its_first_chunk_to_the_brand_reply() -> None:
    """splattne's #14 (id 226) answers #1 but is not in the first chunk: the walk asks for the
    stream's later posts and finds it, exact (every post before it was read)."""
    forum = connector((BrandIdentity("discourse", handle="splattne"),), query="sandbox")
    mention = MentionRecord("discourse", "t/57/1", datetime(2013, 2, 4, 20, 26, tzinfo=UTC), "")
    seen: list[httpx.Request] = []
    with serve_topic_in_chunks(3, seen) as http:
        (reply,) = forum.recheck(http, [mention], datetime(2013, 2, 6, tzinfo=UTC))
    assert [r.url.path for r in seen] == ["/t/57.json", "/t/57/posts.json"]
    assert seen[1].url.params.get_list("post_ids[]") == ["226"]
    assert (reply.external_id, reply.in_reply_to) == ("t/57/14", "t/57/1")
    assert reply.created_at == datetime(2013, 2, 5, 17, 14, 17, 364000, tzinfo=UTC)
    assert reply.earlier_unseen is False


def test_recheck_of_a_long_topic_stops_after_max_pages_more_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(discourse, "POSTS_PER_CALL", 1)
    forum = connector(
        (BrandIdentity("discourse", handle="splattne"),), query="sandbox", max_pages=2
    )
    mention = MentionRecord("discourse", "t/57/1", datetime(2013, 2, 4, 20, 26, tzinfo=UTC), "")
    seen: list[httpx.Request] = []
    with serve_topic_in_chunks(1, seen) as http:
        assert forum.recheck(http, [mention], datetime(2013, 2, 6, tzinfo=UTC)) == []
    asked = [r.url.params.get_list("post_ids[]") for r in seen[1:]]
    assert asked == [["84"], ["86"]], "two more calls, #14 (226) left for a later walk"


@pytest.mark.parametrize("status", [404, 400])
def test_recheck_skips_a_deleted_or_unreadable_topic_and_reads_the_next(status: int) -> None:
    forum = connector((BrandIdentity("discourse", handle="splattne"),), query="sandbox")
    gone = MentionRecord("discourse", "t/58/1", datetime(2013, 2, 4, 20, 26, tzinfo=UTC), "")
    mention = MentionRecord("discourse", "t/57/1", datetime(2013, 2, 4, 20, 26, tzinfo=UTC), "")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/t/58.json":
            return httpx.Response(status)
        return httpx.Response(200, content=fixture_bytes("discourse", TOPIC_57))

    with mock_client(handler) as http:
        (reply,) = forum.recheck(http, [gone, mention], datetime(2013, 2, 6, tzinfo=UTC))
    assert reply.in_reply_to == "t/57/1"


def test_staff_is_brand_counts_staff_posts_but_not_moderator_actions() -> None:
    forum = connector(query="sandbox", staff_is_brand=True)
    mention = MentionRecord("discourse", "t/57/3", datetime(2013, 2, 4, 20, 29, tzinfo=UTC), "")
    with serve({"/t/57/3.json": TOPIC_57}, []) as http:
        replies = forum.recheck(http, [mention], datetime(2013, 2, 6, tzinfo=UTC))
    # #2 is a post_type 2 "This topic is now pinned" action: not a public answer.
    # #3 (stienman, staff) has no reply_to_post_number: it answers the first post.
    assert [(r.external_id, r.in_reply_to) for r in replies] == [
        ("t/57/3", "t/57/1"),
        ("t/57/14", "t/57/1"),
    ]
    assert replies[0].created_at == datetime(2013, 2, 4, 20, 29, 0, 843000, tzinfo=UTC)


def test_latest_posts_become_mentions_and_system_posts_are_skipped() -> None:
    forum = connector(latest=True, backfill="3650d")
    seen: list[httpx.Request] = []
    with serve({"/posts.json": LATEST_2018}, seen) as http:
        result = forum.poll(http, FeedCursor(), datetime(2018, 5, 25, tzinfo=UTC))
    # topic 8 posts #2..#17 by users; #11-#13 and every other post are by system (user_id -1)
    assert [m.external_id for m in result.mentions] == [
        "t/8/2",
        "t/8/3",
        "t/8/4",
        "t/8/7",
        "t/8/10",
        "t/8/14",
        "t/8/15",
        "t/8/16",
        "t/8/17",
    ]
    newest = result.mentions[-1]
    assert newest.created_at == datetime(2018, 5, 24, 21, 16, 2, 287000, tzinfo=UTC)
    assert (newest.author, newest.author_id) == ("ukilfqevjozbcgxrhnp", "20")
    assert newest.text == "isbghvlcoekamtypuwfxdqjznr"
    assert newest.title == "Welcome to Discourse"
    assert newest.thread_id == "t/8"
    assert result.state.cursor == "29"
    # the page reached post id 1; the next page was asked with before=1 and was empty
    assert [r.url.params.get("before") for r in seen] == [None, "1"]


def test_a_brand_post_without_reply_to_answers_the_topic_first_post() -> None:
    """rlkthdebpfgzxymuqwn (user 13, played by the brand) posts #10 of topic 8 at
    2018-05-24T19:53:33.512Z with no reply_to_post_number: it answers t/8/1."""
    forum = connector((BrandIdentity("discourse", account_id="13"),), latest=True, backfill="3650d")
    with serve({"/posts.json": LATEST_2018}, []) as http:
        result = forum.poll(http, FeedCursor(), datetime(2018, 5, 25, tzinfo=UTC))
    (reply,) = result.brand_replies
    assert (reply.external_id, reply.in_reply_to) == ("t/8/10", "t/8/1")
    assert reply.created_at == datetime(2018, 5, 24, 19, 53, 33, 512000, tzinfo=UTC)
    assert "t/8/10" not in {m.external_id for m in result.mentions}


def test_first_run_looks_back_only_the_backfill_window() -> None:
    forum = connector(latest=True)  # default backfill 2d -> from 2018-05-23T00:00:00Z
    seen: list[httpx.Request] = []
    with serve({"/posts.json": LATEST_2018}, seen) as http:
        result = forum.poll(http, FeedCursor(), datetime(2018, 5, 25, tzinfo=UTC))
    assert [m.external_id for m in result.mentions] == [
        "t/8/4",
        "t/8/7",
        "t/8/10",
        "t/8/14",
        "t/8/15",
        "t/8/16",
        "t/8/17",
    ]
    assert len(seen) == 1, "the first page already reaches past the window"


def test_a_later_poll_returns_only_posts_above_the_saved_id() -> None:
    forum = connector(latest=True)
    seen: list[httpx.Request] = []
    with serve({"/posts.json": LATEST_2018}, seen) as http:
        result = forum.poll(http, FeedCursor(cursor="27"), datetime(2018, 5, 25, tzinfo=UTC))
    assert [m.external_id for m in result.mentions] == ["t/8/16", "t/8/17"]
    assert len(seen) == 1 and result.state.cursor == "29"


def test_staff_is_brand_turns_an_admin_follow_up_into_a_reply() -> None:
    """2020 dev forum: johndoe (admin, staff) opens topic 11 at 00:58:35.475Z and posts #2 at
    2020-01-25T02:10:07.971Z; with staff_is_brand #2 is a reply to t/11/1, #1 no mention."""
    forum = connector(latest=True, staff_is_brand=True, backfill="3650d")
    with serve({"/posts.json": LATEST_2020}, []) as http:
        result = forum.poll(http, FeedCursor(), datetime(2020, 1, 26, tzinfo=UTC))
    assert result.mentions == []
    (reply,) = result.brand_replies
    assert (reply.external_id, reply.in_reply_to) == ("t/11/2", "t/11/1")
    assert reply.created_at == datetime(2020, 1, 25, 2, 10, 7, 971000, tzinfo=UTC)
    assert reply.text == "holla bullhonky."


def test_without_staff_is_brand_staff_posts_are_mentions_but_system_never() -> None:
    forum = connector(latest=True, backfill="3650d")
    with serve({"/posts.json": LATEST_2020}, []) as http:
        result = forum.poll(http, FeedCursor(), datetime(2020, 1, 26, tzinfo=UTC))
    assert [m.external_id for m in result.mentions] == ["t/11/1", "t/11/2"]
    assert result.brand_replies == []


def test_search_hits_become_mentions_with_topic_titles() -> None:
    forum = connector(query="ecf65fcd", backfill="3650d")
    seen: list[httpx.Request] = []
    with serve({"/search.json": "search_query_response_2016.json"}, seen) as http:
        result = forum.poll(http, FeedCursor(), datetime(2016, 10, 30, tzinfo=UTC))
    assert seen[0].url.params["q"] == "ecf65fcd order:latest"
    (mention,) = result.mentions
    assert mention.external_id == "t/13/1"
    assert mention.created_at == datetime(2016, 10, 29, 14, 14, 20, 516000, tzinfo=UTC)
    assert mention.author == "discourse1" and mention.author_id is None
    assert mention.title == "2a6aa74e-e341-5e3c-1eaa-78c6331f305f"
    assert mention.text.startswith("ecf65fcd-1e16-7c4c-4244-a467b46c610becf65fcd")
    assert mention.url == f"{FORUM}/t/13/1"
    assert result.state.cursor == "16"
    assert len(seen) == 1, "more_posts is null: no second page"


def test_api_key_and_username_are_sent_from_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_DISCOURSE_KEY", "k123")
    monkeypatch.setenv("ACME_DISCOURSE_USER", "acme_bot")
    forum = connector(
        latest=True, api_key_env="ACME_DISCOURSE_KEY", api_username_env="ACME_DISCOURSE_USER"
    )
    seen: list[httpx.Request] = []
    with serve({"/posts.json": LATEST_2020}, seen) as http:
        forum.poll(http, FeedCursor(), datetime(2020, 1, 26, tzinfo=UTC))
    assert seen[0].headers["Api-Key"] == "k123"
    assert seen[0].headers["Api-Username"] == "acme_bot"


def test_a_missing_api_key_env_var_is_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_DISCOURSE_KEY", raising=False)
    forum = connector(latest=True, api_key_env="ACME_DISCOURSE_KEY")
    with serve({}, []) as http, pytest.raises(AuthError) as caught:
        forum.poll(http, FeedCursor(), datetime(2020, 1, 26, tzinfo=UTC))
    assert "environment variable ACME_DISCOURSE_KEY is not set" in str(caught.value)


def test_a_403_says_which_key_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_DISCOURSE_KEY", "revoked")
    forum = connector(latest=True, api_key_env="ACME_DISCOURSE_KEY")
    refuse = httpx.MockTransport(lambda request: httpx.Response(403, json={"errors": ["no"]}))
    with (
        httpx.Client(transport=refuse) as http,
        pytest.raises(AuthError, match="ACME_DISCOURSE_KEY"),
    ):
        forum.poll(http, FeedCursor(), datetime(2020, 1, 26, tzinfo=UTC))


@pytest.mark.parametrize(
    "options", [{}, {"query": "a", "latest": True}, {"query": "a", "category": 3}, {"x": 1}]
)
def test_options_need_exactly_one_mode(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DiscourseOptions.model_validate(options)
