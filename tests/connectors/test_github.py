"""The github connector over recorded GitHub API answers (octokit/fixtures, PyGithub replays)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors import (
    AuthError,
    BrandIdentity,
    FeedCursor,
    MalformedResponse,
    MentionRecord,
    Narrowing,
    RateLimited,
)
from connectors.sources.github import GitHubConnector, GitHubOptions, issue_ref_from_api_url
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import mock_client

SEARCH_REPO = "octokit-fixture-org/tmp-scenario-search-issues-20220719044045959-jlcli"
PAGINATE_REPO = "octokit-fixture-org/tmp-scenario-paginate-issues-20220719043836917-izyoe"
# headers that described the recorded (compressed, chunked) transfer, not the JSON we replay
_TRANSFER = {"content-encoding", "transfer-encoding", "content-length", "status", "connection"}


def recorded(name: str) -> tuple[bytes, int, dict[str, str]]:
    """Body, status and response headers of a recorded answer (its *.headers.json sidecar)."""
    body = fixture_bytes("github", f"{name}.json")
    try:
        meta = json.loads(fixture_bytes("github", f"{name}.headers.json"))
    except FileNotFoundError:
        return body, 200, {}
    headers = {k: v for k, v in meta["headers"].items() if k.lower() not in _TRANSFER}
    return body, meta["status"], headers


def reply_with(name: str) -> httpx.Response:
    body, status, headers = recorded(name)
    return httpx.Response(status, content=body, headers=headers)


def connector(identities: tuple[BrandIdentity, ...] = (), **options: Any) -> GitHubConnector:
    return GitHubConnector(
        GitHubOptions.model_validate(options), feed_name="gh", identities=identities
    )


def client(handler: Any, seen: list[httpx.Request]) -> httpx.Client:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        response: httpx.Response = handler(request)
        return response

    return mock_client(record)


def _paginate_issues(request: httpx.Request) -> httpx.Response:
    """The recorded first page of PAGINATE_REPO's issues; its next page and comments are empty."""
    if request.url.path == f"/repos/{PAGINATE_REPO}/issues":
        return reply_with("repo_issues_per_page3_page1_link_header_2022")
    return httpx.Response(200, content=b"[]")  # page 2 and the comments: nothing recorded


def test_search_asks_for_issues_created_since_the_backfill_newest_first_with_api_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACME_GH_TOKEN", "ghp_test")
    gh = connector(query=f"sesame repo:{SEARCH_REPO}", token_env="ACME_GH_TOKEN")
    seen: list[httpx.Request] = []
    now = datetime(2022, 7, 20, tzinfo=UTC)  # default backfill 2d -> from 2022-07-18T00:00:00Z
    with client(lambda r: reply_with("search_issues_q_sesame_repo_2022"), seen) as http:
        result = gh.poll(http, FeedCursor(), now)
    (request,) = seen
    assert request.url.path == "/search/issues"
    assert request.url.params["q"] == (
        f"sesame repo:{SEARCH_REPO} is:issue created:>=2022-07-18T00:00:00Z"
    )
    assert (request.url.params["sort"], request.url.params["order"]) == ("created", "desc")
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.headers["Authorization"] == "Bearer ghp_test"
    assert [m.external_id for m in result.mentions] == [f"{SEARCH_REPO}#2", f"{SEARCH_REPO}#1"]
    first = result.mentions[0]
    assert first.created_at == datetime(2022, 7, 19, 4, 40, 52, tzinfo=UTC)
    assert (first.author, first.author_id) == ("octokit-fixture-user-b", "31899067")
    assert first.title == "Sesame seeds split without a pop!"
    assert first.text == "I\u2019ve waited all year long, but there was no pop \U0001f62d"
    assert first.url == f"https://github.com/{SEARCH_REPO}/issues/2"
    assert result.state.cursor == "2022-07-19T04:40:52Z"
    assert result.warnings == []


def test_later_search_re_asks_the_overlap_window_for_the_lagging_index() -> None:
    gh = connector(query="sesame")
    seen: list[httpx.Request] = []
    with client(lambda r: reply_with("search_issues_q_sesame_repo_2022"), seen) as http:
        gh.poll(http, FeedCursor(cursor="2022-07-19T04:40:52Z"), datetime(2022, 7, 20, tzinfo=UTC))
    # default search_overlap is 10 minutes behind the newest issue already seen
    assert seen[0].url.params["q"] == "sesame is:issue created:>=2022-07-19T04:30:52Z"


def test_repo_issues_follow_link_next_on_first_run() -> None:
    gh = connector(repo=PAGINATE_REPO)
    seen: list[httpx.Request] = []
    with client(_paginate_issues, seen) as http:
        result = gh.poll(http, FeedCursor(), datetime(2022, 7, 20, tzinfo=UTC))
    assert [str(r.url) for r in seen[:2]] == [
        f"https://api.github.com/repos/{PAGINATE_REPO}/issues?state=all&sort=created"
        "&direction=desc&since=2022-07-18T00%3A00%3A00Z&per_page=100",
        "https://api.github.com/repositories/515435940/issues?per_page=3&page=2",
    ]
    assert [m.external_id for m in result.mentions] == [
        f"{PAGINATE_REPO}#13",
        f"{PAGINATE_REPO}#12",
        f"{PAGINATE_REPO}#11",
    ]
    assert result.mentions[0].created_at == datetime(2022, 7, 19, 4, 39, 16, tzinfo=UTC)
    assert result.mentions[0].title == "Test issue 13" and result.mentions[0].text == ""
    # newest issue, then the comments mark (no comment yet: the backfill start)
    assert result.state.cursor == "2022-07-19T04:39:16Z 2022-07-18T00:00:00Z"
    assert result.state.etag == '"33b993150c346057e2d21c5333d4bc506287037296cc0ec3f450bafe9b4bdc72"'


def test_repo_issues_stop_paging_at_the_saved_creation_time() -> None:
    gh = connector(repo=PAGINATE_REPO)
    seen: list[httpx.Request] = []
    state = FeedCursor(cursor="2022-07-19T04:39:13Z 2022-07-19T00:00:00Z")
    with client(_paginate_issues, seen) as http:
        result = gh.poll(http, state, datetime(2022, 7, 20, tzinfo=UTC))
    # #11 (04:39:10) is older than the cursor: page 2 is never asked for
    assert [r.url.path for r in seen] == [
        f"/repos/{PAGINATE_REPO}/issues",
        f"/repos/{PAGINATE_REPO}/issues/comments",
    ]
    assert seen[0].url.params["since"] == "2022-07-19T04:39:13Z"
    assert seen[1].url.params["since"] == "2022-07-19T00:00:00Z"
    assert [m.external_id for m in result.mentions] == [
        f"{PAGINATE_REPO}#13",
        f"{PAGINATE_REPO}#12",
    ]
    assert result.state.cursor == "2022-07-19T04:39:16Z 2022-07-19T00:00:00Z"


def test_a_next_link_to_another_host_is_not_followed_so_the_token_stays_home() -> None:
    gh = GitHubConnector(
        GitHubOptions(repo=PAGINATE_REPO),
        feed_name="ghes",
        base_url="https://ghe.example.com/api/v3",
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/comments"):
            return httpx.Response(200, content=b"[]")
        return reply_with("repo_issues_per_page3_page1_link_header_2022")

    with client(handler, seen) as http:
        result = gh.poll(http, FeedCursor(), datetime(2022, 7, 20, tzinfo=UTC))
    assert {r.url.host for r in seen} == {"ghe.example.com"}
    assert len(result.mentions) == 3
    assert any("api.github.com" in w for w in result.warnings)


def test_bot_reply_first_does_not_count_and_the_first_human_brand_reply_does() -> None:
    """Recorded thread PyGithub#3372: iarspider (here the brand's bot account) answers first at
    2025-09-15T12:15:13Z; the first human brand reply is EnricoMi's at 2025-09-16T19:22:02Z."""
    identities = (
        BrandIdentity("github", handle="iarspider", bot=True),
        BrandIdentity("github", handle="EnricoMi"),
    )
    gh = connector(identities, query="PyGithub per_page")
    mention = MentionRecord(
        platform="github",
        external_id="PyGithub/PyGithub#3372",
        created_at=datetime(2025, 9, 15, tzinfo=UTC),
        text="",
    )
    seen: list[httpx.Request] = []
    with client(lambda r: reply_with("issue_pygithub_3372_comments_per_page4"), seen) as http:
        replies = gh.recheck(http, [mention], datetime(2025, 9, 29, tzinfo=UTC))
    assert [r.url.path for r in seen] == ["/repos/PyGithub/PyGithub/issues/3372/comments"]
    assert [(r.author, r.bot) for r in replies] == [
        ("iarspider", True),
        ("EnricoMi", False),
        ("iarspider", True),
        ("EnricoMi", False),
    ]
    assert all(r.in_reply_to == mention.external_id for r in replies)
    assert replies[0].created_at == datetime(2025, 9, 15, 12, 15, 13, tzinfo=UTC)
    first_human = min((r for r in replies if not r.bot), key=lambda r: r.created_at)
    assert first_human.created_at == datetime(2025, 9, 16, 19, 22, 2, tzinfo=UTC)
    assert first_human.external_id == "PyGithub/PyGithub#3372/comment/3300047905"
    assert first_human.url == (
        "https://github.com/PyGithub/PyGithub/issues/3372#issuecomment-3300047905"
    )
    assert first_human.author_id == "44700269"
    assert (first_human.text or "").startswith("I could reproduce this with your code above.")


def _comments_in_pages(size: int) -> Any:
    """The recorded PyGithub#3372 comments served `size` a page, each page with a Link
    header to the next in the recorded form (`<...&page=N>; rel="next"`)."""
    body, _, headers = recorded("issue_pygithub_3372_comments_per_page4")
    comments = json.loads(body)
    url = "https://api.github.com/repos/PyGithub/PyGithub/issues/3372/comments"

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        chunk = comments[(page - 1) * size : page * size]
        links = dict(headers)
        if page * size < len(comments):
            links["Link"] = f'<{url}?per_page={size}&page={page + 1}>; rel="next"'
        return httpx.Response(200, json=chunk, headers=links)

    return answer


def test_recheck_pages_through_the_comments_to_a_reply_after_the_first_page() -> None:
    """EnricoMi (the brand) first answers in the recorded thread's second comment; served one
    comment a page, the walk follows rel="next" to it and stops there."""
    gh = connector((BrandIdentity("github", handle="EnricoMi"),), query="PyGithub per_page")
    mention = MentionRecord(
        "github", "PyGithub/PyGithub#3372", datetime(2025, 9, 15, tzinfo=UTC), ""
    )
    seen: list[httpx.Request] = []
    with client(_comments_in_pages(1), seen) as http:
        replies = gh.recheck(http, [mention], datetime(2025, 9, 29, tzinfo=UTC))
    assert [r.url.params.get("page") for r in seen] == [None, "2"]
    [reply] = replies
    assert reply.created_at == datetime(2025, 9, 16, 19, 22, 2, tzinfo=UTC)
    assert reply.earlier_unseen is False, "every comment before it was read"


def test_recheck_reads_at_most_max_pages_of_comments_per_issue() -> None:
    gh = connector(
        (BrandIdentity("github", handle="EnricoMi"),), query="PyGithub per_page", max_pages=1
    )
    mention = MentionRecord(
        "github", "PyGithub/PyGithub#3372", datetime(2025, 9, 15, tzinfo=UTC), ""
    )
    seen: list[httpx.Request] = []
    with client(_comments_in_pages(1), seen) as http:
        assert gh.recheck(http, [mention], datetime(2025, 9, 29, tzinfo=UTC)) == []
    assert len(seen) == 1


@pytest.mark.parametrize("status", [404, 410, 400])
def test_recheck_skips_a_deleted_or_unreadable_issue_and_reads_the_next(status: int) -> None:
    gh = connector((BrandIdentity("github", handle="EnricoMi"),), query="PyGithub per_page")
    gone = MentionRecord("github", "PyGithub/PyGithub#1", datetime(2025, 9, 15, tzinfo=UTC), "")
    mention = MentionRecord(
        "github", "PyGithub/PyGithub#3372", datetime(2025, 9, 15, tzinfo=UTC), ""
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/issues/1/comments"):
            return httpx.Response(status)
        return reply_with("issue_pygithub_3372_comments_per_page4")

    with client(answer, []) as http:
        replies = gh.recheck(http, [gone, mention], datetime(2025, 9, 29, tzinfo=UTC))
    assert {r.in_reply_to for r in replies} == {"PyGithub/PyGithub#3372"}


def test_a_bot_account_is_a_bot_reply_even_when_configured_without_bot() -> None:
    """Recorded vercel[bot] comment (user.type "Bot") on CS485-Harmony/Harmony#546."""
    gh = connector((BrandIdentity("github", handle="vercel[bot]"),), query="deploy")
    mention = MentionRecord(
        platform="github",
        external_id="CS485-Harmony/Harmony#546",
        created_at=datetime(2026, 4, 29, tzinfo=UTC),
        text="",
    )
    with client(
        lambda r: reply_with("issue_comments_harmony_546_vercel_bot_2026_TRANSCRIBED"), []
    ) as http:
        (reply,) = gh.recheck(http, [mention], datetime(2026, 4, 30, tzinfo=UTC))
    assert reply.bot is True
    assert reply.in_reply_to == "CS485-Harmony/Harmony#546"
    assert reply.created_at == datetime(2026, 4, 29, 15, 3, 19, tzinfo=UTC)


def test_comments_by_unconfigured_accounts_are_not_brand_replies() -> None:
    gh = connector((BrandIdentity("github", handle="acme-support"),), query="x")
    mention = MentionRecord(
        "github", "PyGithub/PyGithub#3372", datetime(2025, 9, 1, tzinfo=UTC), ""
    )
    with client(lambda r: reply_with("issue_pygithub_3372_comments_per_page4"), []) as http:
        assert gh.recheck(http, [mention], datetime(2025, 9, 29, tzinfo=UTC)) == []


def test_repo_mode_reads_the_brand_comments_in_one_call_per_cycle() -> None:
    gh = connector(
        (BrandIdentity("github", handle="enricomi"),), repo="PyGithub/PyGithub", backfill="30d"
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/repos/PyGithub/PyGithub/issues/comments":
            return reply_with("issue_pygithub_3372_comments_per_page4")
        return httpx.Response(200, content=b"[]")

    now = datetime(2025, 9, 29, 14, 47, 54, tzinfo=UTC)  # the recording's Date header
    with client(handler, seen) as http:
        result = gh.poll(http, FeedCursor(), now)
    comments_request = seen[1]
    assert dict(comments_request.url.params) == {
        "sort": "updated",
        "direction": "asc",
        "since": "2025-08-30T14:47:54Z",
        "per_page": "100",
    }
    assert len(seen) == 2, "one call for issues, one for all the repository's comments"
    assert [(r.in_reply_to, r.created_at) for r in result.brand_replies] == [
        ("PyGithub/PyGithub#3372", datetime(2025, 9, 16, 19, 22, 2, tzinfo=UTC)),
        ("PyGithub/PyGithub#3372", datetime(2025, 9, 17, 19, 49, 40, tzinfo=UTC)),
    ]
    # no issue yet: the backfill start; comments: the newest updated_at, 2025-09-17T19:49:40Z
    assert result.state.cursor == "2025-08-30T14:47:54Z 2025-09-17T19:49:40Z"


def test_comment_issue_url_gives_the_mention_id_form() -> None:
    assert (
        issue_ref_from_api_url("https://api.github.com/repos/PyGithub/PyGithub/issues/3372")
        == "PyGithub/PyGithub#3372"
    )
    assert (
        issue_ref_from_api_url("https://ghe.example.com/api/v3/repos/acme/app/issues/7")
        == "acme/app#7"
    )


def test_secondary_rate_limit_403_with_retry_after_is_rate_limited_not_auth() -> None:
    gh = connector(query="jacquev6")
    with (
        client(lambda r: reply_with("secondary_rate_limit_403_search_code"), []) as http,
        pytest.raises(RateLimited) as caught,
    ):
        gh.poll(http, FeedCursor(), datetime(2018, 10, 23, tzinfo=UTC))
    assert caught.value.retry_after == 60  # the recorded Retry-After: 60


def test_unauthenticated_primary_limit_403_is_rate_limited_with_a_minute_default() -> None:
    gh = connector(query="jacquev6")
    with (
        client(lambda r: reply_with("rate_limit_exceeded_403_unauth_2013"), []) as http,
        pytest.raises(RateLimited) as caught,
    ):
        gh.poll(http, FeedCursor(), datetime(2013, 5, 17, tzinfo=UTC))
    # x-ratelimit-remaining: 0 but no reset header in the 2013 recording
    assert caught.value.retry_after == 60


def test_exhausted_limit_waits_until_the_reset_time() -> None:
    gh = connector(query="x")
    reset = str(int(time.time()) + 120)
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    with (
        client(lambda r: httpx.Response(403, json={"message": "x"}, headers=headers), []) as http,
        pytest.raises(RateLimited) as caught,
    ):
        gh.poll(http, FeedCursor(), datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.retry_after is not None and 100 <= caught.value.retry_after <= 120


def test_a_plain_403_is_an_auth_error_naming_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_GH_TOKEN", "ghp_test")
    gh = connector(repo="acme/app", token_env="ACME_GH_TOKEN")
    body = {"message": "Resource not accessible by personal access token"}
    with (
        client(lambda r: httpx.Response(403, json=body), []) as http,
        pytest.raises(AuthError, match="ACME_GH_TOKEN"),
    ):
        gh.poll(http, FeedCursor(), datetime(2026, 1, 1, tzinfo=UTC))


def test_a_missing_token_env_var_is_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_GH_TOKEN", raising=False)
    gh = connector(repo="acme/app", token_env="ACME_GH_TOKEN")
    with client(lambda r: httpx.Response(200), []) as http, pytest.raises(AuthError) as caught:
        gh.poll(http, FeedCursor(), datetime(2026, 1, 1, tzinfo=UTC))
    assert "environment variable ACME_GH_TOKEN is not set" in str(caught.value)


def test_brand_authored_issues_are_not_mentions() -> None:
    gh = connector((BrandIdentity("github", account_id="31898046"),), query="sesame")
    with client(lambda r: reply_with("search_issues_q_sesame_repo_2022"), []) as http:
        result = gh.poll(http, FeedCursor(), datetime(2022, 7, 20, tzinfo=UTC))
    # issue #1 is by octokit-fixture-user-a (id 31898046), played here by the brand
    assert [m.external_id for m in result.mentions] == [f"{SEARCH_REPO}#2"]


def test_an_unchanged_issue_list_is_not_modified_and_keeps_the_cursor() -> None:
    gh = connector(repo="acme/app")
    seen: list[httpx.Request] = []
    state = FeedCursor(cursor="2026-01-01T00:00:00Z 2026-01-01T00:00:00Z", etag='W/"abc"')
    with client(lambda r: httpx.Response(304), seen) as http:
        result = gh.poll(http, state, datetime(2026, 1, 2, tzinfo=UTC))
    assert seen[0].headers["If-None-Match"] == 'W/"abc"'
    assert result.not_modified and result.state == state


@pytest.mark.parametrize(
    "options",
    [{}, {"query": "a", "repo": "o/r"}, {"repo": "not a repo"}, {"query": "a", "extra": 1}],
)
def test_options_need_exactly_one_mode_and_a_valid_repo(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        GitHubOptions.model_validate(options)


# -- the filters' accounts, sent as qualifiers (a Narrowing) -----------------------------


def narrowed(narrowing: Narrowing, **options: Any) -> GitHubConnector:
    return GitHubConnector(
        GitHubOptions.model_validate({"query": "sesame", **options}),
        feed_name="gh",
        narrowing=narrowing,
    )


NOW_2022 = datetime(2022, 7, 20, tzinfo=UTC)


def test_the_filters_accounts_go_into_the_search_as_author_qualifiers() -> None:
    gh = narrowed(Narrowing(authors=("octokit-fixture-user-b",), not_authors=("spam-bot",)))
    seen: list[httpx.Request] = []
    with client(lambda r: reply_with("search_issues_q_sesame_repo_2022"), seen) as http:
        result = gh.poll(http, FeedCursor(), NOW_2022)

    assert seen[0].url.params["q"] == (
        "sesame is:issue author:octokit-fixture-user-b -author:spam-bot "
        "created:>=2022-07-18T00:00:00Z"
    )
    assert gh.sent_narrowing() == "author:octokit-fixture-user-b -author:spam-bot"
    assert len(result.mentions) == 2


def test_a_repo_feed_is_not_narrowed() -> None:
    gh = GitHubConnector(
        GitHubOptions.model_validate({"repo": PAGINATE_REPO}),
        feed_name="gh",
        narrowing=Narrowing(not_authors=("spam-bot",)),
    )
    seen: list[httpx.Request] = []
    with client(_paginate_issues, seen) as http:
        gh.poll(http, FeedCursor(), NOW_2022)
    assert all("q" not in r.url.params for r in seen)
    assert gh.sent_narrowing() == ""


def test_an_account_github_cannot_search_sends_the_search_again_without_the_accounts() -> None:
    refused = fixture_bytes("github", "search_422_unknown_user_from_docs.json")

    def answer(request: httpx.Request) -> httpx.Response:
        if "author:" in request.url.params["q"]:
            return httpx.Response(422, content=refused)
        return reply_with("search_issues_q_sesame_repo_2022")

    gh = narrowed(Narrowing(not_authors=("deleted-staffer",)))
    seen: list[httpx.Request] = []
    with client(answer, seen) as http:
        first = gh.poll(http, FeedCursor(), NOW_2022)
        gh.poll(http, FeedCursor(), NOW_2022)

    asked = [r.url.params["q"].removesuffix(" created:>=2022-07-18T00:00:00Z") for r in seen]
    assert asked == [
        "sesame is:issue -author:deleted-staffer",
        "sesame is:issue",
        "sesame is:issue",
    ]
    assert len(first.mentions) == 2
    assert any("The listed users cannot be searched" in w for w in first.warnings)
    assert gh.sent_narrowing() == ""


def test_a_422_to_the_feeds_own_query_is_still_the_operators_to_mend() -> None:
    refused = fixture_bytes("github", "search_422_unknown_user_from_docs.json")
    gh = narrowed(Narrowing(), query="author:nobody-here")
    with (
        client(lambda r: httpx.Response(422, content=refused), []) as http,
        pytest.raises(MalformedResponse, match="check `query`"),
    ):
        gh.poll(http, FeedCursor(), NOW_2022)
