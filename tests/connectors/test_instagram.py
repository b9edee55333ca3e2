"""The Instagram connector over recorded Graph API payloads (tests/fixtures/instagram).

No recording holds a comments page with `replies{...}` expanded or a /media page: real comment
and reply nodes are put into the documented envelopes here (tests/fixtures/instagram/SOURCES.md).
"""

from __future__ import annotations

import copy
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pydantic
import pytest

from connectors import (
    AuthError,
    BrandIdentity,
    FeedCursor,
    MentionRecord,
    NotFoundError,
    RateLimited,
)
from connectors.metagraph import graph_get
from connectors.sources.instagram import InstagramConnector, InstagramOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, mock_client

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
ACCOUNT = "17841406338772941"  # ikroskun's IG user id, as the mentioned_* recordings show


def load(name: str) -> Any:
    return json.loads(fixture_bytes("instagram", f"{name}.json"))


TAGS = load("user_tags_tagged_medias_2021_pyfacebook")
BATCH = load("comments_batch_ids_with_username_2020_pyfacebook")
# lixiangguodu123's "Beautiful!" (2020-06-01T10:56:52) and ikroskun's own "@ikroskun  Hey, guys"
LIXIANG = BATCH["17858154961981086"]
OWN_COMMENT = BATCH["17892250648466172"]
# the account owner's reply "@lixiangguodu123 nihao" (2020-08-07T03:30:06), recorded with the
# default fields only; the upstream test says ikroskun wrote it, so its username is added here
OWNER_REPLY = {
    **load("comment_replies_account_replies_to_user_2020-08_pyfacebook")["data"][0],
    "username": "ikroskun",
}
# a real reply node with every field: by the account (user.id), hidden false
REPLY_SINGLE = load("reply_single_2019-10_pyfacebook")
# the tagged media 17846368219941692 ("Cute.. #cute #loveyou @ikroskun", 6 comments): the
# IG Media node the recorded comments page belongs to
MEDIA_NODE = next(m for m in TAGS["data"] if m["id"] == "17846368219941692")
IKROSKUN = BrandIdentity(platform="instagram", handle="ikroskun")


def media_page(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(nodes)}


def thread(top: dict[str, Any], *replies: dict[str, Any]) -> dict[str, Any]:
    """A comment node with its replies expanded, as `replies.limit(50){...}` returns it."""
    return {**top, "replies": {"data": list(replies)}}


def comments_page(*threads: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(threads)}


class Api:
    """Answers by path: /media, /tags, /{media}/comments, /{comment}/replies, the user node."""

    def __init__(self, **routes: Any) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        last = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        answer = self.routes.get(last, self.routes.get("default", {"data": []}))
        answer = answer(request) if callable(answer) else answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "EAAB-test-token-123456")


def connector(identities: tuple[BrandIdentity, ...] = (), **options: Any) -> InstagramConnector:
    opts = {"ig_user_id": ACCOUNT, "watch": ["comments"], **options}
    return InstagramConnector(
        InstagramOptions.model_validate(opts), feed_name="ig", identities=identities
    )


def poll(api: Api, conn: InstagramConnector, state: FeedCursor | None = None) -> Any:
    with mock_client(api) as client:
        return conn.poll(client, state or FeedCursor(), NOW)


def test_first_poll_reads_the_media_then_its_comments_with_replies() -> None:
    api = Api(
        media=media_page(MEDIA_NODE),
        comments=comments_page(thread(LIXIANG, OWNER_REPLY), thread(OWN_COMMENT)),
    )
    result = poll(api, connector(identities=(IKROSKUN,)))

    media_request, comments_request = api.requests
    assert media_request.url.path == f"/v26.0/{ACCOUNT}/media"
    assert media_request.url.params["fields"] == "id,timestamp,comments_count,permalink,username"
    assert media_request.url.params["limit"] == "10"
    assert media_request.url.params["access_token"] == "EAAB-test-token-123456"
    assert comments_request.url.path == "/v26.0/17846368219941692/comments"
    fields = comments_request.url.params["fields"]
    assert fields.startswith("id,text,timestamp,username,from,hidden,like_count,user,")
    assert "replies.limit(50){id,text,timestamp,username,from,hidden,like_count,user}" in fields

    # the account's own top-level comment is not a mention
    [mention] = result.mentions
    assert mention.external_id == "17858154961981086"
    assert mention.author == "lixiangguodu123"
    assert mention.text == "Beautiful!"
    assert mention.created_at == datetime(2020, 6, 1, 10, 56, 52, tzinfo=UTC)
    assert mention.url == "https://www.instagram.com/p/B8gQCApHMT-/c/17858154961981086/"
    assert mention.thread_id == "17858154961981086" and mention.parent_id is None
    assert mention.extra["media_id"] == "17846368219941692"
    [reply] = result.brand_replies
    assert reply.in_reply_to == "17858154961981086"
    assert reply.external_id == "17847314687296283"
    assert reply.created_at == datetime(2020, 8, 7, 3, 30, 6, tzinfo=UTC)
    assert reply.author == "ikroskun" and not reply.bot and not reply.earlier_unseen
    cursor = json.loads(result.state.cursor)
    assert cursor["since"] == "2020-08-07T03:30:06+00:00"
    assert cursor["ids"] == ["17847314687296283"]
    assert cursor["media"] == {"17846368219941692": 6}


def test_the_account_is_the_brand_without_an_identity() -> None:
    """By `user.id` (returned only on the account's own comments, as the recorded reply node
    shows), and by the media owner's `username` from /media."""
    top = {**LIXIANG, "timestamp": "2019-10-15T06:00:00+0000"}  # before the recorded reply
    api = Api(media=media_page(MEDIA_NODE), comments=comments_page(thread(top, REPLY_SINGLE)))
    [reply] = poll(api, connector()).brand_replies
    assert reply.external_id == "18107567341036926"
    assert reply.author_id == ACCOUNT and reply.author == "ikroskun"
    assert reply.in_reply_to == "17858154961981086"  # @yjmjump is not in the thread

    owned = {**MEDIA_NODE, "username": "ikroskun"}  # /media answers carry the owner's name
    api = Api(media=media_page(owned), comments=comments_page(thread(LIXIANG, OWNER_REPLY)))
    [reply] = poll(api, connector()).brand_replies
    assert reply.external_id == "17847314687296283"

    api = Api(media=media_page(MEDIA_NODE), comments=comments_page(thread(LIXIANG, OWNER_REPLY)))
    assert poll(api, connector()).brand_replies == [], "no owner name, no identity: unknown"


def _customer_reply(reply_id: str, username: str, when: str, text: str) -> dict[str, Any]:
    """A customer's reply shaped as the recorded reply node (same fields), another author."""
    node: dict[str, Any] = copy.deepcopy(REPLY_SINGLE)
    node.pop("user")  # returned only on the account's own comments
    node.update(id=reply_id, username=username, timestamp=when, text=text)
    return node


def test_a_brand_reply_answers_the_customer_it_mentions_else_the_comment() -> None:
    bob = _customer_reply("900001", "bob.b", "2020-06-02T09:00:00+0000", "same problem here")
    to_bob = {**OWNER_REPLY, "id": "900002", "timestamp": "2020-06-02T10:00:00+0000",
              "text": "@bob.b sorry, please DM us"}  # fmt: skip
    plain = {**OWNER_REPLY, "id": "900003", "timestamp": "2020-06-03T10:00:00+0000",
             "text": "thanks everyone"}  # fmt: skip
    api = Api(
        media=media_page(MEDIA_NODE),
        comments=comments_page(thread(LIXIANG, bob, to_bob, plain, OWNER_REPLY)),
    )
    result = poll(api, connector(identities=(IKROSKUN,)))
    assert [m.external_id for m in result.mentions] == ["17858154961981086", "900001"]
    bob_mention = result.mentions[1]
    assert bob_mention.parent_id == bob_mention.thread_id == "17858154961981086"
    assert bob_mention.extra["kind"] == "reply"
    answers = {r.external_id: r.in_reply_to for r in result.brand_replies}
    assert answers == {
        "900002": "900001",  # @bob.b: bob's reply
        "900003": "17858154961981086",  # no @name: the top-level comment
        "17847314687296283": "17858154961981086",  # @lixiangguodu123: the top-level comment
    }


def test_a_reply_mentioning_someone_who_spoke_only_later_answers_the_comment() -> None:
    early = {**OWNER_REPLY, "id": "900010", "timestamp": "2020-06-01T11:00:00+0000",
             "text": "@bob.b welcome"}  # fmt: skip
    bob = _customer_reply("900011", "bob.b", "2020-06-02T09:00:00+0000", "hi")
    api = Api(media=media_page(MEDIA_NODE), comments=comments_page(thread(LIXIANG, early, bob)))
    [reply] = poll(api, connector(identities=(IKROSKUN,))).brand_replies
    assert reply.in_reply_to == "17858154961981086"


def test_hidden_comments_are_not_mentions_unless_asked() -> None:
    hidden = {**_customer_reply("900020", "troll", "2020-06-02T09:00:00+0000", "spam"),
              "hidden": True}  # fmt: skip
    hidden_top = {**LIXIANG, "id": "900021", "hidden": True}
    page = comments_page(thread(LIXIANG, hidden), thread(hidden_top))
    result = poll(Api(media=media_page(MEDIA_NODE), comments=page), connector())
    assert [m.external_id for m in result.mentions] == ["17858154961981086"]

    result = poll(Api(media=media_page(MEDIA_NODE), comments=page), connector(include_hidden=True))
    found = {m.external_id: m.extra["hidden"] for m in result.mentions}
    assert found == {"17858154961981086": False, "900020": True, "900021": True}


def test_a_bot_identity_reply_is_marked_bot() -> None:
    helper = BrandIdentity(platform="instagram", handle="acme_autoreply", bot=True)
    auto = _customer_reply("900030", "acme_autoreply", "2020-06-01T10:57:00+0000", "Thanks!")
    api = Api(media=media_page(MEDIA_NODE), comments=comments_page(thread(LIXIANG, auto)))
    [reply] = poll(api, connector(identities=(IKROSKUN, helper))).brand_replies
    assert reply.bot and reply.in_reply_to == "17858154961981086"


def test_the_cursor_skips_unchanged_media_and_seen_comments() -> None:
    api = Api(media=media_page(MEDIA_NODE), comments=comments_page(thread(LIXIANG)))
    conn = connector()
    first = poll(api, conn)
    assert len(first.mentions) == 1

    again = Api(media=media_page(MEDIA_NODE), comments=comments_page(thread(LIXIANG)))
    second = poll(again, conn, first.state)
    assert again.paths() == [f"/v26.0/{ACCOUNT}/media"], "same comments_count: not re-read"
    assert second.mentions == []

    newer = {**LIXIANG, "id": "900040", "timestamp": "2020-06-02T08:00:00+0000"}
    grown = {**MEDIA_NODE, "comments_count": 7}
    third_api = Api(media=media_page(grown), comments=comments_page(thread(newer), thread(LIXIANG)))
    third = poll(third_api, conn, second.state)
    assert [m.external_id for m in third.mentions] == ["900040"]
    assert json.loads(third.state.cursor)["media"] == {"17846368219941692": 7}


def test_comment_pages_follow_the_after_cursor_up_to_the_bound() -> None:
    """The recorded comments page has a paging.next with cursors.after "after"."""
    recorded: dict[str, Any] = load("media_comments_default_fields_p1_2020_pyfacebook")

    def comments(request: httpx.Request) -> dict[str, Any]:
        if request.url.params.get("after") == "after":
            return {"data": [{**LIXIANG, "id": "900050", "timestamp": "2020-05-01T00:00:00+0000"}]}
        return recorded

    api = Api(media=media_page(MEDIA_NODE), comments=comments)
    result = poll(api, connector())
    assert len(api.requests) == 3
    assert [m.external_id for m in result.mentions] == [
        "17858154961981086",
        "17874875428706419",
        "900050",
    ]
    api = Api(media=media_page(MEDIA_NODE), comments=comments)
    result = poll(api, connector(max_comment_pages=1))
    assert len(api.requests) == 2
    assert "stopped after 1 pages" in result.warnings[0]


def test_replies_past_the_expanded_page_are_read_on_and_bounded() -> None:
    top = {**thread(LIXIANG), "replies": {
        "data": [], "paging": {"cursors": {"after": "r1"}, "next": "https://graph.facebook.com/x"}
    }}  # fmt: skip

    def replies(request: httpx.Request) -> dict[str, Any]:
        assert request.url.params["after"] == "r1"
        return {"data": [OWNER_REPLY], "paging": {"cursors": {"after": "r2"}, "next": "https://x"}}

    api = Api(media=media_page(MEDIA_NODE), comments=comments_page(top), replies=replies)
    [reply] = poll(api, connector(identities=(IKROSKUN,))).brand_replies
    assert api.paths()[-1] == "/v26.0/17858154961981086/replies"
    assert reply.earlier_unseen, "a page of replies was left unread: an upper bound"


def test_usage_near_the_limit_sets_not_before() -> None:
    headers = load("usage_headers_instagram_from_docs")
    conn = connector()

    def media(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=media_page(), headers=headers["buc_at_95"])

    poll(Api(media=media), conn)
    assert conn.not_before(NOW) == NOW + timedelta(seconds=600)

    conn = connector()

    def throttled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=media_page(), headers=headers["buc_throttled"])

    poll(Api(media=throttled), conn)
    assert conn.not_before(NOW) == NOW + timedelta(minutes=12)
    api = Api(media=media_page())
    with pytest.raises(RateLimited) as caught:
        poll(api, conn)
    assert api.requests == [], "no call while the budget is spent"
    assert caught.value.retry_after == 720

    conn = connector()
    poll(
        Api(media=lambda r: httpx.Response(200, json={"data": []}, headers=headers["buc_below"])),
        conn,
    )
    assert conn.not_before(NOW) is None


def test_expired_token_is_an_auth_error_naming_the_env_var() -> None:
    body = fixture_bytes("instagram", "error_190_463_expired_from_docs.json")
    api = Api(media=httpx.Response(400, content=body))
    with pytest.raises(AuthError) as caught:
        poll(api, connector())
    assert "INSTAGRAM_ACCESS_TOKEN" in str(caught.value)
    assert "EAAB-test-token-123456" not in str(caught.value)


def test_missing_token_says_what_to_put_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INSTAGRAM_ACCESS_TOKEN")
    with pytest.raises(AuthError, match=r"INSTAGRAM_ACCESS_TOKEN is not set.*Page access"):
        poll(Api(), connector())


def test_instagram_rate_limit_code_is_rate_limited() -> None:
    body = fixture_bytes("instagram", "error_80002_instagram_buc_limit_from_docs.json")
    headers = load("usage_headers_instagram_from_docs")["buc_throttled"]
    api = Api(media=httpx.Response(400, content=body, headers=headers))
    with pytest.raises(RateLimited) as caught:
        poll(api, connector())
    assert caught.value.retry_after == 720


def test_instagram_login_host_and_appsecret_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IG_APP_SECRET", "app-secret-value")
    conn = InstagramConnector(
        InstagramOptions.model_validate(
            {"ig_user_id": ACCOUNT, "watch": ["comments"], "app_secret_env": "IG_APP_SECRET"}
        ),
        feed_name="ig",
        base_url="https://graph.instagram.com/v26.0",
    )
    api = Api(media=media_page())
    poll(api, conn)
    [request] = api.requests
    assert request.url.host == "graph.instagram.com"
    # hex HMAC-SHA256 of the token keyed by the app secret
    proof = hmac.new(b"app-secret-value", b"EAAB-test-token-123456", "sha256").hexdigest()
    assert request.url.params["appsecret_proof"] == proof


def test_tagged_media_captions_are_mentions() -> None:
    api = Api(tags=TAGS)
    conn = connector(watch=["tags"])
    result = poll(api, conn)
    [request] = api.requests
    assert request.url.path == f"/v26.0/{ACCOUNT}/tags"
    assert len(result.mentions) == 5
    first = result.mentions[0]
    assert first.external_id == "17892354025952911"
    assert first.text == "publish test"
    assert first.url == "https://www.instagram.com/p/CMeo7rcJvTi/"
    assert first.extra["kind"] == "tag" and first.thread_id is None
    assert result.mentions[4].text == "", "a media without a caption"
    assert poll(Api(tags=TAGS), conn, result.state).mentions == []


def test_read_mention_reads_what_a_webhook_names() -> None:
    media = load("user_mentioned_media_2021-08_pyfacebook")
    comment = load("user_mentioned_comment_2021-08_pyfacebook")
    api = Api(**{ACCOUNT: media})
    conn = connector()
    with mock_client(api) as client:
        found = conn.read_mention(client, "media", "17889114512354744", NOW)
    assert isinstance(found, MentionRecord)
    assert found.text == "@ikroskun hey" and found.extra["kind"] == "mentioned_media"
    assert found.created_at == datetime(2021, 8, 19, 9, 0, 22, tzinfo=UTC)
    assert (
        api.requests[0]
        .url.params["fields"]
        .startswith("mentioned_media.media_id(17889114512354744){")
    )
    # the recorded @mention comment was written by the account itself: not a mention
    assert connector(identities=(IKROSKUN,)).mentioned(comment) is None
    other = connector().mentioned(comment)
    assert other is not None and other.external_id == "17967008497439572"
    with pytest.raises(ValueError):
        conn.read_mention(httpx.Client(), "comment", "1&fields=x", NOW)


def _open(mention_id: str, author: str | None = "lixiangguodu123") -> MentionRecord:
    return MentionRecord(
        platform="instagram",
        external_id=mention_id,
        created_at=datetime(2020, 6, 1, 10, 16, 39, tzinfo=UTC),
        text="Beautiful!",
        author=author,
        thread_id=mention_id,
    )


def test_recheck_reads_open_threads_and_skips_a_deleted_one() -> None:
    deleted = fixture_bytes("instagram", "error_100_33_comment_does_not_exist_from_docs.json")

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/17858154961981086/replies"):
            return httpx.Response(400, content=deleted)
        return httpx.Response(200, json={"data": [OWNER_REPLY]})

    recording = Recording(answer)
    with mock_client(recording) as client:
        found = connector(identities=(IKROSKUN,)).recheck(
            client, [_open("17858154961981086"), _open("17874875428706419")], NOW
        )
    assert [r.url.path for r in recording.requests] == [
        "/v26.0/17858154961981086/replies",
        "/v26.0/17874875428706419/replies",
    ]
    [reply] = found
    assert reply.in_reply_to == "17874875428706419"
    assert reply.created_at == datetime(2020, 8, 7, 3, 30, 6, tzinfo=UTC)


def test_recheck_of_only_deleted_threads_finds_nothing_and_raises_nothing() -> None:
    deleted = fixture_bytes("instagram", "error_100_33_comment_does_not_exist_from_docs.json")
    with mock_client(lambda r: httpx.Response(400, content=deleted)) as client:
        assert connector().recheck(client, [_open("17858154961981086")], NOW) == []
    with (
        mock_client(lambda r: httpx.Response(400, content=deleted)) as client,
        pytest.raises(NotFoundError),
    ):
        graph_get(client, "https://graph.facebook.com/v26.0", "1/replies", token="t", token_env="E")


def test_graph_get_returns_a_304_for_the_caller_to_judge() -> None:
    with mock_client(lambda r: httpx.Response(304)) as client:
        response, data = graph_get(
            client, "https://graph.facebook.com/v26.0", "1/media", token="t", token_env="E"
        )
    assert response.status_code == 304 and data == {}


def test_options_are_checked() -> None:
    with pytest.raises(pydantic.ValidationError):
        InstagramOptions.model_validate({"ig_user_id": "ikroskun"})
    with pytest.raises(pydantic.ValidationError):
        InstagramOptions.model_validate({"ig_user_id": ACCOUNT, "watch": ["stories"]})
    assert InstagramOptions.model_validate({"ig_user_id": ACCOUNT}).watch == ["comments", "tags"]


def test_the_from_object_names_the_author_when_username_is_absent() -> None:
    """The comment object of the (docs-shaped) comments webhook carries `from{id,username}`
    and no top-level username; the Graph comment node has the same `from` since 2021. The
    webhook value has no timestamp: one is added here."""
    webhook = load("webhook_comments_with_parent_id_restfb_docs_shaped")
    value = webhook["entry"][0]["changes"][0]["value"]
    node = {**value, "timestamp": "2020-06-02T09:00:00+0000"}
    helper = BrandIdentity(platform="instagram", account_id="1234536447")
    api = Api(media=media_page(MEDIA_NODE), comments=comments_page(thread(LIXIANG, node)))
    [reply] = poll(api, connector(identities=(helper,))).brand_replies
    assert reply.author == "testuser" and reply.author_id == "1234536447"
    api = Api(media=media_page(MEDIA_NODE), comments=comments_page(thread(LIXIANG, node)))
    mentions = poll(api, connector()).mentions
    assert [(m.author, m.author_id) for m in mentions][1] == ("testuser", "1234536447")
