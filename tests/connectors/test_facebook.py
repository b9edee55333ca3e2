"""The Facebook Pages connector over recorded Graph API payloads (tests/fixtures/facebook).

The real stream page of comments (Facebook for Developers, 2021-08) was recorded without
`id`, `from` and `parent` (not requested upstream). `recorded_stream()` adds them the way the
Graph API returns them when asked, derived from what the recording holds: `permalink_url`
gives `?comment_id=C` for a top-level comment and `?comment_id=C&reply_comment_id=R` for a
reply under C; a comment's id is `<post object id>_<comment id>` (as in the real toplevel
recording, where permalink .../posts/2498598377021978/?comment_id=2498617433686739 has id
2498598377021978_2498617433686739). `from`: the three replies SOURCES.md names as the Page's
("Hi, ...") get the Page (19292868552); every other comment gets a user id of its own
(placeholders: the recording does not say who wrote them). The connector itself derives
nothing from permalink_url: it reads `id`, `from` and `parent`, which it always asks for.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pydantic
import pytest

from connectors import AuthError, BrandIdentity, FeedCursor, MentionRecord, RateLimited
from connectors.errors import MalformedResponse
from connectors.sources.facebook import FacebookConnector, FacebookOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, mock_client, poll_with

PAGE_ID = "19292868552"  # Facebook for Developers
POST_OBJECT = "10158407654328553"
POST_ID = f"{PAGE_ID}_{POST_OBJECT}"
PAGE_REPLY_IDS = {"10158409983033553", "10158409984103553", "10158411321043553"}
NOW = datetime(2021, 8, 13, 0, 0, tzinfo=UTC)
TOKEN = "EAAGm0PX4ZCpsBAKZCZCtesttoken"
USAGE: dict[str, dict[str, str]] = json.loads(
    fixture_bytes("facebook", "usage_headers_from_docs.json")
)

C1 = f"{POST_OBJECT}_10158407835073553"  # 2021-08-10T18:45:03, Page reply 2021-08-11T23:23:06
C2 = f"{POST_OBJECT}_10158407903973553"  # 2021-08-10T19:38:44, Page reply 2021-08-11T23:22:14
C9 = f"{POST_OBJECT}_10158410332078553"  # 2021-08-12T04:15:56, Page reply 2021-08-12T18:30:51
REPLY_C2 = f"{POST_OBJECT}_10158409983033553"
LATE_C2 = f"{POST_OBJECT}_10158409984053553"  # a user in C2's thread 49 s after the Page


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_bytes("facebook", name))
    return data


def recorded_stream() -> dict[str, Any]:
    """The real stream page with id, parent and from added (see the module docstring)."""
    page = load("post_comments_stream_p1_fb_developers_page_replies_2021-08_pyfacebook.json")
    for comment in page["data"]:
        query = parse_qs(urlsplit(comment["permalink_url"]).query)
        top = query["comment_id"][0]
        own = query.get("reply_comment_id", [top])[0]
        comment["id"] = f"{POST_OBJECT}_{own}"
        if "reply_comment_id" in query:
            comment["parent"] = {"id": f"{POST_OBJECT}_{top}"}
        if own in PAGE_REPLY_IDS:
            comment["from"] = {"name": "Facebook for Developers", "id": PAGE_ID}
        else:
            comment["from"] = {"name": f"user {own[-4:]}", "id": f"10000{own[-8:]}"}
    return page


def feed_page(updated: str = "2021-08-12T18:30:51+0000", **extra: Any) -> dict[str, Any]:
    """A /feed page holding the recorded post. Built on the real /posts envelope (user 4's
    page: data + paging); the post's own created_time is not in any recording: set before its
    first comment. updated_time is its last comment's time, as the Post reference defines it."""
    page = load("user4_posts_fields_id_message_created_time_p1_2021-07_pyfacebook.json")
    page["data"] = [
        {
            "id": POST_ID,
            "message": "(the post's text is not recorded)",
            "created_time": "2021-08-10T18:00:00+0000",
            "updated_time": updated,
            "from": {"name": "Facebook for Developers", "id": PAGE_ID},
            "permalink_url": f"https://www.facebook.com/{PAGE_ID}/posts/{POST_OBJECT}/",
            **extra,
        }
    ]
    del page["paging"]  # one page: the recorded paging is user 4's
    return page


EMPTY: dict[str, Any] = {"data": []}


class Graph:
    """Answers like graph.facebook.com: /feed, /comments (second page empty), /ratings."""

    def __init__(
        self,
        feed: dict[str, Any] | None = None,
        comments: dict[str, Any] | None = None,
        ratings: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        nodes: dict[str, tuple[int, Any]] | None = None,
    ) -> None:
        self.feed = feed if feed is not None else feed_page()
        self.comments = comments if comments is not None else recorded_stream()
        self.ratings = ratings if ratings is not None else EMPTY
        self.headers = headers or {}
        self.nodes = nodes or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.split("/", 2)[2]  # without /v26.0/
        if path in self.nodes:
            status, body = self.nodes[path]
            return httpx.Response(status, json=body, headers=self.headers)
        if path.endswith("/feed"):
            body = self.feed
        elif path.endswith("/ratings"):
            body = self.ratings
        elif path.endswith("/comments"):
            body = EMPTY if "after" in request.url.params else self.comments
        else:
            return httpx.Response(404, json={"error": {"code": 803, "message": "no such"}})
        return httpx.Response(200, json=body, headers=self.headers)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEBOOK_PAGE_TOKEN", TOKEN)


def connector(identities: tuple[BrandIdentity, ...] = (), **options: Any) -> FacebookConnector:
    opts = {"page_id": PAGE_ID, "backfill": "3d", "watch": ["comments", "visitor_posts"]}
    return FacebookConnector(
        FacebookOptions.model_validate({**opts, **options}), feed_name="fb", identities=identities
    )


def test_stream_page_gives_customer_comments_and_the_pages_answers() -> None:
    graph = Graph()
    result = poll_with(connector(), graph, NOW)
    ids = {m.external_id for m in result.mentions}
    # 10 comments, 3 by the Page: 7 customer comments (5 top-level, 2 replies)
    assert len(ids) == 7
    assert not ids & {f"{POST_OBJECT}_{i}" for i in PAGE_REPLY_IDS}
    late = next(m for m in result.mentions if m.external_id == LATE_C2)
    assert late.parent_id == C2 and late.thread_id == C2 and late.extra["is_reply"] is True
    top = next(m for m in result.mentions if m.external_id == C2)
    assert top.parent_id == POST_ID and top.thread_id == C2
    assert top.created_at == datetime(2021, 8, 10, 19, 38, 44, tzinfo=UTC)
    assert top.url and "comment_id=10158407903973553" in top.url
    answers = {r.in_reply_to: r for r in result.brand_replies}
    assert set(answers) == {C1, C2, C9}
    assert answers[C2].external_id == REPLY_C2
    assert answers[C2].created_at == datetime(2021, 8, 11, 23, 22, 14, tzinfo=UTC)
    assert answers[C2].author_id == PAGE_ID and not answers[C2].bot
    # the request asked for what the connector reads
    comments = next(r for r in graph.requests if r.url.path.endswith("/comments"))
    assert comments.url.params["filter"] == "stream"
    assert comments.url.params["order"] == "reverse_chronological"
    assert "parent{id}" in comments.url.params["fields"]
    assert comments.url.params["access_token"] == TOKEN


def test_a_brand_comment_answers_every_customer_comment_of_its_turn() -> None:
    """C2's thread: user 19:38:44, Page 23:22:14 next day, the same thread's user 49 s later.
    A second customer reply before a Page answer is answered by it too."""
    stream = recorded_stream()
    extra = copy.deepcopy(next(c for c in stream["data"] if c["id"] == LATE_C2))
    extra.update(id=f"{POST_OBJECT}_1", created_time="2021-08-11T23:25:00+0000")
    page = copy.deepcopy(next(c for c in stream["data"] if c["id"] == REPLY_C2))
    page.update(id=f"{POST_OBJECT}_2", created_time="2021-08-12T09:00:00+0000")
    stream["data"] += [extra, page]
    result = poll_with(connector(), Graph(comments=stream), NOW)
    answers = {r.in_reply_to: r for r in result.brand_replies}
    assert answers[C2].external_id == REPLY_C2  # the first Page reply answers the root
    assert answers[LATE_C2].external_id == f"{POST_OBJECT}_2"
    assert answers[f"{POST_OBJECT}_1"].external_id == f"{POST_OBJECT}_2/{POST_OBJECT}_1"
    assert answers[f"{POST_OBJECT}_1"].created_at == datetime(2021, 8, 12, 9, tzinfo=UTC)


def test_hidden_comments_are_neither_mentions_nor_answers() -> None:
    stream = recorded_stream()
    for comment in stream["data"]:
        if comment["id"] in (C9, REPLY_C2):
            comment["is_hidden"] = True
    result = poll_with(connector(), Graph(comments=stream), NOW)
    ids = {m.external_id for m in result.mentions}
    assert C9 not in ids and C2 in ids
    answers = {r.in_reply_to: r.external_id for r in result.brand_replies}
    # C2's visible Page answer is hidden: its thread's next Page comment is none, so open
    assert C2 not in answers and C9 not in answers and C1 in answers
    shown = poll_with(connector(include_hidden=True), Graph(comments=stream), NOW)
    assert C9 in {m.external_id for m in shown.mentions}


def test_cursor_moves_and_the_next_poll_reports_nothing_again() -> None:
    first = poll_with(connector(), Graph(), NOW)
    cursor = json.loads(first.state.cursor or "")
    assert cursor["since"] == "2021-08-12T04:15:56+00:00"  # newest customer comment
    assert cursor["ids"] == [C9]
    second = poll_with(connector(), Graph(), NOW + timedelta(minutes=10), first.state)
    assert second.mentions == []
    # answers are still reported (the pipeline keeps the first it saw)
    assert {r.in_reply_to for r in second.brand_replies} == {C1, C2, C9}


def test_a_post_without_new_activity_is_not_walked() -> None:
    first = poll_with(connector(), Graph(), NOW)
    quiet = Graph(feed=feed_page(updated="2021-08-12T04:00:00+0000"))
    poll_with(connector(), quiet, NOW + timedelta(minutes=10), first.state)
    assert [r.url.path for r in quiet.requests] == [f"/v26.0/{PAGE_ID}/feed"]


def test_first_run_reads_backfill_only() -> None:
    result = poll_with(connector(backfill="1d"), Graph(), NOW)
    # NOW - 1 day = 2021-08-12T00:00: only C9 (04:15:56) is new
    assert [m.external_id for m in result.mentions] == [C9]


def test_visitor_post_is_a_mention_and_a_top_level_page_comment_answers_it() -> None:
    visitor = feed_page(from_={"name": "x", "id": "1"})["data"][0]
    del visitor["from_"]
    visitor.update(id=f"{PAGE_ID}_777", **{"from": {"name": "Kun Liu", "id": "2711636948859886"}})
    visitor["created_time"] = "2021-08-12T10:00:00+0000"
    # the Page answers on the post itself (top-level, no parent): the recorded Page-authored
    # comment shape (from with category) with this Page's id
    by_page = load("comment_by_page_from_category_2015_restfb.json")
    by_page.update(
        id="777_1",
        created_time="2021-08-12T11:00:00+0000",
        **{"from": {"name": "Facebook for Developers", "category": "App Page", "id": PAGE_ID}},
    )
    result = poll_with(
        connector(watch=["visitor_posts"]),
        Graph(feed={"data": [visitor]}, comments={"data": [by_page]}),
        NOW,
    )
    assert [m.external_id for m in result.mentions] == [f"{PAGE_ID}_777"]
    assert result.mentions[0].extra["kind"] == "visitor_post"
    assert [(r.in_reply_to, r.external_id) for r in result.brand_replies] == [
        (f"{PAGE_ID}_777", "777_1")
    ]
    # the Page's own post is no mention
    own = poll_with(connector(watch=["visitor_posts"]), Graph(), NOW)
    assert own.mentions == []


def ratings_page() -> dict[str, Any]:
    """The three recorded /ratings elements in a list envelope, plus a negative copy of the
    2018 recommendation (recommendation_type flipped, its story id changed)."""
    positive = load("ratings_item_recommendation_positive_no_rating_2018_restfb.json")
    negative = copy.deepcopy(positive)
    negative["recommendation_type"] = "negative"
    negative["open_graph_story"]["id"] = "10150030749305471"
    negative["review_text"] = "Waited an hour, nobody answered the phone."
    negative["created_time"] = "2018-07-08T09:00:00+0000"
    stars = load("ratings_item_rating5_open_graph_story_with_comment_count_2016_restfb.json")
    places = load("ratings_item_places_rates_review_text_anonymized_2016_restfb.json")
    return {"data": [negative, positive, places, stars]}


def test_ratings_recommendations_count_at_the_ends_of_the_star_scale() -> None:
    result = poll_with(
        connector(watch=["ratings"], backfill="3650d"),
        Graph(ratings=ratings_page()),
        datetime(2018, 8, 1, tzinfo=UTC),
    )
    by_id = {m.external_id: m for m in result.mentions}
    assert by_id["10150030749305471"].rating == 1.0
    assert by_id["10150030749305471"].text == "Waited an hour, nobody answered the phone."
    assert by_id["10150030749305471"].extra["recommendation_type"] == "negative"
    assert by_id["10150030749305470"].rating == 5.0
    assert by_id["10205863986386268"].rating == 5.0  # the old star rating kept
    assert by_id["10205863986386268"].author == "Taylor Lynn Rudd"
    assert by_id["10211119444292023"].text == "AAAAA"  # review_text in the story data


def test_a_page_comment_on_a_rating_story_answers_it() -> None:
    page = ratings_page()
    by_page = load("comment_by_page_from_category_2015_restfb.json")  # from: Tester Page
    by_page["created_time"] = "2018-07-08T10:30:00+0000"
    page["data"][0]["open_graph_story"]["comments"] = {"data": [by_page], "count": 1}
    result = poll_with(
        connector(watch=["ratings"], backfill="3650d", page_id="474930769339741"),
        Graph(ratings=page),
        datetime(2018, 8, 1, tzinfo=UTC),
    )
    assert [(r.in_reply_to, r.created_at) for r in result.brand_replies] == [
        ("10150030749305471", datetime(2018, 7, 8, 10, 30, tzinfo=UTC))
    ]


def test_identities_and_bots() -> None:
    bot = BrandIdentity(platform="facebook", account_id=PAGE_ID, bot=True)
    result = poll_with(connector((bot,)), Graph(), NOW)
    assert result.brand_replies and all(r.bot for r in result.brand_replies)
    # another brand account (an admin answering as themselves) answers too, and is no mention
    admin = BrandIdentity(platform="facebook", handle="user 3553")  # C1's author
    other = poll_with(connector((admin,)), Graph(), NOW)
    assert C1 not in {m.external_id for m in other.mentions}


def test_usage_at_ninety_percent_waits_before_the_next_poll() -> None:
    fb = connector()
    graph = Graph(headers=USAGE["app_at_90"])
    poll_with(fb, graph, NOW)
    assert fb.not_before(NOW) == NOW + timedelta(minutes=10)
    assert fb.not_before(NOW + timedelta(minutes=11)) is None
    with pytest.raises(RateLimited) as caught:
        poll_with(fb, Graph(), NOW + timedelta(minutes=1))
    assert caught.value.retry_after == 9 * 60
    calm = connector()
    poll_with(calm, Graph(headers=USAGE["below"]), NOW)
    assert calm.not_before(NOW) is None


def test_rate_limit_and_expired_token_errors() -> None:
    def answer(name: str, status: int = 400) -> Graph:
        return Graph(nodes={f"{PAGE_ID}/feed": (status, load(name))})

    with pytest.raises(RateLimited):
        poll_with(connector(), answer("error_80001_pages_buc_limit_from_docs.json"), NOW)
    with pytest.raises(AuthError) as caught:
        poll_with(connector(), answer("error_190_463_expired_from_docs.json"), NOW)
    assert "FACEBOOK_PAGE_TOKEN" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_missing_token_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEBOOK_PAGE_TOKEN")
    with pytest.raises(AuthError, match="FACEBOOK_PAGE_TOKEN"):
        poll_with(connector(), Graph(), NOW)


def test_appsecret_proof_sent_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FB_APP_SECRET", "app-secret-value")
    graph = Graph()
    poll_with(connector(app_secret_env="FB_APP_SECRET"), graph, NOW)
    assert all(len(r.url.params["appsecret_proof"]) == 64 for r in graph.requests)


def test_options_are_checked() -> None:
    with pytest.raises(pydantic.ValidationError):
        FacebookOptions.model_validate({"page_id": "acme-page"})
    with pytest.raises(pydantic.ValidationError):
        FacebookOptions.model_validate({"page_id": "1", "watch": ["likes"]})
    with pytest.raises(pydantic.ValidationError):
        FacebookOptions.model_validate({"page_id": "1", "watch": []})


def open_mention(external_id: str, thread_id: str | None, created: datetime) -> MentionRecord:
    return MentionRecord(
        platform="facebook",
        external_id=external_id,
        created_at=created,
        text="",
        thread_id=thread_id,
    )


def thread_node(root_id: str) -> dict[str, Any]:
    """GET /{root}?fields=...,comments{...}: the root comment with its replies nested, from
    the recorded stream page (what the node call returns for that comment)."""
    stream = recorded_stream()["data"]
    root = next(c for c in stream if c["id"] == root_id)
    replies = [c for c in stream if c.get("parent", {}).get("id") == root_id]
    return {**root, "comments": {"data": replies}}


def test_recheck_walks_threads_and_skips_deleted_ones() -> None:
    created = datetime(2021, 8, 10, 19, 38, 44, tzinfo=UTC)
    graph = Graph(
        nodes={
            C2: (200, thread_node(C2)),
            C1: (400, load("error_100_33_does_not_exist_from_docs.json")),  # deleted
        }
    )
    with mock_client(graph) as client:
        found = connector().recheck(
            client,
            [
                open_mention(C2, C2, created),
                open_mention(LATE_C2, C2, created),
                open_mention(C1, C1, created),
            ],
            NOW,
        )
    assert [(r.in_reply_to, r.external_id) for r in found] == [(C2, REPLY_C2)]
    # one call per thread, not per mention
    assert sorted(r.url.path for r in graph.requests) == sorted([f"/v26.0/{C1}", f"/v26.0/{C2}"])


def test_recheck_of_a_rating_reads_its_top_level_comments() -> None:
    by_page = load("comment_by_page_from_category_2015_restfb.json")
    graph = Graph(nodes={"555/comments": (200, {"data": [by_page]})})
    with mock_client(graph) as client:
        found = connector(page_id="474930769339741").recheck(
            client, [open_mention("555", None, datetime(2015, 8, 31, tzinfo=UTC))], NOW
        )
    assert [(r.in_reply_to, r.external_id) for r in found] == [
        ("555", "520586098107541_520590871440397")
    ]
    assert graph.requests[0].url.params["filter"] == "toplevel"


def test_recheck_raises_when_nothing_could_be_read() -> None:
    graph = Graph(nodes={C2: (400, {"error": {"code": 100, "message": "(#100) bad field"}})})
    with mock_client(graph) as client, pytest.raises(MalformedResponse):
        connector().recheck(client, [open_mention(C2, C2, NOW)], NOW)


def test_recheck_without_mentions_makes_no_call() -> None:
    graph = Recording(lambda request: httpx.Response(500))
    with mock_client(graph) as client:
        assert connector().recheck(client, [], NOW) == []
    assert graph.requests == []


def test_unreadable_cursor_starts_from_backfill_with_a_warning() -> None:
    result = poll_with(connector(), Graph(), NOW, FeedCursor(cursor="garbage"))
    assert result.warnings and len(result.mentions) == 7


def test_recheck_returns_answers_to_the_asked_mentions_only() -> None:
    """Only LATE_C2 is open: the Page's reply in its thread came before it and answers C2."""
    graph = Graph(nodes={C2: (200, thread_node(C2))})
    with mock_client(graph) as client:
        found = connector().recheck(client, [open_mention(LATE_C2, C2, NOW)], NOW)
    assert found == []


def test_ratings_retired_by_the_api_version_warn_and_keep_the_comments() -> None:
    graph = Graph(
        nodes={f"{PAGE_ID}/ratings": (400, load("error_12_ratings_deprecated_from_docs.json"))}
    )
    result = poll_with(connector(watch=["comments", "ratings"]), graph, NOW)
    assert len(result.mentions) == 7
    assert any("v22.0" in w and "watch" in w for w in result.warnings)


def test_default_watch_leaves_ratings_out() -> None:
    graph = Graph()
    fb = FacebookConnector(FacebookOptions(page_id=PAGE_ID), feed_name="fb")
    poll_with(fb, graph, NOW)
    assert not any(r.url.path.endswith("/ratings") for r in graph.requests)
