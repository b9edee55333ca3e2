"""TTFR from a live Mastodon stream: a recorded user stream through the pipeline and store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine

from connectors.sources.mastodon_stream import MastodonStreamConnector
from monitor.ingest.pipeline import Pipeline
from tests.support.sse_server import Plan, SSEServer, recorded, sse_server
from tests.test_ttfr_recorded_threads import make_config, stored


@pytest.fixture
def sse() -> Iterator[SSEServer]:
    with sse_server() as started:
        yield started


def test_reply_seen_on_the_stream_gives_ttfr_1_159_s(
    engine: Engine, sse: SSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user stream recorded by Mastodon.py (2026-08-02, a Sunday), mastodonpy_test_2 as
    the brand, its account named in `accounts`.

    mastodonpy_test's DM 117024236559579118 mentions @mastodonpy_test_2: an `update` event,
    created_at 2026-08-02T05:22:20.865Z. mastodonpy_test_2's 117024236635443611, in_reply_to
    that DM, comes as a `notification` (mention) event: created_at 05:22:22.024Z.
    TTFR = 22.024 - 20.865 = 1.159 s. Sunday is closed: the business TTFR is the calendar
    time, 1.159 s. The dry look (`poll`, `sample_seconds` of the stream) is what the pipeline
    calls; the runner will store the same events as they arrive.
    """
    monkeypatch.setenv("MASTODON_STREAM_TOKEN", "not-a-token")
    monkeypatch.setattr(MastodonStreamConnector, "sample_seconds", 1.0)
    sse.default = Plan(silent_after=len(recorded()))
    config = make_config(
        {
            "type": "mastodon_stream",
            "base_url": sse.url,
            "stream": "user",
            "accounts": ["mastodonpy_test_2"],
            "token_env": "MASTODON_STREAM_TOKEN",
        },
        [{"platform": "mastodon", "handle": "mastodonpy_test_2"}],
    )
    monitor = Pipeline(config, engine, httpx.Client())
    report = monitor.poll("acme", now=datetime(2026, 8, 2, 5, 23, tzinfo=UTC))
    assert report.ok, report.error

    mention = stored(engine, "117024236559579118")
    assert mention.author == "mastodonpy_test"
    assert mention.created_at == datetime(2026, 8, 2, 5, 22, 20, 865000, tzinfo=UTC)
    assert mention.status == "answered"
    assert mention.first_response_at == datetime(2026, 8, 2, 5, 22, 22, 24000, tzinfo=UTC)
    assert mention.first_response_by == "mastodonpy_test_2"
    assert mention.ttfr_seconds == pytest.approx(1.159)
    assert mention.ttfr_business_seconds == pytest.approx(1.159)
