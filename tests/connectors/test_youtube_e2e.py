"""The youtube connector through a real socket: recorded Data API pages from a local server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import BrandIdentity, FeedCursor, RateLimited
from connectors.http import make_client
from connectors.sources.youtube import YouTubeConnector, YouTubeOptions
from tests.connectors.conformance import fixture_bytes
from tests.connectors.test_youtube import thread_with_reply_page
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
JSON = {"Content-Type": "application/json; charset=UTF-8"}


def test_poll_finds_the_brand_reply_over_a_real_socket(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_YT_KEY", "AIza-test")
    server.route("/commentThreads", Reply(200, json.dumps(thread_with_reply_page()).encode(), JSON))
    connector = YouTubeConnector(
        YouTubeOptions.model_validate({"video_id": "D-lhorsDlUQ", "api_key_env": "ACME_YT_KEY"}),
        feed_name="acme-yt",
        identities=[BrandIdentity("youtube", account_id="UCsl2A_QzcSnFD2hpCyVwXxA")],
        base_url=server.url,
    )
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)

    [request] = server.requests
    assert request.query["key"] == ["AIza-test"]
    assert request.query["videoId"] == ["D-lhorsDlUQ"]
    assert [m.external_id for m in result.mentions] == ["UgydxWWoeA7F1OdqypJ4AaABAg"]
    [reply] = result.brand_replies
    assert reply.in_reply_to == "UgydxWWoeA7F1OdqypJ4AaABAg"
    assert reply.created_at == datetime(2019, 7, 20, 20, 22, 27, tzinfo=UTC)


def test_quota_error_over_a_real_socket_is_rate_limited_not_auth(
    server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("YOUTUBE_API_KEY", "AIza-test")
    body = fixture_bytes("youtube", "error_403_quotaExceeded_from_docs.json")
    server.route("/commentThreads", Reply(403, body, JSON))
    connector = YouTubeConnector(
        YouTubeOptions.model_validate({"video_id": "F1UP7wRCPH8"}),
        feed_name="acme-yt",
        base_url=server.url,
    )
    with make_client() as client, pytest.raises(RateLimited):
        connector.poll(client, FeedCursor(), NOW)


def test_cli_dry_run_lists_the_mentions_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    server.route(
        "/commentThreads",
        Reply(200, fixture_bytes("youtube", "commentThreads_videoId_page1_2019.json"), JSON),
    )
    done, database = dry_run_poll(
        tmp_path,
        identity={
            "platform": "youtube",
            "handle": "Acme",
            "id": "UCacmeacmeacmeacmeacmeac",
            "bot": False,
        },
        feed={
            "name": "acme-yt",
            "type": "youtube",
            "interval": "10m",
            "base_url": server.url,
            "video_id": "F1UP7wRCPH8",
            "api_key_env": "ACME_YT_KEY",
        },
        env={"ACME_YT_KEY": "AIza-test"},
    )
    assert done.returncode == 0, done.stderr
    assert "youtube:UgyZ1jqkHKYvi1-ruOZ4AaABAg" in done.stdout
    assert "by himani agarwal" in done.stdout
    assert not database.exists()


def test_cli_dry_run_says_nothing_of_the_filters_is_sent_to_youtube_and_why(
    server: LocalServer, tmp_path: Path
) -> None:
    page = fixture_bytes("youtube", "commentThreads_videoId_page1_2019.json")
    server.route("/commentThreads", Reply(200, page, JSON))
    done, _ = dry_run_poll(
        tmp_path,
        identity={"platform": "youtube", "handle": "Acme", "bot": False},
        feed={
            "name": "acme-yt",
            "type": "youtube",
            "interval": "10m",
            "base_url": server.url,
            "video_id": "F1UP7wRCPH8",
            "api_key_env": "ACME_YT_KEY",
            "filter": "-author:@Acme",
        },
        env={"ACME_YT_KEY": "AIza-test"},
    )
    assert done.returncode == 0, done.stderr
    assert "sent to the platform: nothing (how `searchTerms` matches" in done.stdout
    assert "author" not in server.requests[0].query
