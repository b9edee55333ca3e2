"""The tripadvisor connector through a real socket, and the CLI dry run against it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import AuthError, FeedCursor, RateLimited
from connectors.http import make_client
from connectors.sources.tripadvisor import TripadvisorConnector, TripadvisorOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PATH = "/api/v1/location/1234567/reviews"
KEY = "socket-key-0123456789"
PAGE = Reply(
    200,
    fixture_bytes("tripadvisor", "location_reviews_page_from_docs.json"),
    {"Content-Type": "application/json"},
)


@pytest.fixture
def connector(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> TripadvisorConnector:
    monkeypatch.setenv("TRIPADVISOR_API_KEY", KEY)
    return TripadvisorConnector(
        TripadvisorOptions(location_id="1234567"),
        feed_name="acme-tripadvisor",
        base_url=server.url,
    )


def test_poll_over_a_real_socket(server: LocalServer, connector: TripadvisorConnector) -> None:
    server.route(PATH, PAGE)
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)
    [request] = server.requests
    assert request.query == {"key": [KEY], "language": ["en"]}
    assert len(result.mentions) == 4 and len(result.brand_replies) == 3
    assert result.bytes_received == len(PAGE.body)


def test_429_over_a_real_socket_is_rate_limited_with_its_retry_after(
    server: LocalServer, connector: TripadvisorConnector
) -> None:
    server.route(PATH, Reply.json({"message": "Too Many Requests"}, 429, **{"Retry-After": "30"}))
    with make_client() as client, pytest.raises(RateLimited) as caught:
        connector.poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == 30


def test_an_invalid_key_over_a_real_socket_is_an_auth_error_without_the_key(
    server: LocalServer, connector: TripadvisorConnector
) -> None:
    server.route(PATH, Reply.json({"message": "Invalid authentication credentials"}, 401))
    with make_client() as client, pytest.raises(AuthError) as caught:
        connector.poll(client, FeedCursor(), NOW)
    assert "TRIPADVISOR_API_KEY" in str(caught.value)
    assert KEY not in str(caught.value)


def test_cli_dry_run_lists_the_reviews_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    server.route(PATH, PAGE)
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "tripadvisor", "handle": "AcmeGuestRelations", "bot": False},
        feed={
            "name": "acme-tripadvisor",
            "type": "tripadvisor",
            "interval": "15m",
            "base_url": server.url,
            "location_id": "1234567",
            "api_key_env": "ACME_TRIPADVISOR_KEY",
            "backfill": "3650d",
        },
        env={"ACME_TRIPADVISOR_KEY": "cli-key-0123456789"},
    )
    assert done.returncode == 0, done.stderr
    assert "tripadvisor:987654321" in done.stdout
    assert "WanderingKeith" in done.stdout
    assert "cli-key-0123456789" not in done.stdout + done.stderr
    assert server.requests[0].query["key"] == ["cli-key-0123456789"]
    assert not database.exists()
