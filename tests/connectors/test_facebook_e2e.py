"""The facebook connector through a real socket: recorded Graph pages from a local server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import AuthError, BrandIdentity, FeedCursor, RateLimited
from connectors.http import make_client
from connectors.sources.facebook import FacebookConnector, FacebookOptions
from tests.connectors.conformance import fixture_bytes
from tests.connectors.test_facebook import (
    C1,
    C2,
    C9,
    LATE_C2,
    PAGE_ID,
    POST_ID,
    REPLY_C2,
    USAGE,
    feed_page,
    open_mention,
    recorded_stream,
    thread_node,
)
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply, Request

NOW = datetime(2021, 8, 13, 0, 0, tzinfo=UTC)
TOKEN = "EAAGm0PX4ZCpsBAKZCZCe2etoken"
JSON = {"Content-Type": "application/json; charset=UTF-8"}


def body(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), {**JSON, **(headers or {})})


def error(name: str, status: int = 400, **headers: str) -> Reply:
    return Reply(status, fixture_bytes("facebook", name), {**JSON, **headers})


def comments(request: Request, stream: Any = None) -> Reply:
    """The recorded stream page; asked again with its `after` cursor, the (empty) last page."""
    if "after" in request.query:
        return body({"data": []})
    return body(stream if stream is not None else recorded_stream())


def serve_page(server: LocalServer, stream: Any = None) -> None:
    server.route(f"/{PAGE_ID}/feed", body(feed_page()))
    server.route(f"/{POST_ID}/comments", lambda request: comments(request, stream))


def connector(server: LocalServer, **options: Any) -> FacebookConnector:
    return FacebookConnector(
        FacebookOptions.model_validate({"page_id": PAGE_ID, "backfill": "3d", **options}),
        feed_name="acme-fb",
        identities=[BrandIdentity("facebook", account_id=PAGE_ID)],
        base_url=server.url,
    )


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEBOOK_PAGE_TOKEN", TOKEN)


def test_poll_finds_the_pages_replies_over_a_real_socket(server: LocalServer) -> None:
    serve_page(server)
    with make_client() as client:
        result = connector(server).poll(client, FeedCursor(), NOW)

    feed, first, last = server.requests
    assert feed.path == f"/{PAGE_ID}/feed" and feed.query["access_token"] == [TOKEN]
    assert first.query["filter"] == ["stream"]
    # the recorded paging.next is on graph.facebook.com, not this server: not followed, its
    # `after` cursor is asked here instead, with our token
    assert last.query["after"] == ["after"] and last.query["access_token"] == [TOKEN]
    assert len(result.mentions) == 7
    answers = {r.in_reply_to: r.external_id for r in result.brand_replies}
    assert answers[C2] == REPLY_C2 and set(answers) == {C1, C2, C9}


@pytest.mark.parametrize(
    ("name", "headers", "wait"),
    [
        ("error_4_app_request_limit_from_docs.json", USAGE["page_at_100"], 3600),
        ("error_32_page_request_limit_from_docs.json", {}, 300),
        ("error_80001_pages_buc_limit_from_docs.json", USAGE["buc_throttled"], 19 * 60),
    ],
)
def test_usage_limit_codes_are_rate_limited_with_the_headers_wait(
    server: LocalServer, name: str, headers: dict[str, str], wait: float
) -> None:
    server.route(f"/{PAGE_ID}/feed", error(name, 400, **headers))
    with make_client() as client, pytest.raises(RateLimited) as caught:
        connector(server).poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == wait


def test_usage_at_ninety_percent_on_a_good_answer_holds_the_next_poll(
    server: LocalServer,
) -> None:
    server.route(f"/{PAGE_ID}/feed", body(feed_page(), headers=USAGE["app_at_90"]))
    server.route(f"/{POST_ID}/comments", comments)
    fb = connector(server)
    with make_client() as client:
        result = fb.poll(client, FeedCursor(), NOW)
    assert len(result.mentions) == 7  # the poll in progress finishes
    assert fb.not_before(NOW) == NOW + timedelta(minutes=10)


def test_expired_token_is_an_auth_error_naming_the_env_var(server: LocalServer) -> None:
    server.route(f"/{PAGE_ID}/feed", error("error_190_463_expired_from_docs.json"))
    with make_client() as client, pytest.raises(AuthError) as caught:
        connector(server).poll(client, FeedCursor(), NOW)
    message = str(caught.value)
    assert "FACEBOOK_PAGE_TOKEN" in message and "long-lived" in message
    assert TOKEN not in message


def test_hidden_comment_is_no_mention_over_a_real_socket(server: LocalServer) -> None:
    stream = recorded_stream()
    for comment in stream["data"]:
        if comment["id"] == LATE_C2:
            comment["is_hidden"] = True
    serve_page(server, stream)
    with make_client() as client:
        result = connector(server).poll(client, FeedCursor(), NOW)
    assert LATE_C2 not in {m.external_id for m in result.mentions}
    assert len(result.mentions) == 6


def test_recheck_skips_a_deleted_thread_and_finds_the_others(server: LocalServer) -> None:
    server.route(f"/{C2}", body(thread_node(C2)))
    server.route(f"/{C1}", error("error_100_33_does_not_exist_from_docs.json"))
    created = datetime(2021, 8, 10, 19, 38, 44, tzinfo=UTC)
    with make_client() as client:
        found = connector(server).recheck(
            client, [open_mention(C1, C1, created), open_mention(C2, C2, created)], NOW
        )
    assert [(r.in_reply_to, r.external_id) for r in found] == [(C2, REPLY_C2)]
    assert {r.path for r in server.requests} == {f"/{C1}", f"/{C2}"}


def test_cli_dry_run_lists_the_mentions_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    serve_page(server)
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "facebook", "handle": "Acme", "id": PAGE_ID, "bot": False},
        feed={
            "name": "acme-fb",
            "type": "facebook",
            "interval": "10m",
            "base_url": server.url,
            "page_id": PAGE_ID,
            "token_env": "ACME_FB_TOKEN",
            "backfill": "36500d",
        },
        env={"ACME_FB_TOKEN": TOKEN},
    )
    assert done.returncode == 0, done.stderr
    assert f"facebook:{C2}" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert not database.exists()
