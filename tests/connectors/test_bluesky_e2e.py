"""The bluesky connector through a real socket: a local server answers with recorded payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import BrandIdentity, FeedCursor, MentionRecord
from connectors.http import make_client
from connectors.sources.bluesky import BlueskyConnector, BlueskyOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply

ROOT_URI = "at://did:plc:by3jhwdqgbtrcc7q4tkkv3cf/app.bsky.feed.post/3jtvi2jrijx2y"
JSON = {"Content-Type": "application/json; charset=utf-8"}


def _reply(name: str) -> Reply:
    return Reply(200, fixture_bytes("bluesky", name), JSON)


def route_recorded_bluesky(server: LocalServer) -> None:
    """A PDS on 127.0.0.1 answering login, search and thread with the recorded payloads."""
    server.route("/xrpc/com.atproto.server.createSession", _reply("createSession_from_docs.json"))
    server.route("/xrpc/app.bsky.feed.searchPosts", _reply("searchPosts_single_hit_2023.json"))
    server.route(
        "/xrpc/app.bsky.feed.getPostThread",
        _reply("getPostThread_replies_with_blockedPost_notFoundPost_2023.json"),
    )


def test_login_search_and_recheck_over_a_real_socket(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_BSKY_HANDLE", "shinyakato.dev")
    monkeypatch.setenv("ACME_BSKY_APP_PASSWORD", "app-pass-word")
    route_recorded_bluesky(server)
    connector = BlueskyConnector(
        BlueskyOptions(
            query="fone",
            handle_env="ACME_BSKY_HANDLE",
            password_env="ACME_BSKY_APP_PASSWORD",
            backfill=3 * 86400,
        ),
        feed_name="acme-bluesky",
        identities=[BrandIdentity("bluesky", handle="nvpkp.bsky.social")],
        base_url=server.url,
    )
    now = datetime(2023, 4, 25, tzinfo=UTC)
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), now)
        replies = connector.recheck(client, [MentionRecord("bluesky", ROOT_URI, now, "m")], now)

    login, search = server.requests[0], server.requests[1]
    assert (login.method, login.json()) == (
        "POST",
        {"identifier": "shinyakato.dev", "password": "app-pass-word"},
    )
    assert search.headers["authorization"] == "Bearer test-access-jwt"
    assert search.query["q"] == ["fone"]
    assert [m.author for m in result.mentions] == ["luy.gay"]
    assert result.state.cursor == "2023-04-24T13:50:19.672Z"
    # one login serves the whole poll and the recheck
    assert sum(r.path.endswith("createSession") for r in server.requests) == 1
    assert [(r.in_reply_to, r.author) for r in replies] == [(ROOT_URI, "nvpkp.bsky.social")]


def test_cli_dry_run_lists_the_mention_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    route_recorded_bluesky(server)
    done, database = dry_run_poll(
        tmp_path,
        identity={
            "platform": "bluesky",
            "handle": "acme.bsky.social",
            "id": "did:plc:acmeacmeacmeacmeacmeacme",
            "bot": False,
        },
        feed={
            "name": "acme-bluesky",
            "type": "bluesky",
            "interval": "5m",
            "base_url": server.url,
            "query": "fone",
            "handle_env": "ACME_BSKY_HANDLE",
            "password_env": "ACME_BSKY_APP_PASSWORD",
            "backfill": "3650d",
        },
        env={"ACME_BSKY_HANDLE": "acme.bsky.social", "ACME_BSKY_APP_PASSWORD": "pw"},
    )
    assert done.returncode == 0, done.stderr
    assert "bluesky:at://did:plc:d3zpokjdspr22chfrc427eis/app.bsky.feed.post/3ju4p6u2i3a2g" in (
        done.stdout
    )
    assert "by luy.gay" in done.stdout
    assert not database.exists()
