"""The Discourse writer: the exact post request, the escaped raw body, each failure, a reply
held for approval, `find_own`, and the post as the feed's connector reads it back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connectors import BrandIdentity, FeedCursor
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.discourse import DiscourseReplier, DiscourseReplyOptions
from connectors.sources.discourse import DiscourseConnector, DiscourseOptions
from connectors.text import html_to_text
from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import Reply, local_server
from tests.support.mock_http import Recording, mock_client

CREATED = json.loads(fixture_bytes("discourse", "post_created_from_docs.json"))
TOPIC_57 = json.loads(
    fixture_bytes("discourse", "topic_57_try_discourse_2013_reply_to_post_1_PARTLY_EDITED.json")
)
TEXT = "Thanks for the report! We reset the sandbox every day; your posts come back tomorrow."
# stienman's post #3 of the recorded topic 57
TARGET = ReplyTarget(
    platform="discourse",
    feed="acme-forum",
    external_id="t/57/3",
    created_at=datetime(2013, 2, 4, 20, 29, 0, 843000, tzinfo=UTC),
    text="sandbox?",
    author="stienman",
    thread_id="t/57",
)
KEY = "disc-key-0123456789abcdef"
# Discourse's error bodies: render_json_error (ApplicationController) and a failed
# NewPostResult (app/serializers/new_post_result_serializer.rb)
TOO_SIMILAR = {
    "action": "create_post",
    "errors": ["Body is too similar to what you recently posted"],
}
RATE_LIMITED = {
    "errors": ["You’ve performed this action too many times. Please wait 10 seconds."],
    "error_type": "rate_limit",
    "extras": {"wait_seconds": 10},
}


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_FORUM_REPLY_KEY", KEY)
    monkeypatch.setenv("ACME_FORUM_REPLY_USER", "samsaffron")


def _replier(base_url: str = "https://forum.acme.example", **options: object) -> DiscourseReplier:
    return DiscourseReplier(
        DiscourseReplyOptions(
            api_key_env="ACME_FORUM_REPLY_KEY",
            api_username_env="ACME_FORUM_REPLY_USER",
            **options,  # type: ignore[arg-type]
        ),
        feed_options=DiscourseOptions(latest=True),
        base_url=base_url,
    )


def test_post_sends_the_escaped_raw_to_the_topic_on_a_real_server() -> None:
    with local_server() as server, httpx.Client() as client:
        server.route("/posts.json", Reply.json(CREATED))
        posted = _replier(server.url).post(client, TARGET, TEXT, "k")
    (request,) = server.requests
    assert request.method == "POST" and request.path == "/posts.json"
    assert request.headers["api-key"] == KEY
    assert request.headers["api-username"] == "samsaffron"
    # nothing in this text is markup: the raw body is the text
    assert request.json() == {"raw": TEXT, "topic_id": 57, "reply_to_post_number": 3}
    assert posted.external_id == "t/57/15"
    assert posted.created_at == datetime(2013, 2, 5, 17, 40, 12, tzinfo=UTC)
    assert posted.url == f"{server.url}/t/this-site-is-a-sandbox-it-is-reset-every-day/57/15"
    assert posted.author == "samsaffron" and posted.author_id == "15"


def test_markup_and_bbcode_are_escaped_so_the_post_shows_what_was_typed() -> None:
    handler = Recording(lambda request: httpx.Response(200, json=CREATED))
    with mock_client(handler) as client:
        _replier().post(client, TARGET, "[quote]**hi**[/quote] <img src=x> :smile:", "k")
    raw = json.loads(handler.requests[0].content)["raw"]
    assert raw == r"\[quote\]\*\*hi\*\*\[/quote\] \<img src=x\> \:smile\:"


def test_a_validation_error_is_refused_with_discourses_words() -> None:
    handler = Recording(lambda request: httpx.Response(422, json=TOO_SIMILAR))
    with mock_client(handler) as client, pytest.raises(ReplyRefused) as refused:
        _replier().post(client, TARGET, TEXT, "k")
    assert refused.value.kind == "invalid"
    assert "Body is too similar to what you recently posted" in refused.value.message
    assert "nothing was posted" in refused.value.message


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "auth"), (403, "auth"), (404, "gone"), (429, "rate_limited")]
)
def test_statuses_that_certainly_posted_nothing_are_refusals(status: int, kind: str) -> None:
    body = RATE_LIMITED if status == 429 else {"errors": ["not permitted"], "error_type": "x"}
    handler = Recording(lambda request: httpx.Response(status, json=body))
    with mock_client(handler) as client, pytest.raises(ReplyRefused) as refused:
        _replier().post(client, TARGET, TEXT, "k")
    assert refused.value.kind == kind
    assert KEY not in refused.value.message
    if status == 429:  # no Retry-After header: the body's wait_seconds
        assert refused.value.retry_after == 10


def test_a_429_with_retry_after_waits_that_long() -> None:
    handler = Recording(
        lambda request: httpx.Response(429, headers={"Retry-After": "42"}, json=RATE_LIMITED)
    )
    with mock_client(handler) as client, pytest.raises(ReplyRefused) as refused:
        _replier().post(client, TARGET, TEXT, "k")
    assert refused.value.retry_after == 42


def test_a_reply_held_for_approval_is_unknown_not_posted_again() -> None:
    queued = {"action": "enqueued", "success": True, "pending_count": 1}
    handler = Recording(lambda request: httpx.Response(200, json=queued))
    with mock_client(handler) as client, pytest.raises(ReplyUnknown) as unknown:
        _replier().post(client, TARGET, TEXT, "k")
    assert "approval" in unknown.value.message


def test_a_server_error_or_a_reset_after_sending_is_unknown_and_no_connection_a_refusal() -> None:
    with local_server() as server, httpx.Client() as client:
        server.route("/posts.json", Reply(502, b"bad gateway"))
        with pytest.raises(ReplyUnknown):
            _replier(server.url).post(client, TARGET, TEXT, "k")
        server.route("/posts.json", Reply(200, reset_after=True))
        with pytest.raises(ReplyUnknown):
            _replier(server.url).post(client, TARGET, TEXT, "k")
        closed = server.url
    with httpx.Client() as client, pytest.raises(ReplyRefused) as refused:
        _replier(closed).post(client, TARGET, TEXT, "k")
    assert refused.value.kind == "unreachable"


def test_the_length_is_checked_against_the_forums_settings() -> None:
    replier = _replier()
    assert replier.check("a" * 32000) is None
    too_long = replier.check("a" * 32001)
    assert too_long is not None and "32000" in too_long
    too_short = replier.check("Thanks, fixed!")
    assert too_short is not None and "at least 20" in too_short
    assert _replier(min_post_length=10).check("Thanks, fixed!") is None
    assert _replier(max_post_length=50).check("*" * 26) is not None  # sent as 52 characters


def test_find_own_finds_the_brands_post_answering_the_mention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The recorded topic 57: splattne's post #14 answers post #1; splattne plays the brand.
    # (2013: no `raw` in the answer, so the cooked text is compared.)
    monkeypatch.setenv("ACME_FORUM_REPLY_USER", "splattne")
    splattne = next(p for p in TOPIC_57["post_stream"]["posts"] if p["post_number"] == 14)
    typed = html_to_text(splattne["cooked"]).strip()
    assert typed.startswith("What? So I have to post this every day?")
    handler = Recording(lambda request: httpx.Response(200, json=TOPIC_57))
    opening = ReplyTarget("discourse", "acme-forum", "t/57/1", TARGET.created_at, "Welcome!")
    created = datetime(2013, 2, 5, 17, 14, 17, 364000, tzinfo=UTC)
    replier = _replier()
    with mock_client(handler) as client:
        found = replier.find_own(client, opening, typed, created)
        other = replier.find_own(client, opening, "What? Every day?", created)
        later = replier.find_own(client, opening, typed, created + timedelta(seconds=1))
        wrong_post = replier.find_own(client, TARGET, typed, created)
    assert found is not None and found.external_id == "t/57/14"
    assert found.created_at == created
    assert other is None and later is None and wrong_post is None
    first = handler.requests[0]
    assert first.url.path == "/t/57.json"
    assert first.url.params["username_filters"] == "splattne"
    assert first.url.params["include_raw"] == "1"
    assert first.headers["Api-Key"] == KEY


def test_find_own_reads_the_latest_posts_not_loaded_with_the_topic() -> None:
    # The recorded topic, answered as if only its first posts were loaded: the last id of
    # the stream is asked for with /t/57/posts.json, and the raw body is compared.
    mine = dict(CREATED, id=226)
    first_page = json.loads(json.dumps(TOPIC_57))
    first_page["post_stream"]["posts"] = first_page["post_stream"]["posts"][:3]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/t/57/posts.json":
            return httpx.Response(200, json={"post_stream": {"posts": [mine]}})
        return httpx.Response(200, json=first_page)

    handler = Recording(answer)
    with mock_client(handler) as client:
        found = _replier().find_own(client, TARGET, TEXT, datetime(2013, 2, 5, tzinfo=UTC))
    assert found is not None and found.external_id == "t/57/15"
    more = handler.requests[1]
    assert more.url.path == "/t/57/posts.json"
    assert more.url.params.get_list("post_ids[]") == ["226"]
    assert more.url.params["include_raw"] == "1"


def test_find_own_says_unknown_when_the_forum_cannot_be_asked() -> None:
    handler = Recording(lambda request: httpx.Response(503, text="down"))
    with mock_client(handler) as client, pytest.raises(ReplyUnknown):
        _replier().find_own(client, TARGET, TEXT, TARGET.created_at)


def test_missing_names_the_unset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _replier().missing() is None
    monkeypatch.delenv("ACME_FORUM_REPLY_USER")
    assert _replier().missing() == "ACME_FORUM_REPLY_USER is not set"


def test_the_posted_reply_is_the_reply_the_feed_reads_back() -> None:
    """Round trip: the created post, served back by /posts.json, is the brand reply the
    connector's poll produces: same id, same time, answering the mention."""
    with local_server() as server, httpx.Client() as client:
        server.route("/posts.json", Reply.json(CREATED))
        posted = _replier(server.url).post(client, TARGET, TEXT, "k")
        server.route("/posts.json", Reply.json({"latest_posts": [CREATED]}))
        connector = DiscourseConnector(
            DiscourseOptions(latest=True),
            feed_name="acme-forum",
            identities=(BrandIdentity("discourse", handle="samsaffron"),),
            base_url=server.url,
        )
        result = connector.poll(client, FeedCursor(), posted.created_at + timedelta(hours=1))
    (reply,) = result.brand_replies
    assert reply.external_id == posted.external_id
    assert reply.in_reply_to == TARGET.external_id
    assert reply.created_at == posted.created_at
    assert reply.url == posted.url
