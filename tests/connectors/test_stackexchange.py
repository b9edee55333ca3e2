"""The Stack Exchange connector over recorded API payloads (tests/fixtures/stackexchange)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pydantic
import pytest

from connectors import (
    AuthError,
    BrandIdentity,
    FeedCursor,
    MalformedResponse,
    MentionRecord,
    RateLimited,
)
from connectors.sources.stackexchange import StackExchangeConnector
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import mock_client

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ENTERPRISE = fixture_bytes("stackexchange", "questions_tagged_openshift-enterprise_2014.json")
ANSWERS_Q4 = fixture_bytes("stackexchange", "question_4_answers_has_more_2014.json")
COMMENTS_Q13 = fixture_bytes("stackexchange", "question_13_comments_with_reply_to_user_2014.json")
EMPTY = b'{"items":[],"has_more":false,"quota_max":10000,"quota_remaining":9990}'
# Dinah (user 356 on stackoverflow, see users_356_2014.json) plays the brand.
DINAH = BrandIdentity(platform="stackexchange", handle="Dinah", account_id="356")


def _connector(
    identities: tuple[BrandIdentity, ...] = (), **options: Any
) -> StackExchangeConnector:
    opts = {"site": "stackoverflow", "tagged": "openshift-enterprise", **options}
    return StackExchangeConnector(
        StackExchangeConnector.Options.model_validate(opts),
        feed_name="so",
        identities=identities,
    )


class Api:
    """Routes requests like the API: search, answers, comments; records what was asked."""

    def __init__(self, routes: dict[str, bytes | Callable[[httpx.Request], httpx.Response]]):
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        for suffix, answer in self.routes.items():
            if path.endswith(suffix):
                if callable(answer):
                    return answer(request)
                return httpx.Response(200, content=answer)
        return httpx.Response(200, content=EMPTY)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def test_search_questions_become_mentions_with_decoded_fields() -> None:
    api = Api({"/search/advanced": ENTERPRISE})
    with mock_client(api) as client:
        result = _connector().poll(client, FeedCursor(), NOW)
    assert len(result.mentions) == 8
    first = result.mentions[0]
    assert first.external_id == "stackoverflow:q:27406879"
    # creation_date 1418231440 = 2014-12-10T17:10:40Z
    assert first.created_at == datetime(2014, 12, 10, 17, 10, 40, tzinfo=UTC)
    assert first.author == "sriraman" and first.author_id == "2859018"
    assert first.title == "Uploaded files getting deleted while redeploying in Openshift server"
    assert first.url and first.url.startswith("http://stackoverflow.com/questions/27406879/")
    assert first.extra["tags"] == ["ubuntu", "openshift", "openshift-enterprise"]
    search = api.requests[0].url.params
    assert api.requests[0].url.path == "/2.3/search/advanced"
    assert search["site"] == "stackoverflow" and search["tagged"] == "openshift-enterprise"
    assert (search["sort"], search["order"], search["filter"]) == ("creation", "asc", "withbody")
    # the first run reads back the 2-day backfill window
    assert search["fromdate"] == str(int((NOW - timedelta(days=2)).timestamp()))
    assert "key" not in search


def test_new_questions_are_checked_for_replies_in_one_batched_call_per_kind() -> None:
    api = Api({"/search/advanced": ENTERPRISE})
    with mock_client(api) as client:
        _connector(identities=(DINAH,)).poll(client, FeedCursor(), NOW)
    ids = "24631393;25765161;25852447;26299939;26731739;26846345;27143724;27406879"
    assert api.paths()[1:] == [f"/2.3/questions/{ids}/answers", f"/2.3/questions/{ids}/comments"]


def test_recheck_finds_the_brand_answer_and_attaches_it_to_question_4() -> None:
    api = Api({"/answers": ANSWERS_Q4})
    question = MentionRecord(
        platform="stackexchange",
        external_id="stackoverflow:q:4",
        created_at=datetime(2008, 7, 31, 21, 42, 52, tzinfo=UTC),
        text="",
        url="https://stackoverflow.com/questions/4/how-to-convert-decimal-to-double-in-c",
    )
    with mock_client(api) as client:
        replies = _connector(identities=(DINAH,), max_pages=1).recheck(client, [question], NOW)
    assert len(replies) == 1
    reply = replies[0]
    # Dinah's answer 305467: creation_date 1227191802 = 2008-11-20T14:36:42Z
    assert reply.in_reply_to == "stackoverflow:q:4" == question.external_id
    assert reply.external_id == "stackoverflow:a:305467"
    assert reply.created_at == datetime(2008, 11, 20, 14, 36, 42, tzinfo=UTC)
    assert reply.author == "Dinah" and reply.author_id == "356"
    assert reply.url == "https://stackoverflow.com/a/305467"
    assert reply.bot is False
    assert api.paths() == ["/2.3/questions/4/answers", "/2.3/questions/4/comments"]


def test_brand_comment_counts_unless_it_answers_another_commenter() -> None:
    # André Caron's comment 24030385 (1369237962 = 2013-05-22T15:52:42Z) is addressed to
    # Martin Argerami (user 1073106); Taryn East's 23475402 (2013-05-05T00:26:46Z) to nobody.
    andre = BrandIdentity(platform="stackexchange", account_id="313063")
    taryn = BrandIdentity(platform="stackexchange", account_id="219883")
    connector = _connector(identities=(andre, taryn))

    def question(asker: str) -> MentionRecord:
        return MentionRecord(
            platform="stackexchange",
            external_id="stackoverflow:q:13",
            created_at=datetime(2008, 8, 1, tzinfo=UTC),
            text="",
            author_id=asker,
            url="https://stackoverflow.com/questions/13",
        )

    api = Api({"/comments": COMMENTS_Q13})
    with mock_client(api) as client:
        to_asker = connector.recheck(client, [question("1073106")], NOW)
        to_someone_else = connector.recheck(client, [question("9")], NOW)
    by_id = {r.external_id: r for r in to_asker}
    assert set(by_id) == {"stackoverflow:c:24030385", "stackoverflow:c:23475402"}
    andre_reply = by_id["stackoverflow:c:24030385"]
    assert andre_reply.author == "André Caron"  # Andr&#233; Caron decoded
    assert andre_reply.created_at == datetime(2013, 5, 22, 15, 52, 42, tzinfo=UTC)
    assert andre_reply.in_reply_to == "stackoverflow:q:13"
    assert andre_reply.url == "https://stackoverflow.com/questions/13#comment24030385_13"
    assert by_id["stackoverflow:c:23475402"].created_at == datetime(
        2013, 5, 5, 0, 26, 46, tzinfo=UTC
    )
    assert [r.external_id for r in to_someone_else] == ["stackoverflow:c:23475402"]


def test_a_question_asked_by_the_brand_is_not_a_mention() -> None:
    sriraman = BrandIdentity(platform="stackexchange", account_id="2859018")
    with mock_client(Api({"/search/advanced": ENTERPRISE})) as client:
        result = _connector(identities=(sriraman,)).poll(client, FeedCursor(), NOW)
    ids = {m.external_id for m in result.mentions}
    assert len(ids) == 7 and "stackoverflow:q:27406879" not in ids


def test_second_poll_rereads_five_minutes_back_and_drops_the_repeats() -> None:
    api = Api({"/search/advanced": ENTERPRISE})
    connector = _connector()
    with mock_client(api) as client:
        first = connector.poll(client, FeedCursor(), NOW)
        second = connector.poll(client, first.state, NOW)
    cursor = json.loads(first.state.cursor or "")
    assert cursor["since"] == int((NOW - timedelta(days=2)).timestamp())  # never backwards
    assert second.mentions == []
    assert api.requests[-1].url.params["fromdate"] == str(cursor["since"] - 300)


def test_backoff_stops_the_poll_and_the_next_poll_waits_for_it() -> None:
    backoff_page = fixture_bytes(
        "stackexchange", "search_advanced_has_more_with_backoff_from_docs.json"
    )
    api = Api({"/search/advanced": backoff_page})
    with mock_client(api) as client:
        result = _connector(identities=(DINAH,)).poll(client, FeedCursor(), NOW)
        # has_more is true, but backoff 10 forbids page 2 and the reply look-ups
        assert api.paths() == ["/2.3/search/advanced"]
        assert len(result.mentions) == 5
        cursor = json.loads(result.state.cursor or "")
        assert cursor["wait_until"] == int(NOW.timestamp()) + 10
        # the recorded questions (2015) are older than the window: the cursor stays at its start
        assert cursor["since"] == int((NOW - timedelta(days=2)).timestamp())
        fresh = _connector(identities=(DINAH,))  # a new instance: the cursor alone holds it
        with pytest.raises(RateLimited) as caught:
            fresh.poll(client, result.state, NOW + timedelta(seconds=3))
        assert caught.value.retry_after == 7
        assert len(api.requests) == 1, "no request may be made inside the backoff"
        fresh.poll(client, result.state, NOW + timedelta(seconds=11))
    assert len(api.requests) == 2


def test_backoff_seen_by_poll_also_holds_back_recheck() -> None:
    backoff_page = fixture_bytes(
        "stackexchange", "search_advanced_has_more_with_backoff_from_docs.json"
    )
    connector = _connector(identities=(DINAH,))
    mention = MentionRecord("stackexchange", "stackoverflow:q:4", NOW, "")
    with mock_client(Api({"/search/advanced": backoff_page})) as client:
        connector.poll(client, FeedCursor(), NOW)
        with pytest.raises(RateLimited) as caught:
            connector.recheck(client, [mention], NOW + timedelta(seconds=4))
    assert caught.value.retry_after == 6


def test_exhausted_quota_waits_until_the_next_utc_day() -> None:
    last = fixture_bytes("stackexchange", "search_advanced_quota_exhausted_from_docs.json")
    api = Api({"/search/advanced": last})
    connector = _connector()
    with mock_client(api) as client:
        result = connector.poll(client, FeedCursor(), NOW)
        assert len(result.mentions) == 8  # what the last request returned is kept
        with pytest.raises(RateLimited) as caught:
            connector.poll(client, result.state, NOW)
    assert caught.value.retry_after == 12 * 3600  # 12:00Z -> midnight UTC
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("fixture", "retry_after"),
    [
        ("error_502_throttle_violation_quota_from_docs.json", 46472),
        ("error_502_throttle_violation_backoff_from_docs.json", 60),
    ],
)
def test_throttle_violation_raises_rate_limited(fixture: str, retry_after: float) -> None:
    body = fixture_bytes("stackexchange", fixture)
    api = Api({"/search/advanced": lambda request: httpx.Response(400, content=body)})
    with mock_client(api) as client, pytest.raises(RateLimited) as caught:
        _connector().poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == retry_after
    assert "throttle_violation" in str(caught.value)


def test_error_envelopes_map_to_auth_and_config_errors() -> None:
    denied = fixture_bytes("stackexchange", "error_403_access_denied_from_docs.json")
    bad = fixture_bytes("stackexchange", "error_400_bad_parameter_site_from_docs.json")
    with (
        mock_client(Api({"/search/advanced": lambda r: httpx.Response(400, content=denied)})) as c1,
        pytest.raises(AuthError, match="access_denied"),
    ):
        _connector().poll(c1, FeedCursor(), NOW)
    with (
        mock_client(Api({"/search/advanced": lambda r: httpx.Response(400, content=bad)})) as c2,
        pytest.raises(MalformedResponse, match=r"site is required.*check the feed's site"),
    ):
        _connector().poll(c2, FeedCursor(), NOW)


def test_app_key_is_read_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    connector = _connector(key_env="SO_TEST_KEY")
    api = Api({"/search/advanced": ENTERPRISE})
    with mock_client(api) as client:
        monkeypatch.delenv("SO_TEST_KEY", raising=False)
        with pytest.raises(AuthError, match="SO_TEST_KEY is not set"):
            connector.poll(client, FeedCursor(), NOW)
        monkeypatch.setenv("SO_TEST_KEY", "k3y((")
        connector.poll(client, FeedCursor(), NOW)
    assert api.requests[0].url.params["key"] == "k3y(("


def test_gzip_body_that_lost_its_header_is_inflated() -> None:
    api = Api({"/search/advanced": gzip.compress(ENTERPRISE)})
    with mock_client(api) as client:
        result = _connector().poll(client, FeedCursor(), NOW)
    assert len(result.mentions) == 8


def test_options_need_tags_or_a_query() -> None:
    with pytest.raises(pydantic.ValidationError, match="tagged"):
        StackExchangeConnector.Options.model_validate({"site": "stackoverflow"})
    opts = StackExchangeConnector.Options.model_validate(
        {"site": "superuser", "tagged": ["acme", " acme-cli "], "query": "acme"}
    )
    assert opts.tags() == ["acme", "acme-cli"]  # type: ignore[attr-defined]


def test_saved_cursor_yields_only_newer_questions_and_moves_forward() -> None:
    page = fixture_bytes("stackexchange", "questions_tagged_openshift_has_more_2014.json")
    api = Api({"/search/advanced": page})
    # last poll ended at jenova's question 27745223 (1420216026 = 2015-01-02T16:27:06Z)
    saved = FeedCursor(cursor=json.dumps({"since": 1420216026, "seen": {"27745223": 1420216026}}))
    with mock_client(api) as client:
        result = _connector(max_pages=1).poll(client, saved, NOW)
    assert [m.external_id for m in result.mentions] == ["stackoverflow:q:27751666"]
    assert result.mentions[0].created_at == datetime(2015, 1, 3, 4, 17, 12, tzinfo=UTC)
    cursor = json.loads(result.state.cursor or "")
    assert cursor == {"since": 1420258632, "seen": {"27751666": 1420258632}}
    assert api.requests[0].url.params["fromdate"] == str(1420216026 - 300)
    assert result.warnings == ["stopped after 1 pages; the rest comes next poll"]
