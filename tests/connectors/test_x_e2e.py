"""The x connector through a real socket: recorded API v2 pages from a local server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import AuthError, BrandIdentity, FeedCursor, RateLimited
from connectors.http import make_client
from connectors.sources.x import XConnector, XOptions
from tests.connectors.conformance import fixture_bytes
from tests.connectors.test_x import ANDREW_POST, CALIN_ID, CALIN_REPLY, brexit, timeline_of
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply

NOW = datetime(2021, 9, 22, 17, 0, tzinfo=UTC)
JSON = {"Content-Type": "application/json; charset=utf-8"}


def x_connector(server: LocalServer, options: dict[str, object], brand: bool = True) -> XConnector:
    identities = [BrandIdentity("x", handle="calin_a", account_id=CALIN_ID)] if brand else []
    return XConnector(
        XOptions.model_validate(options),
        feed_name="acme-x",
        identities=identities,
        base_url=server.url,
    )


def test_poll_finds_the_brand_reply_on_its_timeline_over_a_real_socket(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_X_TOKEN", "bearer-e2e")
    page = brexit()
    left = {**JSON, "x-rate-limit-remaining": "449"}
    server.route("/2/tweets/search/recent", Reply(200, json.dumps(page).encode(), left))
    server.route(f"/2/users/{CALIN_ID}/tweets", Reply.json(timeline_of(page, CALIN_ID)))
    connector = x_connector(server, {"query": "#brexit", "bearer_token_env": "ACME_X_TOKEN"})
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)

    search, timeline = server.requests
    assert search.headers["authorization"] == "Bearer bearer-e2e"
    assert search.query["query"] == ["#brexit"]
    assert timeline.query["exclude"] == ["retweets"]
    assert len(result.mentions) == 32  # 33 posts that are not retweets, less the brand's
    [reply] = result.brand_replies
    assert (reply.external_id, reply.in_reply_to) == (CALIN_REPLY, ANDREW_POST)
    assert not reply.earlier_unseen
    assert connector.not_before(NOW) is None


def test_429_with_x_rate_limit_reset_over_a_real_socket(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "bearer-e2e")
    reset = int(NOW.timestamp()) + 600
    body = fixture_bytes("x", "error_429_too_many_requests_from_docs.json")
    headers = {**JSON, "x-rate-limit-limit": "450", "x-rate-limit-remaining": "0"}
    server.route(
        "/2/tweets/search/recent",
        Reply(429, body, {**headers, "x-rate-limit-reset": str(reset)}),
    )
    connector = x_connector(server, {"query": "#brexit"})
    with make_client() as client, pytest.raises(RateLimited) as caught:
        connector.poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == 600
    assert len(server.requests) == 1  # the brand timeline is not asked after a 429


def test_expired_token_over_a_real_socket_names_the_env_var(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_X_USER_TOKEN", "expired-user-token")
    body = fixture_bytes("x", "error_401_unauthorized_from_docs.json")
    server.route("/2/users/783214/mentions", Reply(401, body, JSON))
    connector = x_connector(
        server, {"user_id": "783214", "user_token_env": "ACME_X_USER_TOKEN"}, brand=False
    )
    with make_client() as client, pytest.raises(AuthError) as caught:
        connector.poll(client, FeedCursor(), NOW)
    message = str(caught.value)
    assert "ACME_X_USER_TOKEN" in message and "expired" in message
    assert "expired-user-token" not in message
    assert server.requests[0].headers["authorization"] == "Bearer expired-user-token"


def test_cli_dry_run_lists_the_mentions_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    page = brexit()
    server.route("/2/tweets/search/recent", Reply.json(page))
    server.route(f"/2/users/{CALIN_ID}/tweets", Reply.json(timeline_of(page, CALIN_ID)))
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "x", "handle": "calin_a", "id": CALIN_ID, "bot": False},
        feed={
            "name": "acme-x",
            "type": "x",
            "interval": "5m",
            "base_url": server.url,
            "query": "#brexit",
            "bearer_token_env": "ACME_X_TOKEN",
        },
        env={"ACME_X_TOKEN": "bearer-dry-run"},
    )
    assert done.returncode == 0, done.stderr
    assert f"x:{ANDREW_POST}" not in done.stdout  # not in the page: only replied to
    assert "x:1440714901538803715" in done.stdout  # OldUnclePunch's self-reply
    assert "by OldUnclePunch" in done.stdout
    assert "bearer-dry-run" not in done.stdout + done.stderr
    assert [r.headers["authorization"] for r in server.requests][:1] == ["Bearer bearer-dry-run"]
    assert not database.exists()


def test_cli_dry_run_sends_the_filters_exclusion_and_still_judges_every_post(
    server: LocalServer, tmp_path: Path
) -> None:
    page = brexit()
    server.route("/2/tweets/search/recent", Reply.json(page))  # the server ignores the query
    server.route(f"/2/users/{CALIN_ID}/tweets", Reply.json(timeline_of(page, CALIN_ID)))
    done, _ = dry_run_poll(
        tmp_path,
        identity={"platform": "x", "handle": "calin_a", "id": CALIN_ID, "bot": False},
        feed={
            "name": "acme-x",
            "type": "x",
            "interval": "5m",
            "base_url": server.url,
            "query": "#brexit",
            "filter": "-author:@OldUnclePunch",
            "bearer_token_env": "ACME_X_TOKEN",
        },
        env={"ACME_X_TOKEN": "bearer-dry-run"},
    )
    assert done.returncode == 0, done.stderr
    assert server.requests[0].query["query"] == ["(#brexit) -from:oldunclepunch"]
    assert "sent to the platform: -from:oldunclepunch" in done.stdout
    # what the platform sent anyway, the filter drops here
    assert "by OldUnclePunch" not in done.stdout
    assert "filtered out" in done.stdout
