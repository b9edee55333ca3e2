"""The github connector through a real socket: a local server answers with recorded payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from connectors import BrandIdentity, FeedCursor, MentionRecord
from connectors.http import make_client
from connectors.sources.github import GitHubConnector, GitHubOptions
from tests.connectors.recorded import recorded_reply
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply

REPO = "octokit-fixture-org/tmp-scenario-paginate-issues-20220719043836917-izyoe"
NOW = datetime(2022, 7, 20, tzinfo=UTC)


def _serve_repo(server: LocalServer) -> None:
    server.route(
        f"/repos/{REPO}/issues",
        recorded_reply("github", "repo_issues_per_page3_page1_link_header_2022"),
    )
    server.route(f"/repos/{REPO}/issues/comments", Reply.json([]))


def test_repo_poll_and_recheck_over_a_real_socket(server: LocalServer) -> None:
    _serve_repo(server)
    server.route(
        "/repos/PyGithub/PyGithub/issues/3372/comments",
        recorded_reply("github", "issue_pygithub_3372_comments_per_page4"),
    )
    connector = GitHubConnector(
        GitHubOptions(repo=REPO),
        feed_name="acme-github",
        identities=[BrandIdentity("github", handle="EnricoMi")],
        base_url=server.url,
    )
    search = GitHubConnector(
        GitHubOptions(query="per_page"),
        feed_name="acme-github-search",
        identities=[BrandIdentity("github", handle="EnricoMi")],
        base_url=server.url,
    )
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)
        replies = search.recheck(
            client,
            [MentionRecord("github", "PyGithub/PyGithub#3372", NOW, "open issue")],
            NOW,
        )

    assert [m.external_id for m in result.mentions] == [f"{REPO}#13", f"{REPO}#12", f"{REPO}#11"]
    # the recorded Link header points at api.github.com: not followed from another host
    assert [r.path for r in server.requests[:2]] == [
        f"/repos/{REPO}/issues",
        f"/repos/{REPO}/issues/comments",
    ]
    assert server.requests[0].headers["x-github-api-version"] == "2022-11-28"
    assert any("api.github.com" in w for w in result.warnings)
    assert [(r.in_reply_to, r.created_at) for r in replies] == [
        ("PyGithub/PyGithub#3372", datetime(2025, 9, 16, 19, 22, 2, tzinfo=UTC)),
        ("PyGithub/PyGithub#3372", datetime(2025, 9, 17, 19, 49, 40, tzinfo=UTC)),
    ]


def test_cli_dry_run_lists_the_mention_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    _serve_repo(server)
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "github", "handle": "acme-support", "bot": False},
        feed={
            "name": "acme-github",
            "type": "github",
            "interval": "5m",
            "base_url": server.url,
            "repo": REPO,
            "backfill": "3650d",
        },
    )
    assert done.returncode == 0, done.stderr
    assert f"github:{REPO}#13" in done.stdout
    assert "octokit-fixture-user-a" in done.stdout
    assert not database.exists()
