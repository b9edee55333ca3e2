"""The googlebusiness connector through a real socket (token refresh included), and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import FeedCursor
from connectors.http import make_client
from connectors.sources.googlebusiness import GoogleBusinessConnector, GoogleBusinessOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply, Request

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PATH = "/v4/accounts/108494581129006735086/locations/6394464039148850881/reviews"


def _reviews(request: Request) -> Reply:
    name = (
        "reviews_list_page2_from_docs"
        if "pageToken" in request.query
        else "reviews_list_page1_from_docs"
    )
    return Reply(
        200, fixture_bytes("googlebusiness", f"{name}.json"), {"Content-Type": "application/json"}
    )


def test_refresh_and_poll_over_a_real_socket(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GBP_CLIENT_ID", "client-1")
    monkeypatch.setenv("GBP_CLIENT_SECRET", "secret-1")
    monkeypatch.setenv("GBP_REFRESH_TOKEN", "1//refresh-1")
    server.route("/token", Reply.json({"access_token": "ya29.socket", "expires_in": 3599}))
    server.route(PATH, _reviews)
    connector = GoogleBusinessConnector(
        GoogleBusinessOptions(
            account="108494581129006735086",
            location="6394464039148850881",
            client_id_env="GBP_CLIENT_ID",
            client_secret_env="GBP_CLIENT_SECRET",
            refresh_token_env="GBP_REFRESH_TOKEN",
            token_uri=f"{server.url}/token",
        ),
        feed_name="acme-google",
        base_url=server.url,
    )
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)
    token, page1, page2 = server.requests
    assert (token.method, token.path) == ("POST", "/token")
    assert page1.headers["authorization"] == "Bearer ya29.socket"
    assert page1.query == {"orderBy": ["updateTime desc"], "pageSize": ["50"]}
    assert page2.query["pageToken"] == ["docs-page-2-token"]
    assert len(result.mentions) == 4 and len(result.brand_replies) == 2


def test_cli_dry_run_lists_the_reviews_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    server.route(PATH, _reviews)
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "googlebusiness", "handle": "Acme Coffee", "bot": False},
        feed={
            "name": "acme-google",
            "type": "googlebusiness",
            "interval": "15m",
            "base_url": server.url,
            "account": "accounts/108494581129006735086",
            "location": "locations/6394464039148850881",
            "access_token_env": "ACME_GBP_TOKEN",
            "backfill": "3650d",
        },
        env={"ACME_GBP_TOKEN": "ya29.cli"},
    )
    assert done.returncode == 0, done.stderr
    assert "googlebusiness:AbFvOqnDocsBuilt0001" in done.stdout
    assert "Jan Peeters" in done.stdout
    assert server.requests[0].headers["authorization"] == "Bearer ya29.cli"
    assert not database.exists()
