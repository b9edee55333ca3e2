"""The instagram connector through a real socket: recorded Graph API answers from a local server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connectors import AuthError, BrandIdentity, FeedCursor, RateLimited
from connectors.http import make_client
from connectors.sources.instagram import InstagramConnector, InstagramOptions
from tests.connectors.conformance import fixture_bytes
from tests.connectors.test_instagram import (
    ACCOUNT,
    IKROSKUN,
    LIXIANG,
    MEDIA_NODE,
    NOW,
    OWNER_REPLY,
    TAGS,
    _customer_reply,
    _open,
    comments_page,
    load,
    media_page,
    thread,
)
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply

JSON = {"Content-Type": "application/json; charset=UTF-8"}
MEDIA = "17846368219941692"


def _connector(server: LocalServer, *identities: BrandIdentity) -> InstagramConnector:
    return InstagramConnector(
        InstagramOptions.model_validate({"ig_user_id": ACCOUNT, "token_env": "ACME_IG_TOKEN"}),
        feed_name="acme-ig",
        identities=identities,
        base_url=f"{server.url}/v26.0",
    )


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_IG_TOKEN", "IGQV-e2e-token-0123456789")


def test_poll_finds_comments_tags_and_the_brand_reply_and_slows_down(
    server: LocalServer,
) -> None:
    usage = load("usage_headers_instagram_from_docs")
    hidden = {**_customer_reply("900020", "troll", "2020-06-02T09:00:00+0000", "spam"),
              "hidden": True}  # fmt: skip
    server.route(f"/v26.0/{ACCOUNT}/media", Reply.json(media_page(MEDIA_NODE)))
    server.route(
        f"/v26.0/{MEDIA}/comments",
        Reply.json(comments_page(thread(LIXIANG, hidden, OWNER_REPLY))),
    )
    server.route(f"/v26.0/{ACCOUNT}/tags", Reply.json(TAGS, **usage["buc_at_95"]))
    connector = _connector(server, IKROSKUN)
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)

    media_request = server.requests[0]
    assert media_request.query["access_token"] == ["IGQV-e2e-token-0123456789"]
    assert [r.path for r in server.requests] == [
        f"/v26.0/{ACCOUNT}/media",
        f"/v26.0/{MEDIA}/comments",
        f"/v26.0/{ACCOUNT}/tags",
    ]
    ids = [m.external_id for m in result.mentions]
    assert ids[0] == "17858154961981086" and "900020" not in ids, "hidden: not a mention"
    assert len(ids) == 1 + 5  # the comment and the five tagged media
    [reply] = result.brand_replies
    assert reply.in_reply_to == "17858154961981086"
    assert connector.not_before(NOW) == NOW + timedelta(minutes=10)


def test_usage_limit_answer_is_rate_limited_with_the_regain_time(server: LocalServer) -> None:
    body = fixture_bytes("instagram", "error_80002_instagram_buc_limit_from_docs.json")
    throttled = load("usage_headers_instagram_from_docs")["buc_throttled"]
    server.route(f"/v26.0/{ACCOUNT}/media", Reply(400, body, {**JSON, **throttled}))
    with make_client() as client, pytest.raises(RateLimited) as caught:
        _connector(server).poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == 12 * 60


def test_expired_token_is_an_auth_error_without_the_token(server: LocalServer) -> None:
    body = fixture_bytes("instagram", "error_190_463_expired_from_docs.json")
    server.route(f"/v26.0/{ACCOUNT}/media", Reply(400, body, JSON))
    with make_client() as client, pytest.raises(AuthError) as caught:
        _connector(server).poll(client, FeedCursor(), NOW)
    assert "ACME_IG_TOKEN" in str(caught.value) and "expired" in str(caught.value)
    assert "IGQV-e2e-token" not in str(caught.value)


def test_recheck_skips_a_deleted_thread_and_reads_the_other(server: LocalServer) -> None:
    deleted = fixture_bytes("instagram", "error_100_33_comment_does_not_exist_from_docs.json")
    server.route("/v26.0/17858154961981086/replies", Reply(400, deleted, JSON))
    server.route(
        "/v26.0/17874875428706419/replies",
        Reply.json({"data": [OWNER_REPLY]}),
    )
    with make_client() as client:
        found = _connector(server, IKROSKUN).recheck(
            client, [_open("17858154961981086"), _open("17874875428706419")], NOW
        )
    [reply] = found
    assert reply.in_reply_to == "17874875428706419"
    assert len(server.requests) == 2


def test_cli_dry_run_lists_the_mentions_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    server.route(f"/v26.0/{ACCOUNT}/media", Reply.json(media_page(MEDIA_NODE)))
    server.route(
        f"/v26.0/{MEDIA}/comments",
        Reply(
            200,
            fixture_bytes("instagram", "media_comments_default_fields_p1_2020_pyfacebook.json"),
            JSON,
        ),
    )
    server.route(f"/v26.0/{ACCOUNT}/tags", Reply.json({"data": []}))
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "instagram", "handle": "ikroskun", "id": ACCOUNT, "bot": False},
        feed={
            "name": "acme-ig",
            "type": "instagram",
            "interval": "10m",
            "base_url": f"{server.url}/v26.0",
            "ig_user_id": ACCOUNT,
            "token_env": "ACME_IG_TOKEN",
            "max_comment_pages": 1,
        },
        env={"ACME_IG_TOKEN": "IGQV-e2e-token-0123456789"},
    )
    assert done.returncode == 0, done.stderr
    assert "instagram:17858154961981086" in done.stdout
    assert "instagram:17874875428706419" in done.stdout
    assert "IGQV-e2e-token" not in done.stdout + done.stderr
    assert not database.exists()
