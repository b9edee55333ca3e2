"""A rate-limit wait that a good poll brought back (Reddit's used-up window, Stack Exchange's
`backoff`) is kept with the feed's state: a second worker, with connectors of its own that
never saw the answer, does not call the platform before it, and the feed is not failing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from monitor.config import Config, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.store.db import session
from monitor.store.models import FeedState
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import mock_client

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
JSON = {"Content-Type": "application/json; charset=UTF-8"}


class Platform:
    """One platform answering every worker: each worker's requests are counted apart."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: dict[str, list[str]] = {}

    def client(self, worker: str) -> httpx.Client:
        asked = self.requests.setdefault(worker, [])

        def handle(request: httpx.Request) -> httpx.Response:
            asked.append(request.url.path)
            return self.answer(request)

        return mock_client(handle)


def worker(config: Config, engine: Engine, platform: Platform, name: str) -> Pipeline:
    """A pipeline with its own client and connectors, as another process would have."""
    return Pipeline(config, engine, platform.client(name))


def state_of(engine: Engine, feed: str) -> FeedState:
    with session(engine) as s:
        state = s.get(FeedState, feed)
        assert state is not None
        return state


def reddit_used_up(_request: httpx.Request) -> httpx.Response:
    """Reddit's recorded search answer, with the recorded headers saying none is left."""
    recorded: dict[str, Any] = json.loads(
        fixture_bytes("reddit", "message_mentions_inbox_2025.headers.json")
    )["headers"]
    headers = {k: v for k, v in recorded.items() if k != "content-length"}
    assert headers["x-ratelimit-reset"] == "53"
    return httpx.Response(
        200,
        content=fixture_bytes("reddit", "search_r_all_q_praw_oauth_search.json"),
        headers={**headers, "x-ratelimit-remaining": "0.0", **JSON},
    )


def test_a_used_up_reddit_window_holds_back_the_other_workers_poll(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDDIT_TOKEN", "bearer-for-tests")
    config = parse_config(
        {
            "feeds": [
                {
                    "name": "r",
                    "type": "reddit",
                    "query": "praw",
                    "access_token_env": "REDDIT_TOKEN",
                    "backfill": "36500d",
                    "interval": 60,
                }
            ]
        }
    )
    reddit = Platform(reddit_used_up)
    one, two = (worker(config, engine, reddit, n) for n in ("one", "two"))
    first = one.poll_due("r", now=NOW)
    assert first is not None and first.ok and first.fetched
    assert reddit.requests["one"] == ["/search"]
    state = state_of(engine, "r")
    assert state.next_poll_after == NOW + timedelta(seconds=53)  # the window's reset
    assert state.consecutive_failures == 0 and state.last_success_at == NOW

    assert two.poll_due("r", now=NOW + timedelta(seconds=30)) is None
    assert reddit.requests["two"] == [], "no call inside the window, from any worker"
    assert state_of(engine, "r").consecutive_failures == 0

    after = two.poll_due("r", now=NOW + timedelta(seconds=54))
    assert after is not None and after.ok
    assert reddit.requests["two"] == ["/search"]
    # that answer used the new window up as well: the wait moves on with it
    assert state_of(engine, "r").next_poll_after == NOW + timedelta(seconds=54 + 53)


def test_a_stack_exchange_backoff_holds_back_the_other_workers_poll(engine: Engine) -> None:
    page = fixture_bytes("stackexchange", "search_advanced_has_more_with_backoff_from_docs.json")
    assert json.loads(page)["backoff"] == 10
    stackexchange = Platform(lambda request: httpx.Response(200, content=page, headers=JSON))
    config = parse_config(
        {
            "feeds": [
                {
                    "name": "so",
                    "type": "stackexchange",
                    "site": "stackoverflow",
                    "tagged": "openshift",
                    "interval": 60,
                }
            ]
        }
    )
    one, two = (worker(config, engine, stackexchange, n) for n in ("one", "two"))
    first = one.poll_due("so", now=NOW)
    assert first is not None and first.ok
    assert stackexchange.requests["one"] == ["/2.3/search/advanced"]  # has_more, but backoff
    assert state_of(engine, "so").next_poll_after == NOW + timedelta(seconds=10)

    # the other worker skips the feed, rather than failing it on the cursor's wait
    assert two.poll_due("so", now=NOW + timedelta(seconds=5)) is None
    assert stackexchange.requests["two"] == []
    state = state_of(engine, "so")
    assert state.consecutive_failures == 0 and state.last_error is None

    after = two.poll_due("so", now=NOW + timedelta(seconds=11))
    assert after is not None and after.ok
    assert stackexchange.requests["two"] == ["/2.3/search/advanced"]


def test_a_poll_without_a_hint_leaves_the_feed_due(engine: Engine) -> None:
    quiet = b'{"items":[],"has_more":false,"quota_max":10000,"quota_remaining":9990}'
    stackexchange = Platform(lambda request: httpx.Response(200, content=quiet, headers=JSON))
    config = parse_config(
        {"feeds": [{"name": "so", "type": "stackexchange", "site": "stackoverflow", "tagged": "x"}]}
    )
    one, two = (worker(config, engine, stackexchange, n) for n in ("one", "two"))
    assert one.poll_due("so", now=NOW) is not None
    assert state_of(engine, "so").next_poll_after is None
    assert two.poll_due("so", now=NOW + timedelta(seconds=1)) is not None
    assert stackexchange.requests["two"] == ["/2.3/search/advanced"]
