"""A feed's connector lives as long as the pipeline, and one login serves all feeds of a handle."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from connectors.base import FeedCursor, PollResult
from connectors.http import make_client
from monitor.config import parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.store.db import open_store
from tests.connectors.test_bluesky_e2e import route_recorded_bluesky
from tests.support import fake_connector
from tests.support.http_server import local_server


def _bluesky_feed(name: str, url: str, query: str) -> dict[str, object]:
    return {
        "name": name,
        "type": "bluesky",
        "base_url": url,
        "query": query,
        "handle_env": "ACME_BSKY_HANDLE",
        "password_env": "ACME_BSKY_APP_PASSWORD",
        "backfill": "3650d",
    }


def test_polls_and_rechecks_of_bluesky_feeds_on_one_handle_share_one_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bluesky allows 30 createSession calls per 5 minutes and 300 a day per handle. A
    connector built per poll logged in on every poll; one login per feed would still make
    48 a day per search; the pipeline logs in once per handle."""
    monkeypatch.setenv("ACME_BSKY_HANDLE", "acme.bsky.social")
    monkeypatch.setenv("ACME_BSKY_APP_PASSWORD", "app-pass-word")
    with local_server() as server:
        route_recorded_bluesky(server)
        config = parse_config(
            {
                "storage": {"url": f"sqlite:///{tmp_path / 'monitor.db'}"},
                "brand": {
                    "name": "Acme",
                    "identities": [{"platform": "bluesky", "handle": "nvpkp.bsky.social"}],
                },
                "feeds": [
                    _bluesky_feed("acme-bluesky", server.url, "fone"),
                    _bluesky_feed("acme-bluesky-2", server.url, "acme phone"),
                ],
            }
        )
        engine = open_store(config.storage.resolved_url())
        # the recorded search hit is from April 2023: re-check looks back from then
        now = datetime(2023, 4, 25, tzinfo=UTC)
        try:
            with make_client() as client:
                pipeline = Pipeline(config, engine, client)
                first = pipeline.poll("acme-bluesky", now=now)
                second = pipeline.poll("acme-bluesky", now=now + timedelta(minutes=5))
                other = pipeline.poll("acme-bluesky-2", now=now + timedelta(minutes=5))
                recheck = pipeline.recheck("acme-bluesky", now=now + timedelta(minutes=6))
        finally:
            engine.dispose()
    assert first.ok and second.ok and other.ok, (first.error, second.error, other.error)
    assert len(first.new_mentions) == 1
    assert recheck is not None and recheck.ok, recheck and recheck.error
    searches = [r.query["q"] for r in server.requests if r.path.endswith("searchPosts")]
    assert ["fone"] in searches and ["acme phone"] in searches
    paths = [r.path for r in server.requests]
    assert paths.count("/xrpc/app.bsky.feed.getPostThread") == 1
    assert paths.count("/xrpc/com.atproto.server.createSession") == 1


class SlowConnector(fake_connector.FakeConnector):
    """Records how many of its calls run at once."""

    running = 0
    most = 0
    lock = threading.Lock()

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        with SlowConnector.lock:
            SlowConnector.running += 1
            SlowConnector.most = max(SlowConnector.most, SlowConnector.running)
        time.sleep(0.05)
        with SlowConnector.lock:
            SlowConnector.running -= 1
        return PollResult(state=state)


def test_one_feeds_connector_is_called_by_one_thread_at_a_time(
    tmp_path: Path, fake_registered: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connectors keep per-call state on themselves (Stack Exchange counts a call's bytes):
    a `monitor poll` racing the scheduled poll of the same feed waits its turn."""
    from connectors import registry

    monkeypatch.setitem(registry.REGISTRY, "slow", f"{__name__}:SlowConnector")
    config = parse_config(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'monitor.db'}"},
            "scheduler": {"per_host": 8},
            "feeds": [
                {"name": "one", "type": "slow"},
                {"name": "two", "type": "slow"},
            ],
        }
    )
    engine = open_store(config.storage.resolved_url())
    try:
        pipeline = Pipeline(config, engine, httpx.Client())
        assert pipeline.connector(config.feed("one")) is pipeline.connector(config.feed("one"))
        assert pipeline.connector(config.feed("one")) is not pipeline.connector(config.feed("two"))
        SlowConnector.most = 0
        threads = [threading.Thread(target=pipeline.poll, args=("one",)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert SlowConnector.most == 1
        # two feeds are two connectors: they do run together
        threads = [threading.Thread(target=pipeline.poll, args=(n,)) for n in ("one", "two")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert SlowConnector.most == 2
    finally:
        engine.dispose()
