"""The threads connector through a real socket, and the CLI dry run against it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import AuthError, BrandIdentity, FeedCursor, RateLimited
from connectors.http import make_client
from connectors.sources.threads import ThreadsConnector, ThreadsOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKEN = "THAAsockettoken0123456789"


def _page(name: str) -> Reply:
    return Reply(200, fixture_bytes("threads", name), {"Content-Type": "application/json"})


def _routes(server: LocalServer) -> None:
    server.route("/v1.0/keyword_search", _page("keyword_search_recent_acme_from_docs.json"))
    server.route("/v1.0/me/replies", _page("user_replies_acme_from_docs.json"))
    server.route("/v1.0/me/threads", _page("user_threads_acme_from_docs.json"))
    server.route(
        "/v1.0/18000000000000200/conversation",
        _page("conversation_acme_thread_from_docs.json"),
    )


@pytest.fixture
def connector(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> ThreadsConnector:
    monkeypatch.setenv("THREADS_ACCESS_TOKEN", TOKEN)
    return ThreadsConnector(
        ThreadsOptions(query="acme"),
        feed_name="acme-threads",
        identities=[BrandIdentity("threads", handle="acme")],
        base_url=f"{server.url}/v1.0",
    )


def test_poll_over_a_real_socket(server: LocalServer, connector: ThreadsConnector) -> None:
    _routes(server)
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)
    paths = [r.path for r in server.requests]
    assert paths == [
        "/v1.0/keyword_search",
        "/v1.0/me/replies",
        "/v1.0/me/threads",
        "/v1.0/18000000000000200/conversation",
    ]
    assert all(r.query["access_token"] == [TOKEN] for r in server.requests)
    assert {m.external_id for m in result.mentions} >= {"18000000000000001", "18000000000000203"}
    assert "18000000000000101" in {r.external_id for r in result.brand_replies}
    assert result.bytes_received > 0


def test_429_over_a_real_socket_is_rate_limited_with_its_retry_after(
    server: LocalServer, connector: ThreadsConnector
) -> None:
    server.route("/v1.0/keyword_search", Reply.json({}, 429, **{"Retry-After": "45"}))
    with make_client() as client, pytest.raises(RateLimited) as caught:
        connector.poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == 45


def test_an_expired_token_over_a_real_socket_is_an_auth_error(
    server: LocalServer, connector: ThreadsConnector
) -> None:
    server.route(
        "/v1.0/keyword_search",
        Reply(400, fixture_bytes("threads", "error_190_463_expired_from_docs.json")),
    )
    with make_client() as client, pytest.raises(AuthError) as caught:
        connector.poll(client, FeedCursor(), NOW)
    assert "THREADS_ACCESS_TOKEN" in str(caught.value)
    assert "Session has expired" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_cli_dry_run_lists_the_posts_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    _routes(server)
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "threads", "handle": "acme", "bot": False},
        feed={
            "name": "acme-threads",
            "type": "threads",
            "interval": "10m",
            "base_url": f"{server.url}/v1.0",
            "query": "acme",
            "token_env": "ACME_THREADS_TOKEN",
            "backfill": "3650d",
        },
        env={"ACME_THREADS_TOKEN": "cli-token-0123456789"},
    )
    assert done.returncode == 0, done.stderr
    assert "threads:18000000000000001" in done.stdout
    assert "jamie.runs" in done.stdout
    assert "cli-token-0123456789" not in done.stdout + done.stderr
    assert server.requests[0].query["access_token"] == ["cli-token-0123456789"]
    assert not database.exists()
