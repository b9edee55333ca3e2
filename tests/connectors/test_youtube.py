"""The YouTube connector over recorded Data API payloads (tests/fixtures/youtube)."""

from __future__ import annotations

import copy
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
    RateLimited,
)
from connectors.sources.youtube import YouTubeConnector, YouTubeOptions, seconds_to_pacific_midnight
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import mock_client

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PAGE1 = fixture_bytes("youtube", "commentThreads_videoId_page1_2019.json")
PAGE2 = fixture_bytes("youtube", "commentThreads_videoId_page2_2019.json")
CHANNEL = fixture_bytes("youtube", "commentThreads_allThreadsRelatedToChannelId_2019.json")
REPLIES1 = fixture_bytes("youtube", "comments_parentId_Ugw5z_page1_2019.json")
REPLIES2 = fixture_bytes("youtube", "comments_parentId_Ugw5z_page2_2019.json")
# Dian Anggraeni replied in the recorded thread with replies; she plays the brand.
DIAN = BrandIdentity(
    platform="youtube", handle="Dian Anggraeni", account_id="UCsl2A_QzcSnFD2hpCyVwXxA"
)


def thread_with_reply_page() -> dict[str, Any]:
    """The recorded thread (part=replies) inside the recorded list envelope of page 2.

    The thread was recorded as a single resource; commentThreads.list returns such resources
    in `items`, so it is wrapped in a real list response (no nextPageToken: the last page).
    """
    envelope: dict[str, Any] = json.loads(PAGE2)
    item = json.loads(fixture_bytes("youtube", "commentThread_item_with_replies_part_2019.json"))
    envelope["items"] = [item]
    return envelope


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOUTUBE_API_KEY", "test-key")


def _connector(identities: tuple[BrandIdentity, ...] = (), **options: Any) -> YouTubeConnector:
    opts = {"video_id": "F1UP7wRCPH8", **options}
    return YouTubeConnector(
        YouTubeOptions.model_validate(opts), feed_name="yt", identities=identities
    )


class Api:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answer(request) if callable(self.answer) else self.answer
        if isinstance(answer, httpx.Response):
            return answer
        if isinstance(answer, dict):
            return httpx.Response(200, json=answer)
        return httpx.Response(200, content=answer)


def test_first_run_reads_one_page_of_threads_as_mentions() -> None:
    api = Api(PAGE1)
    with mock_client(api) as client:
        result = _connector().poll(client, FeedCursor(), NOW)
    assert len(api.requests) == 1, "the first run reads back backfill_pages=1 page only"
    params = api.requests[0].url.params
    assert api.requests[0].url.path == "/youtube/v3/commentThreads"
    assert params["part"] == "snippet,replies" and params["order"] == "time"
    assert params["maxResults"] == "100" and params["videoId"] == "F1UP7wRCPH8"
    assert params["key"] == "test-key"
    assert [m.author for m in result.mentions] == [
        "himani agarwal",
        "el bojo loco",
        "Andres Jorquera",
        "Masum Khan",
        "matrix uduma",
    ]
    first = result.mentions[0]
    assert first.external_id == "UgyZ1jqkHKYvi1-ruOZ4AaABAg"
    assert first.created_at == datetime(2019, 11, 26, 15, 51, 44, tzinfo=UTC)
    assert first.author_id == "UCzj-CjKYmGlZ7vTL-vOe57A"
    assert first.url == "https://www.youtube.com/watch?v=F1UP7wRCPH8&lc=UgyZ1jqkHKYvi1-ruOZ4AaABAg"
    assert first.text == "Google.com"  # textOriginal, not the <a> of textDisplay
    assert result.mentions[4].text.startswith("Lot's of good light")  # no &#39;
    assert json.loads(result.state.cursor or "") == {
        "since": "2019-11-26T15:51:44+00:00",
        "ids": ["UgyZ1jqkHKYvi1-ruOZ4AaABAg"],
    }


def test_recorded_brand_reply_is_attached_to_its_thread() -> None:
    with mock_client(Api(thread_with_reply_page())) as client:
        result = _connector(identities=(DIAN,), video_id="D-lhorsDlUQ").poll(
            client, FeedCursor(), NOW
        )
    [mention] = result.mentions
    assert mention.external_id == "UgydxWWoeA7F1OdqypJ4AaABAg"
    assert mention.author == "Loren Robilio"
    assert mention.created_at == datetime(2019, 6, 23, 8, 24, 24, tzinfo=UTC)
    [reply] = result.brand_replies
    # publishedAt "2019-07-20T20:22:27.000Z": 27 days 11 h 58 min 3 s after the comment
    assert reply.in_reply_to == mention.external_id
    assert reply.external_id == "UgydxWWoeA7F1OdqypJ4AaABAg.8wWQ3tdHcFx8xcDheui-qb"
    assert reply.created_at == datetime(2019, 7, 20, 20, 22, 27, tzinfo=UTC)
    assert reply.created_at - mention.created_at == timedelta(
        days=27, seconds=11 * 3600 + 58 * 60 + 3
    )
    assert reply.author == "Dian Anggraeni" and reply.author_id == "UCsl2A_QzcSnFD2hpCyVwXxA"
    assert reply.url == (
        "https://www.youtube.com/watch?v=D-lhorsDlUQ&lc=UgydxWWoeA7F1OdqypJ4AaABAg.8wWQ3tdHcFx8xcDheui-qb"
    )
    assert reply.text == "#" and reply.bot is False


def test_owner_is_brand_counts_the_video_owners_reply_without_an_identity() -> None:
    page = thread_with_reply_page()
    # The docs' snippet.channelId (the video owner's channel) is absent from this 2019
    # recording; here the replier is declared the owner to exercise owner_is_brand.
    page["items"][0]["snippet"]["channelId"] = "UCsl2A_QzcSnFD2hpCyVwXxA"
    with mock_client(Api(page)) as client:
        owner = _connector(video_id="D-lhorsDlUQ", owner_is_brand=True).poll(
            client, FeedCursor(), NOW
        )
        plain = _connector(video_id="D-lhorsDlUQ").poll(client, FeedCursor(), NOW)
    assert [r.in_reply_to for r in owner.brand_replies] == ["UgydxWWoeA7F1OdqypJ4AaABAg"]
    assert plain.brand_replies == []


def test_top_level_comments_by_the_brand_are_not_mentions() -> None:
    kun_liu = BrandIdentity(platform="youtube", account_id="UCNvMBmCASzTNNX8lW3JRMbw")
    with mock_client(Api(CHANNEL)) as client:
        result = _connector(
            identities=(kun_liu,), video_id=None, channel_id="UCa-vrCLQHviTOVnEKDOdetQ"
        ).poll(client, FeedCursor(), NOW)
    assert [m.author for m in result.mentions] == ["杨佳名", "杨佳名"]
    # the channel discussion thread has no videoId: the link goes to the channel
    assert result.mentions[0].url == "https://www.youtube.com/channel/UCa-vrCLQHviTOVnEKDOdetQ"
    # the cursor still moves to the brand's newest comment (2019-12-01T03:36:55Z)
    assert json.loads(result.state.cursor or "")["since"] == "2019-12-01T03:36:55+00:00"


def test_saved_position_stops_the_walk_and_skips_what_was_seen() -> None:
    api = Api(PAGE1)
    saved = json.dumps(
        {"since": "2019-11-17T11:34:48+00:00", "ids": ["UgysQP-vp089eFP0Stl4AaABAg"]}
    )
    with mock_client(api) as client:
        result = _connector().poll(client, FeedCursor(cursor=saved), NOW)
    assert [m.external_id for m in result.mentions] == [
        "UgyZ1jqkHKYvi1-ruOZ4AaABAg",
        "Ugy4OzAuz5uJuFt3FH54AaABAg",
    ]
    assert len(api.requests) == 1, "page 1 reached the saved position: no page 2"
    assert result.warnings == []


def test_pages_follow_next_page_token_and_repeats_are_dropped() -> None:
    api = Api(lambda request: PAGE2 if "pageToken" in request.url.params else PAGE1)
    saved = json.dumps({"since": "2019-01-01T00:00:00+00:00", "ids": []})
    with mock_client(api) as client:
        result = _connector().poll(client, FeedCursor(cursor=saved), NOW)
    assert len(api.requests) == 2
    assert api.requests[1].url.params["pageToken"].startswith("QURTSl9pMzdZOUVzMkI0")
    # the recorded page 2 repeats page 1 thread for thread
    assert len(result.mentions) == 5


def test_page_cap_before_the_saved_position_warns_about_the_gap() -> None:
    saved = json.dumps({"since": "2019-01-01T00:00:00+00:00", "ids": []})
    with mock_client(Api(PAGE1)) as client:
        result = _connector(max_pages=1).poll(client, FeedCursor(cursor=saved), NOW)
    assert len(result.mentions) == 5
    assert result.warnings and "before the saved position" in result.warnings[0]


def test_etag_is_sent_back_and_a_304_keeps_the_cursor() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, content=PAGE2, headers={"ETag": '"v1"'})

    with mock_client(Api(answer)) as client:
        connector = _connector()
        first = connector.poll(client, FeedCursor(), NOW)
        second = connector.poll(client, first.state, NOW)
    assert first.state.etag == '"v1"'
    assert second.not_modified and second.state == first.state


def test_recheck_reads_all_replies_of_a_thread_with_more_than_the_replies_part() -> None:
    channel = json.loads(CHANNEL)
    thread = next(i for i in channel["items"] if i["id"] == "Ugw5zYU6n9pmIgAZWvN4AaABAg")
    # The listing was recorded before the 3 replies of comments_parentId_*; a re-read by id
    # now counts them (totalReplyCount 3) without carrying them (no `replies` part).
    now_thread = copy.deepcopy(thread)
    now_thread["snippet"]["totalReplyCount"] = 3
    by_id = {**channel, "items": [now_thread]}

    def answer(request: httpx.Request) -> Any:
        if request.url.path.endswith("/commentThreads"):
            return by_id
        return REPLIES2 if "pageToken" in request.url.params else REPLIES1

    api = Api(answer)
    # kun liu, who wrote the only recorded replies, plays the brand here
    kun_liu = BrandIdentity(platform="youtube", account_id="UCNvMBmCASzTNNX8lW3JRMbw")
    mention = MentionRecord(
        platform="youtube",
        external_id="Ugw5zYU6n9pmIgAZWvN4AaABAg",
        created_at=datetime(2019, 12, 1, 3, 36, 10, tzinfo=UTC),
        text="This is so beautiful !",
    )
    connector = _connector(
        identities=(kun_liu,), video_id=None, channel_id="UCa-vrCLQHviTOVnEKDOdetQ"
    )
    with mock_client(api) as client:
        replies = connector.recheck(client, [mention], NOW)
    assert [r.url.path.rsplit("/", 1)[1] for r in api.requests] == [
        "commentThreads",
        "comments",
        "comments",
    ]
    assert api.requests[0].url.params["id"] == "Ugw5zYU6n9pmIgAZWvN4AaABAg"
    assert api.requests[1].url.params["parentId"] == "Ugw5zYU6n9pmIgAZWvN4AaABAg"
    assert {r.in_reply_to for r in replies} == {mention.external_id}
    earliest = min(replies, key=lambda r: r.created_at)
    # "hey, this is the replay" at 2019-12-01T04:46:00Z: 1 h 9 min 50 s after the comment
    assert earliest.external_id == "Ugw5zYU6n9pmIgAZWvN4AaABAg.91zT3cYb5B291za3E-eR-l"
    assert earliest.created_at - mention.created_at == timedelta(hours=1, minutes=9, seconds=50)
    assert len(replies) == 3


def test_recheck_without_anyone_to_look_for_makes_no_request() -> None:
    api = Api(CHANNEL)
    mention = MentionRecord("youtube", "Ugw5zYU6n9pmIgAZWvN4AaABAg", NOW, "")
    with mock_client(api) as client:
        assert _connector().recheck(client, [mention], NOW) == []
    assert api.requests == []


def test_quota_exceeded_waits_until_midnight_pacific() -> None:
    body = fixture_bytes("youtube", "error_403_quotaExceeded_from_docs.json")
    with (
        mock_client(Api(httpx.Response(403, content=body))) as client,
        pytest.raises(RateLimited, match="quotaExceeded") as caught,
    ):
        _connector().poll(client, FeedCursor(), NOW)
    # 2026-11-23T12:00Z is 04:00 PST (UTC-8); midnight PST is 2026-11-24T08:00Z, 20 h away
    assert caught.value.retry_after == 20 * 3600
    # in summer (PDT, UTC-7) midnight is 07:00Z
    assert seconds_to_pacific_midnight(datetime(2026, 7, 1, 6, 0, tzinfo=UTC)) == 3600


def test_rate_limit_exceeded_is_rate_limited_not_auth() -> None:
    body = fixture_bytes("youtube", "error_403_rateLimitExceeded_from_docs.json")
    with (
        mock_client(Api(httpx.Response(403, content=body))) as client,
        pytest.raises(RateLimited) as caught,
    ):
        _connector().poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == 60


@pytest.mark.parametrize(
    ("fixture", "status", "says"),
    [
        ("error_400_keyInvalid.json", 400, "YOUTUBE_API_KEY is invalid or expired"),
        ("error_403_permission_denied.json", 403, "YouTube Data API v3 is enabled"),
    ],
)
def test_key_and_permission_errors_say_what_to_fix(fixture: str, status: int, says: str) -> None:
    body = fixture_bytes("youtube", fixture)
    with (
        mock_client(Api(httpx.Response(status, content=body))) as client,
        pytest.raises(AuthError, match=says),
    ):
        _connector().poll(client, FeedCursor(), NOW)


def test_missing_api_key_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YOUTUBE_API_KEY")
    api = Api(PAGE1)
    with mock_client(api) as client, pytest.raises(AuthError, match="YOUTUBE_API_KEY is not set"):
        _connector().poll(client, FeedCursor(), NOW)
    assert api.requests == []


def test_options_need_exactly_one_of_video_and_channel() -> None:
    with pytest.raises(pydantic.ValidationError, match="exactly one"):
        YouTubeConnector.Options.model_validate({})
    with pytest.raises(pydantic.ValidationError, match="exactly one"):
        YouTubeConnector.Options.model_validate({"video_id": "a", "channel_id": "b"})


def test_a_reply_from_the_replies_part_of_a_longer_thread_is_not_exact() -> None:
    """The replies part carries only some replies: Dian's recorded reply is exact while the
    thread has just that one (totalReplyCount 1), and an upper bound once the thread counts
    more replies than the part carries (raised to 7 here), until comments.list reads them."""
    page = thread_with_reply_page()
    with mock_client(Api(page)) as client:
        [exact] = (
            _connector((DIAN,), video_id="D-lhorsDlUQ")
            .poll(client, FeedCursor(), NOW)
            .brand_replies
        )
    longer = copy.deepcopy(page)
    longer["items"][0]["snippet"]["totalReplyCount"] = 7
    with mock_client(Api(longer)) as client:
        [bound] = (
            _connector((DIAN,), video_id="D-lhorsDlUQ")
            .poll(client, FeedCursor(), NOW)
            .brand_replies
        )
    assert (
        exact.external_id
        == bound.external_id
        == "UgydxWWoeA7F1OdqypJ4AaABAg.8wWQ3tdHcFx8xcDheui-qb"
    )
    assert (exact.earlier_unseen, bound.earlier_unseen) == (False, True)


def test_a_reply_walk_stopped_by_max_reply_pages_is_not_exact() -> None:
    """max_reply_pages = 1 reads the newest page of the recorded two: the earliest reply
    (04:46:00, page 2) stays unread, so the replies found are upper bounds."""
    channel = json.loads(CHANNEL)
    thread = next(i for i in channel["items"] if i["id"] == "Ugw5zYU6n9pmIgAZWvN4AaABAg")
    thread = copy.deepcopy(thread)
    thread["snippet"]["totalReplyCount"] = 3

    def answer(request: httpx.Request) -> Any:
        if request.url.path.endswith("/commentThreads"):
            return {**channel, "items": [thread]}
        return REPLIES2 if "pageToken" in request.url.params else REPLIES1

    kun_liu = BrandIdentity(platform="youtube", account_id="UCNvMBmCASzTNNX8lW3JRMbw")
    mention = MentionRecord("youtube", "Ugw5zYU6n9pmIgAZWvN4AaABAg", NOW, "")
    api = Api(answer)
    connector = _connector(
        (kun_liu,), video_id=None, channel_id="UCa-vrCLQHviTOVnEKDOdetQ", max_reply_pages=1
    )
    with mock_client(api) as client:
        replies = connector.recheck(client, [mention], NOW)
    assert len(api.requests) == 2, "one commentThreads call, one comments page"
    assert min(r.created_at for r in replies) == datetime(2019, 12, 1, 4, 46, 20, tzinfo=UTC)
    assert all(r.earlier_unseen for r in replies) and len(replies) == 2
