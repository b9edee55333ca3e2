"""The bluesky connector over recorded AT Protocol answers (httpx.MockTransport)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors import AuthError, BrandIdentity, FeedCursor, MentionRecord, Narrowing
from connectors.sources.bluesky import BlueskyConnector, BlueskyOptions, post_text
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, mock_client

THREAD = fixture_bytes("bluesky", "getPostThread_replies_with_blockedPost_notFoundPost_2023.json")
HELLTHREAD = json.loads(
    fixture_bytes("bluesky", "getPostThread_hellthread_deep_parent_chain_2023.json")
)
NOTIFICATIONS = fixture_bytes("bluesky", "listNotifications_200_mixed_reasons_2023.json")
SEARCH = fixture_bytes("bluesky", "searchPosts_single_hit_2023.json")
SESSION = fixture_bytes("bluesky", "createSession_from_docs.json")
ROOT_URI = "at://did:plc:by3jhwdqgbtrcc7q4tkkv3cf/app.bsky.feed.post/3jtvi2jrijx2y"
TOKEN_ENV: dict[str, Any] = {"token_env": "BSKY_TEST_TOKEN"}
LOGIN_ENV: dict[str, Any] = {"handle_env": "BSKY_TEST_HANDLE", "password_env": "BSKY_TEST_PASSWORD"}


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSKY_TEST_TOKEN", "env-token")
    monkeypatch.setenv("BSKY_TEST_HANDLE", "shinyakato.dev")
    monkeypatch.setenv("BSKY_TEST_PASSWORD", "app-pass-word")


def _connector(identities: tuple[BrandIdentity, ...] = (), **options: Any) -> BlueskyConnector:
    return BlueskyConnector(
        BlueskyOptions.model_validate(options),
        feed_name="acme-bluesky",
        identities=identities,
        base_url="https://pds.example",
    )


def _mention(uri: str) -> MentionRecord:
    return MentionRecord("bluesky", uri, datetime(2023, 4, 21, 16, 54, tzinfo=UTC), "mention")


def test_recheck_attaches_the_brands_thread_reply_to_the_mention_it_answers() -> None:
    # Recorded getPostThread of alice's post 3jtvi2jrijx2y (2023-04-21). nvpkp.bsky.social
    # (did:plc:xbxpdv7nstw5ybmlneupnuaa) plays the brand: its reply 3jtvjdinqcm2a has
    # createdAt "2023-04-21T17:16:55.017Z" and record.reply.parent.uri = the root post.
    handler = Recording(lambda request: httpx.Response(200, content=THREAD))

    brand = BrandIdentity("bluesky", handle="nvpkp.bsky.social")
    connector = _connector((brand,), query="heatmap", **TOKEN_ENV)
    with mock_client(handler) as client:
        replies = connector.recheck(client, [_mention(ROOT_URI)], datetime(2023, 4, 22, tzinfo=UTC))

    assert handler.requests[0].url.path == "/xrpc/app.bsky.feed.getPostThread"
    assert handler.requests[0].url.params["uri"] == ROOT_URI
    assert handler.requests[0].url.params["parentHeight"] == "0"
    assert handler.requests[0].headers["Authorization"] == "Bearer env-token"
    [reply] = replies
    assert reply.in_reply_to == ROOT_URI
    assert (
        reply.external_id
        == "at://did:plc:xbxpdv7nstw5ybmlneupnuaa/app.bsky.feed.post/3jtvjdinqcm2a"
    )
    assert reply.created_at == datetime(2023, 4, 21, 17, 16, 55, 17000, tzinfo=UTC)
    assert reply.author == "nvpkp.bsky.social"
    assert reply.author_id == "did:plc:xbxpdv7nstw5ybmlneupnuaa"
    assert reply.url == "https://bsky.app/profile/nvpkp.bsky.social/post/3jtvjdinqcm2a"
    assert reply.text == "🔥"
    assert reply.earlier_unseen is False, "replyCount 2, both replies shown"


def test_recheck_marks_a_reply_not_exact_when_the_thread_shows_fewer_replies_than_it_has() -> None:
    """The same recorded thread with its replyCount raised to 3 (one more reply than the
    answer holds, as when the AppView leaves some out): the brand reply found may not be
    the first, so it is an upper bound."""
    data = json.loads(THREAD)
    data["thread"]["post"]["replyCount"] = 3
    brand = BrandIdentity("bluesky", handle="nvpkp.bsky.social")
    connector = _connector((brand,), query="heatmap", **TOKEN_ENV)
    with mock_client(lambda request: httpx.Response(200, json=data)) as client:
        [reply] = connector.recheck(client, [_mention(ROOT_URI)], datetime(2023, 4, 22, tzinfo=UTC))
    assert reply.in_reply_to == ROOT_URI
    assert reply.earlier_unseen is True


def test_recheck_walks_past_blocked_and_not_found_nodes_to_a_nested_brand_reply() -> None:
    # tautologer.com (matched here by DID) answered bcgraham's reply 3jtviwrkkbn2e at
    # 2023-04-21T20:30:55.432Z; its siblings are a #blockedPost and a #notFoundPost node.
    brand = BrandIdentity("bluesky", account_id="did:plc:kef63ihhci7f5xhriu4asjhb", bot=True)
    connector = _connector((brand,), query="heatmap", **TOKEN_ENV)
    with mock_client(lambda request: httpx.Response(200, content=THREAD)) as client:
        [reply] = connector.recheck(client, [_mention(ROOT_URI)], datetime(2023, 4, 22, tzinfo=UTC))
    assert (
        reply.in_reply_to
        == "at://did:plc:o3muczkqodgc563d4rip3rpn/app.bsky.feed.post/3jtviwrkkbn2e"
    )
    assert reply.created_at == datetime(2023, 4, 21, 20, 30, 55, 432000, tzinfo=UTC)
    assert reply.bot is True


def test_recheck_skips_a_mention_that_is_gone() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["uri"].endswith("/gone"):
            return httpx.Response(400, json={"error": "NotFound", "message": "Post not found"})
        return httpx.Response(200, content=THREAD)

    brand = BrandIdentity("bluesky", handle="nvpkp.bsky.social")
    connector = _connector((brand,), query="heatmap", **TOKEN_ENV)
    gone = _mention("at://did:plc:x/app.bsky.feed.post/gone")
    with mock_client(handler) as client:
        replies = connector.recheck(client, [gone, _mention(ROOT_URI)], datetime.now(UTC))
    assert [r.in_reply_to for r in replies] == [ROOT_URI]


def test_notifications_log_in_and_turn_the_brands_reply_into_a_brand_reply() -> None:
    # Recorded listNotifications of shinyakato.dev (2023-09): mackuba.eu plays the brand; its
    # post 3k6h5wnblxk2g (createdAt 2023-09-02T23:52:43.614Z) answers dholms.xyz's reply
    # 3k6h5l3ytoi2o, which is itself one of the 24 mention/reply/quote notifications.
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path.endswith("createSession"):
            return httpx.Response(200, content=SESSION)
        return httpx.Response(200, content=NOTIFICATIONS)

    brand = BrandIdentity("bluesky", handle="mackuba.eu")
    connector = _connector((brand,), mentions=True, backfill="7d", **LOGIN_ENV)
    with mock_client(handler) as client:
        result = connector.poll(client, FeedCursor(), datetime(2023, 9, 4, 12, tzinfo=UTC))

    login = requests[0]
    assert login.method == "POST"
    assert json.loads(login.content) == {
        "identifier": "shinyakato.dev",
        "password": "app-pass-word",
    }
    assert requests[1].url.path == "/xrpc/app.bsky.notification.listNotifications"
    assert requests[1].url.params.get_list("reasons") == ["mention", "reply", "quote"]
    assert requests[1].headers["Authorization"] == "Bearer test-access-jwt"
    [reply] = result.brand_replies
    dholms = "at://did:plc:yk4dd2qkboz2yv6tpubpc6co/app.bsky.feed.post/3k6h5l3ytoi2o"
    assert reply.in_reply_to == dholms
    assert (
        reply.external_id
        == "at://did:plc:oio4hkxaop4ao4wz2pp3f4cr/app.bsky.feed.post/3k6h5wnblxk2g"
    )
    assert reply.created_at == datetime(2023, 9, 2, 23, 52, 43, 614000, tzinfo=UTC)
    by_id = {m.external_id: m for m in result.mentions}
    assert len(by_id) == 23  # 17 replies + 4 quotes + 3 mentions, less the brand's own post
    assert dholms in by_id and reply.external_id not in by_id
    assert by_id[dholms].author == "dholms.xyz"
    # likes, reposts and follows are not mentions; the cursor is the newest mention's time
    assert result.state.cursor == "2023-09-04T04:00:35.516Z"


def test_a_link_facet_puts_the_full_url_back_into_shortened_text() -> None:
    # The quote 3k67nd25uod26 shows "www.youtube.com/watch?v=Zyyn..." over bytes 35..66 (after
    # two 4-byte emoji); its facet holds https://www.youtube.com/watch?v=Zyyn5rvmJ9I.
    notifications = json.loads(NOTIFICATIONS)["notifications"]
    [quote] = [n for n in notifications if n["uri"].endswith("/3k67nd25uod26")]
    assert post_text(quote["record"]) == (
        "The music to this one … 😘👌 https://www.youtube.com/watch?v=Zyyn5rvmJ9I"
    )
    [cara] = [n for n in notifications if n["uri"].endswith("/3k6g7lh2jhh2j")]
    assert post_text(cara["record"]) == "it's just https://GitHub.com/caraesten/atty"


def test_search_first_poll_reads_the_backfill_window_and_saves_the_newest_time() -> None:
    handler = Recording(lambda request: httpx.Response(200, content=SEARCH))

    connector = _connector(query="fone de ouvido", backfill="2d", lang="pt", **TOKEN_ENV)
    with mock_client(handler) as client:
        result = connector.poll(client, FeedCursor(), datetime(2023, 4, 25, tzinfo=UTC))

    params = handler.requests[0].url.params
    assert handler.requests[0].url.path == "/xrpc/app.bsky.feed.searchPosts"
    assert (params["q"], params["sort"], params["lang"]) == ("fone de ouvido", "latest", "pt")
    assert params["since"] == "2023-04-23T00:00:00.000Z"
    [mention] = result.mentions
    assert (
        mention.external_id
        == "at://did:plc:d3zpokjdspr22chfrc427eis/app.bsky.feed.post/3ju4p6u2i3a2g"
    )
    assert mention.url == "https://bsky.app/profile/luy.gay/post/3ju4p6u2i3a2g"
    assert mention.author == "luy.gay" and mention.author_id == "did:plc:d3zpokjdspr22chfrc427eis"
    assert mention.created_at == datetime(2023, 4, 24, 13, 50, 19, 672000, tzinfo=UTC)
    assert mention.text.startswith("eu queria um fone de ouvido com fio")
    # the recorded page has a cursor ("xxxxxxx"); the second page repeats the post: stop
    assert len(handler.requests) == 2 and handler.requests[1].url.params["cursor"] == "xxxxxxx"
    assert result.state.cursor == "2023-04-24T13:50:19.672Z"


def test_indexed_before_created_the_cursor_uses_the_earlier_time() -> None:
    # metasj's recorded reply 3jve4frgrzy2f: createdAt 06:00:42.133Z, indexedAt 06:00:40.690Z.
    post = HELLTHREAD["thread"]["replies"][0]["post"]
    page = {"posts": [post]}
    connector = _connector(query="hellthread", backfill="1d", **TOKEN_ENV)
    with mock_client(lambda request: httpx.Response(200, json=page)) as client:
        result = connector.poll(client, FeedCursor(), datetime(2023, 5, 10, 12, tzinfo=UTC))
        again = connector.poll(client, result.state, datetime(2023, 5, 10, 12, 5, tzinfo=UTC))
    [mention] = result.mentions
    assert mention.created_at == datetime(2023, 5, 10, 6, 0, 42, 133000, tzinfo=UTC)
    assert (
        mention.parent_id
        == "at://did:plc:iuk433sj23ncu2oo2pfnw7fw/app.bsky.feed.post/3jujgsslyxt2h"
    )
    assert result.state.cursor == "2023-05-10T06:00:40.690Z"
    assert again.state.cursor == "2023-05-10T06:00:40.690Z"


def test_next_poll_stops_at_the_saved_time_less_the_overlap() -> None:
    handler = Recording(lambda request: httpx.Response(200, content=SEARCH))

    state = FeedCursor(cursor="2023-04-25T00:00:00.000Z")
    connector = _connector(query="fone", **TOKEN_ENV)
    with mock_client(handler) as client:
        result = connector.poll(client, state, datetime(2023, 4, 26, tzinfo=UTC))
    assert handler.requests[0].url.params["since"] == "2023-04-24T23:50:00.000Z"
    assert len(handler.requests) == 1  # the post is older than the saved time: no second page
    assert result.mentions == []
    assert result.state.cursor == "2023-04-25T00:00:00.000Z"


def test_missing_handle_env_is_an_auth_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BSKY_TEST_HANDLE")
    connector = _connector(mentions=True, **LOGIN_ENV)
    with (
        mock_client(lambda request: httpx.Response(200, content=SESSION)) as client,
        pytest.raises(AuthError, match="BSKY_TEST_HANDLE"),
    ):
        connector.poll(client, FeedCursor(), datetime.now(UTC))


def test_a_refused_login_names_both_env_vars() -> None:
    answer = {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
    connector = _connector(mentions=True, **LOGIN_ENV)
    with (
        mock_client(lambda request: httpx.Response(401, json=answer)) as client,
        pytest.raises(AuthError, match=r"BSKY_TEST_HANDLE.*BSKY_TEST_PASSWORD"),
    ):
        connector.poll(client, FeedCursor(), datetime.now(UTC))


def test_session_is_reused_and_renewed_once_after_a_401() -> None:
    logins: list[httpx.Request] = []
    answers = iter([httpx.Response(200, content=SEARCH), httpx.Response(401)])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("createSession"):
            logins.append(request)
            return httpx.Response(200, content=SESSION)
        if request.url.params.get("cursor"):
            return httpx.Response(200, json={"posts": []})
        return next(answers, httpx.Response(200, content=SEARCH))

    connector = _connector(query="fone", backfill="3650d", **LOGIN_ENV)
    now = datetime(2023, 4, 25, tzinfo=UTC)
    with mock_client(handler) as client:
        connector.poll(client, FeedCursor(), now)
        assert len(logins) == 1
        result = connector.poll(client, FeedCursor(), now)  # 401, one new login, then ok
    assert len(logins) == 2
    assert len(result.mentions) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"token_env": "T"},
        {"query": "x", "mentions": True, "token_env": "T"},
        {"query": "x"},
        {"mentions": True, "handle_env": "H"},
    ],
)
def test_options_need_one_stream_and_credentials(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        BlueskyOptions.model_validate(options)


# -- the filters' account, sent as searchPosts' `author` (a Narrowing) -------------------

APRIL_25 = datetime(2023, 4, 25, tzinfo=UTC)


def _narrowed(
    narrowing: Narrowing, identities: tuple[BrandIdentity, ...] = (), **options: Any
) -> BlueskyConnector:
    return BlueskyConnector(
        BlueskyOptions.model_validate({"query": "fone de ouvido", **TOKEN_ENV, **options}),
        feed_name="acme-bluesky",
        identities=identities,
        base_url="https://pds.example",
        narrowing=narrowing,
    )


def test_the_filters_one_account_is_sent_as_the_author_parameter() -> None:
    handler = Recording(lambda request: httpx.Response(200, content=SEARCH))
    connector = _narrowed(Narrowing(authors=("luy.gay",), not_authors=("spam.example",)))
    with mock_client(handler) as client:
        result = connector.poll(client, FeedCursor(), APRIL_25)

    assert handler.requests[0].url.params.get_list("author") == ["luy.gay"]
    assert connector.sent_narrowing() == "author=luy.gay"  # no exclusion in searchPosts
    assert [m.author for m in result.mentions] == ["luy.gay"]


@pytest.mark.parametrize(
    ("narrowing", "identities"),
    [
        (Narrowing(authors=("luy.gay", "bob.example")), ()),  # one account per search
        (Narrowing(authors=("luy.gay",)), (BrandIdentity("bluesky", handle="acme.example"),)),
    ],
)
def test_no_author_is_sent_when_it_would_leave_out_another_account_or_the_brand(
    narrowing: Narrowing, identities: tuple[BrandIdentity, ...]
) -> None:
    # the brand's replies come through the same search, and no filter judges them
    handler = Recording(lambda request: httpx.Response(200, content=SEARCH))
    connector = _narrowed(narrowing, identities)
    with mock_client(handler) as client:
        connector.poll(client, FeedCursor(), APRIL_25)
    assert "author" not in handler.requests[0].url.params
    assert connector.sent_narrowing() == ""


def test_a_refused_author_sends_the_search_again_without_it_from_then_on() -> None:
    refused = fixture_bytes("bluesky", "searchPosts_400_from_docs.json")

    def answer(request: httpx.Request) -> httpx.Response:
        if "author" in request.url.params:
            return httpx.Response(400, content=refused)
        return httpx.Response(200, content=SEARCH)

    handler = Recording(answer)
    connector = _narrowed(Narrowing(authors=("gone.example",)), max_pages=1)
    with mock_client(handler) as client:
        first = connector.poll(client, FeedCursor(), APRIL_25)
        connector.poll(client, FeedCursor(), APRIL_25)

    assert ["author" in r.url.params for r in handler.requests] == [True, False, False]
    assert len(first.mentions) == 1
    assert any("without the filters' account" in w for w in first.warnings)
    assert connector.sent_narrowing() == ""
