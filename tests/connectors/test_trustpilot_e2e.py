"""The trustpilot connector through a real socket, and the CLI dry run against it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import BrandIdentity, FeedCursor
from connectors.http import make_client
from connectors.sources.trustpilot import TrustpilotConnector, TrustpilotOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PATH = "/v1/business-units/507f191e810c19729de860ea/reviews"
PAGE = Reply(
    200,
    fixture_bytes("trustpilot", "business_unit_reviews_page1_from_docs.json"),
    {"Content-Type": "application/json"},
)


def test_poll_over_a_real_socket(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTPILOT_API_KEY", "socket-key")
    server.route(PATH, PAGE)
    connector = TrustpilotConnector(
        TrustpilotOptions(business_unit_id="507f191e810c19729de860ea"),
        feed_name="acme-trustpilot",
        identities=[BrandIdentity("trustpilot", handle="Acme")],
        base_url=server.url,
    )
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)
    [request] = server.requests
    assert request.headers["apikey"] == "socket-key"
    assert request.query == {"orderBy": ["createdat.desc"], "perPage": ["100"], "page": ["1"]}
    assert len(result.mentions) == 5 and len(result.brand_replies) == 3
    assert result.bytes_received == len(PAGE.body)


def test_cli_dry_run_lists_the_reviews_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    server.route(PATH, PAGE)
    done, database = dry_run_poll(
        tmp_path,
        identity={
            "platform": "trustpilot",
            "handle": "Acme",
            "id": "507f191e810c19729de860ea",
            "bot": False,
        },
        feed={
            "name": "acme-trustpilot",
            "type": "trustpilot",
            "interval": "15m",
            "base_url": server.url,
            "business_unit_id": "507f191e810c19729de860ea",
            "api_key_env": "ACME_TRUSTPILOT_KEY",
            "backfill": "3650d",
        },
        env={"ACME_TRUSTPILOT_KEY": "cli-key"},
    )
    assert done.returncode == 0, done.stderr
    assert "trustpilot:6740a1b2c3d4e5f601234567" in done.stdout
    assert "Mette Jensen" in done.stdout
    assert server.requests[0].headers["apikey"] == "cli-key"
    assert not database.exists()
