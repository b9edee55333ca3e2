"""A Retry-After a re-check brings back is kept with the feed's state, as a poll's is: the
feed's next poll, in whichever worker it runs, waits for it too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.http import make_client
from monitor.config import parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.store.db import open_store, session
from monitor.store.models import FeedState
from tests.connectors.test_bluesky_e2e import route_recorded_bluesky
from tests.support.http_server import Reply, local_server

NOW = datetime(2023, 4, 25, tzinfo=UTC)  # the recorded search hit is from April 2023


def test_a_rate_limit_met_by_a_recheck_holds_back_the_feeds_next_poll_in_any_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
                    {
                        "name": "acme-bluesky",
                        "type": "bluesky",
                        "base_url": server.url,
                        "query": "fone",
                        "handle_env": "ACME_BSKY_HANDLE",
                        "password_env": "ACME_BSKY_APP_PASSWORD",
                        "backfill": "3650d",
                    }
                ],
            }
        )
        engine = open_store(config.storage.resolved_url())
        try:
            with make_client() as client_a, make_client() as client_b:
                worker_a = Pipeline(config, engine, client_a)
                worker_b = Pipeline(config, engine, client_b)
                assert worker_a.poll("acme-bluesky", now=NOW).ok
                server.route(
                    "/xrpc/app.bsky.feed.getPostThread",
                    Reply(429, b'{"error": "RateLimitExceeded"}', {"Retry-After": "600"}),
                )
                report = worker_a.recheck("acme-bluesky", now=NOW + timedelta(minutes=1))
                assert report is not None and not report.ok  # the scenario: limited
                with session(engine) as s:
                    state = s.get(FeedState, "acme-bluesky")
                    assert state is not None
                    held = state.next_poll_after
                # worker b polls the feed five minutes on, within the platform's 10 min
                searched = sum(r.path.endswith("searchPosts") for r in server.requests)
                worker_b.poll_due("acme-bluesky", now=NOW + timedelta(minutes=6))
                searched_after = sum(r.path.endswith("searchPosts") for r in server.requests)
        finally:
            engine.dispose()
    assert held is not None and held >= NOW + timedelta(minutes=10)
    assert searched_after == searched, "worker b called the platform inside its Retry-After"
