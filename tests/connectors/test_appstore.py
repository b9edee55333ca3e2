"""The appstore connector over recorded feeds and App Store Connect payloads built from the docs."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors import AuthError, BrandIdentity, ConnectorUnavailable, FeedCursor, PollResult
from connectors.http import make_client
from connectors.sources.appstore import AppStoreConnector, AppStoreOptions, build_token
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply, Request
from tests.support.mock_http import Recording, mock_client, poll_with

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
IN_NOW = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)  # 6 days after the IN page's newest review
JP = fixture_bytes("appstore", "customerreviews_jp_1404176564_page1_json_2020_no_entry_dates.json")
AL = fixture_bytes("appstore", "customerreviews_al_382617920_json_2018_first_entry_is_app.json")
IN = fixture_bytes("appstore", "customerreviews_in_1592550875_2026_PARTLY_EDITED.json")
CONNECT_PAGE1 = fixture_bytes("appstore", "customerReviews_include_response_page1_from_docs.json")
CONNECT_DOCS = fixture_bytes(
    "appstore", "customerReviews_apps_682658836_limit1_APPLE_DOCS_EXAMPLE.json"
)
CONNECT_CHN = fixture_bytes("appstore", "customerReview_item_CHN_live_2026-09-25_TRANSCRIBED.json")
ERROR_401 = fixture_bytes("appstore", "error_401_NOT_AUTHORIZED_from_docs.json")
REVIEW_A = "00000041-7c2e-4a01-9f3b-1a2b00000000"
REVIEW_DE = "00000041-7c2e-4a01-9f3b-1a2b00000002"
REVIEW_NO_REPLY = "00000041-7c2e-4a01-9f3b-1a2b00000004"
REVIEW_PENDING = "00000041-7c2e-4a01-9f3b-1a2b00000005"


def _rss(**options: Any) -> AppStoreConnector:
    return AppStoreConnector(AppStoreOptions.model_validate(options), feed_name="ios")


def _rss_poll(body: bytes, now: datetime = NOW, **options: Any) -> PollResult:
    """A first poll of an RSS feed with these options whose every page answers with body."""
    return poll_with(_rss(**options), lambda r: httpx.Response(200, content=body), now)


def _p8(tmp_path: Path) -> tuple[Path, ec.EllipticCurvePublicKey]:
    """A fresh P-256 key written as Apple's .p8 (PKCS#8 PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "AuthKey_TESTKEY123.p8"
    path.write_bytes(pem)
    return path, key.public_key()


def _connect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[AppStoreConnector, ec.EllipticCurvePublicKey]:
    path, public = _p8(tmp_path)
    monkeypatch.setenv("ASC_KEY_ID", "TESTKEY123")
    monkeypatch.setenv("ASC_ISSUER_ID", "57246542-96fe-1a63-e053-0824d011072a")
    monkeypatch.setenv("ASC_PRIVATE_KEY_PATH", str(path))
    opts = AppStoreOptions.model_validate({"mode": "connect", "app_id": "682658836", **options})
    connector = AppStoreConnector(
        opts, feed_name="ios", identities=[BrandIdentity("appstore", handle="Acme Support")]
    )
    return connector, public


def _connect_pages(request: httpx.Request) -> httpx.Response:
    if "cursor=AQ.AAAB" in str(request.url):
        return httpx.Response(200, content=CONNECT_DOCS)
    return httpx.Response(200, content=CONNECT_PAGE1)


# --- public RSS feed -----------------------------------------------------------------------


def test_rss_first_entry_that_is_the_app_itself_is_skipped() -> None:
    result = _rss_poll(AL, app_id="382617920", countries=["al"], pages=1)
    ids = [m.external_id for m in result.mentions]
    assert len(ids) == 50  # 51 entries, the first is Viber itself
    assert ids[0] == "2221577708"
    assert all(i.isdigit() for i in ids)


def test_rss_review_in_italian_storefront_al_keeps_one_star_rating() -> None:
    result = _rss_poll(AL, app_id="382617920", countries=["al"], pages=1)
    review = next(m for m in result.mentions if m.external_id == "1818269499")
    assert review.rating == 1.0
    assert review.title == "Rallentamento del sistema"
    assert review.extra["country"] == "al"


def test_rss_payload_without_dates_uses_fetch_time_and_says_so() -> None:
    result = _rss_poll(JP, app_id="1404176564", countries=["jp"], pages=1)
    first = result.mentions[0]
    assert first.external_id == "6290024630"
    assert first.created_at == NOW
    assert first.created_is_modified is True
    assert first.extra == {"country": "jp", "app_version": "3.4.3", "no_date": True}
    assert first.author == "ヤミ。" and first.author_id == "638572168"
    assert first.title == "神アプリ" and first.rating == 4.0
    assert first.text.startswith("とにかく周りの人皆んなが暖かく")
    assert first.url == "https://itunes.apple.com/jp/review?id=1404176564&type=Purple%20Software"
    assert result.brand_replies == []  # the feed has no developer-reply field


def test_rss_one_star_japanese_review_keeps_rating_and_text() -> None:
    result = _rss_poll(JP, app_id="1404176564", countries=["jp"], pages=1)
    review = next(m for m in result.mentions if m.external_id == "6282758619")
    assert review.rating == 1.0
    assert review.title == "ラグが酷すぎる"
    assert review.text.startswith("そのままだけどラグが酷いし")
    assert sum(1 for m in result.mentions if m.rating == 1.0) == 13


def test_rss_entry_updated_with_offset_becomes_utc_and_is_marked_modified() -> None:
    result = _rss_poll(IN, app_id="1592550875", countries=["in"], backfill="30d", now=IN_NOW)
    first, second = result.mentions
    assert first.external_id == "14548543799"
    assert first.created_at == datetime(2026, 9, 14, 11, 24, 23, tzinfo=UTC)  # 04:24:23-07:00
    assert first.created_is_modified is True and "no_date" not in first.extra
    assert second.rating == 1.0 and second.created_at == datetime(2026, 9, 10, 18, 2, tzinfo=UTC)


def test_rss_first_run_backfill_drops_dated_reviews_older_than_the_window() -> None:
    result = _rss_poll(IN, app_id="1592550875", countries=["in"], backfill="7d", now=IN_NOW)
    assert [m.external_id for m in result.mentions] == ["14548543799"]
    assert json.loads(result.state.cursor or "") == {"in": "14548543799"}


def test_rss_requests_every_country_most_recent_json_pages_and_stops_when_nothing_new() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, content=JP)

    result = poll_with(_rss(app_id="1404176564", countries=["jp", "us"], pages=3), handler, NOW)
    assert seen == [
        "/jp/rss/customerreviews/page=1/id=1404176564/sortby=mostrecent/json",
        "/jp/rss/customerreviews/page=2/id=1404176564/sortby=mostrecent/json",  # all seen: stop
        # the same reviews again (a recording, not a real "us" page): nothing new, stop
        "/us/rss/customerreviews/page=1/id=1404176564/sortby=mostrecent/json",
    ]
    assert len(result.mentions) == 50  # the same page in both stores is deduplicated by id
    assert json.loads(result.state.cursor or "") == {"jp": "6290024630", "us": "6290024630"}


def test_rss_second_poll_stops_at_the_saved_review_id() -> None:
    handler = Recording(lambda request: httpx.Response(200, content=JP))

    state = FeedCursor(cursor=json.dumps({"jp": "6285559638"}))
    result = poll_with(_rss(app_id="1404176564", countries=["jp"]), handler, NOW, state)
    assert [m.external_id for m in result.mentions] == ["6290024630"]
    assert len(handler.requests) == 1, "the saved id is on page 1: no need to read page 2"
    assert json.loads(result.state.cursor or "") == {"jp": "6290024630"}


def test_rss_cursor_never_moves_backwards() -> None:
    state = FeedCursor(cursor=json.dumps({"jp": "9999999999", "de": "5"}))
    result = poll_with(
        _rss(app_id="1404176564", countries=["jp"]),
        lambda r: httpx.Response(200, content=JP),
        NOW,
        state,
    )
    assert result.mentions == []
    assert json.loads(result.state.cursor or "") == {"de": "5", "jp": "9999999999"}


def test_rss_single_store_sends_etag_and_a_304_keeps_the_cursor() -> None:
    sent: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("If-None-Match"))
        return httpx.Response(304)

    state = FeedCursor(cursor='{"jp": "6290024630"}', etag='"abc"')
    result = poll_with(_rss(app_id="1404176564", countries=["jp"]), handler, NOW, state)
    assert result.not_modified and result.state == state
    assert sent == ['"abc"']


def test_rss_country_codes_are_validated() -> None:
    with pytest.raises(ValueError, match="two letters"):
        AppStoreOptions.model_validate({"app_id": "1", "countries": ["usa"]})
    with pytest.raises(ValueError):
        AppStoreOptions.model_validate({"app_id": "1", "pages": 11})


# --- App Store Connect ---------------------------------------------------------------------


def test_connect_token_is_an_es256_jwt_that_verifies_with_the_public_key(tmp_path: Path) -> None:
    path, public = _p8(tmp_path)
    issued = datetime.now(UTC)
    token = build_token(
        key_id="TESTKEY123", issuer_id="issuer-uuid", private_key=path.read_bytes(), now=issued
    )
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": "TESTKEY123", "typ": "JWT"}
    claims = jwt.decode(token, public, algorithms=["ES256"], audience="appstoreconnect-v1")
    assert claims["iss"] == "issuer-uuid"
    assert claims["iat"] == int(issued.timestamp())
    assert 0 < claims["exp"] - claims["iat"] <= 20 * 60
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["ES256"], audience="appstoreconnect-v1")


def test_connect_poll_sends_the_signed_token_and_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, public = _connect(tmp_path, monkeypatch, pages=1)
    tokens: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tokens.append(request.headers["Authorization"].removeprefix("Bearer "))
        return httpx.Response(200, content=CONNECT_PAGE1)

    poll_with(connector, handler, NOW)
    poll_with(connector, handler, NOW)
    assert tokens[0] == tokens[1], "a token is valid 15 minutes: do not sign one per request"
    claims = jwt.decode(
        tokens[0],
        public,
        algorithms=["ES256"],
        audience="appstoreconnect-v1",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == "57246542-96fe-1a63-e053-0824d011072a"
    assert claims["iat"] == int(NOW.timestamp())


def test_connect_first_run_pages_with_links_next_until_the_backfill_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch)
    handler = Recording(_connect_pages)

    result = poll_with(connector, handler, NOW)
    first, second = handler.requests
    assert first.url.path == "/v1/apps/682658836/customerReviews"
    assert dict(first.url.params) == {"include": "response", "sort": "-createdDate", "limit": "200"}
    # links.next is followed on our base URL, so a proxy or test server gets page 2 too
    assert second.url.host == "api.appstoreconnect.apple.com"
    assert second.url.params["cursor"] == "AQ.AAAB"
    # the 2017 review on page 2 is older than the 7-day backfill: not a mention, paging stops
    assert [m.external_id for m in result.mentions] == [
        REVIEW_A,
        REVIEW_DE,
        REVIEW_NO_REPLY,
        REVIEW_PENDING,
    ]
    assert result.state.cursor == "2026-11-21T17:12:40+00:00"


def test_connect_published_response_is_a_seen_modified_only_brand_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch, pages=1)
    result = poll_with(connector, _connect_pages, NOW)
    review = next(m for m in result.mentions if m.external_id == REVIEW_A)
    assert review.created_at == datetime(2026, 11, 21, 17, 12, 40, tzinfo=UTC)  # 09:12:40-08:00
    assert review.rating == 2.0 and review.author == "kiwi_dev"
    assert review.extra == {"territory": "NZL"}
    reply = next(r for r in result.brand_replies if r.in_reply_to == REVIEW_A)
    assert reply.external_id == "00000041-7c2e-4a01-9f3b-1a2b00000001"
    assert reply.created_at == datetime(2026, 11, 21, 19, 40, 2, tzinfo=UTC)  # 11:40:02-08:00
    assert reply.seen_modified_only is True
    assert reply.author == "Acme Support" and reply.bot is False
    assert reply.text == "Sorry about that! Version 5.2.1 fixes sync; please update."


def test_connect_one_star_german_review_with_a_reply_missing_its_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch, pages=1)
    result = poll_with(connector, _connect_pages, NOW)
    review = next(m for m in result.mentions if m.external_id == REVIEW_DE)
    assert review.rating == 1.0
    assert review.title == "Stürzt ständig ab"
    assert review.created_at == datetime(2026, 11, 21, 7, 5, tzinfo=UTC)
    assert review.extra == {"territory": "DEU"}
    reply = next(r for r in result.brand_replies if r.in_reply_to == REVIEW_DE)
    assert reply.created_at == NOW, "no lastModifiedDate: the time we saw it"
    assert reply.seen_modified_only is True


def test_connect_review_without_response_and_pending_response_have_no_brand_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch, pages=1)
    result = poll_with(connector, _connect_pages, NOW)
    answered = {r.in_reply_to for r in result.brand_replies}
    assert answered == {REVIEW_A, REVIEW_DE}
    assert REVIEW_NO_REPLY not in answered
    assert REVIEW_PENDING not in answered, "PENDING_PUBLISH is not public yet"


def test_connect_second_poll_stops_on_the_first_page_at_the_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch)
    handler = Recording(_connect_pages)

    state = FeedCursor(cursor="2026-11-20T00:00:00+00:00")
    result = poll_with(connector, handler, NOW, state)
    assert len(handler.requests) == 1
    assert [m.external_id for m in result.mentions] == [REVIEW_A, REVIEW_DE]
    # replies on older reviews of the page are still reported
    assert {r.in_reply_to for r in result.brand_replies} == {REVIEW_A, REVIEW_DE}
    assert result.state.cursor == "2026-11-21T17:12:40+00:00"


def test_connect_recheck_reads_open_reviews_and_finds_a_later_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch)
    page = json.loads(CONNECT_PAGE1)
    with_reply = {"data": page["data"][0], "included": [page["included"][0]], "links": {}}
    chn = json.loads(CONNECT_CHN)
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        assert request.url.params["include"] == "response"
        if request.url.path.endswith(REVIEW_A):
            return httpx.Response(200, json=with_reply)
        return httpx.Response(200, json={"data": chn, "links": {}})

    first = poll_with(
        connector, _connect_pages, NOW, FeedCursor(cursor="2026-11-21T00:00:00+00:00")
    )
    chn_mention = type(first.mentions[0])(
        platform="appstore", external_id=chn["id"], created_at=NOW, text="x"
    )
    with mock_client(handler) as client:
        replies = connector.recheck(client, [first.mentions[0], chn_mention], NOW)
    assert paths == [f"/v1/customerReviews/{REVIEW_A}", f"/v1/customerReviews/{chn['id']}"]
    assert [(r.in_reply_to, r.created_at) for r in replies] == [
        (REVIEW_A, datetime(2026, 11, 21, 19, 40, 2, tzinfo=UTC))
    ]


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(400),
        # a recorded answer that is not a customerReviews item: the public feed's JSON
        httpx.Response(200, content=JP),
    ],
    ids=["refused", "malformed"],
)
def test_connect_recheck_skips_one_unreadable_review_and_reads_the_others(
    bad: httpx.Response,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch)
    page = json.loads(CONNECT_PAGE1)
    with_reply = {"data": page["data"][0], "included": [page["included"][0]], "links": {}}
    chn = json.loads(CONNECT_CHN)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(REVIEW_A):
            return httpx.Response(200, json=with_reply)
        return bad

    first = poll_with(
        connector, _connect_pages, NOW, FeedCursor(cursor="2026-11-21T00:00:00+00:00")
    )
    chn_mention = type(first.mentions[0])(
        platform="appstore", external_id=chn["id"], created_at=NOW, text="x"
    )
    with mock_client(handler) as client:
        replies = connector.recheck(client, [chn_mention, first.mentions[0]], NOW)
    assert [r.in_reply_to for r in replies] == [REVIEW_A]
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert f"appstore recheck: skipped 1 of 2 items it could not read (first: {chn['id']}:" in (
        warning.message
    )


def test_connect_401_not_authorized_raises_auth_error_naming_the_env_vars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch)
    with pytest.raises(AuthError) as caught:
        poll_with(connector, lambda r: httpx.Response(401, content=ERROR_401), NOW)
    message = str(caught.value)
    assert "ASC_KEY_ID" in message and "ASC_ISSUER_ID" in message
    assert "ASC_PRIVATE_KEY_PATH" in message


def test_connect_missing_env_var_raises_auth_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch)
    monkeypatch.delenv("ASC_ISSUER_ID")
    with pytest.raises(AuthError, match="ASC_ISSUER_ID is not set"):
        poll_with(connector, lambda r: httpx.Response(200, content=CONNECT_PAGE1), NOW)


def test_connect_unreadable_or_invalid_key_file_raises_auth_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch)
    monkeypatch.setenv("ASC_PRIVATE_KEY_PATH", str(tmp_path / "missing.p8"))
    with pytest.raises(AuthError, match="cannot read the App Store Connect private key"):
        poll_with(connector, lambda r: httpx.Response(200, content=CONNECT_PAGE1), NOW)
    (tmp_path / "junk.p8").write_text(
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"
    )
    monkeypatch.setenv("ASC_PRIVATE_KEY_PATH", "junk.p8")  # relative: to the config directory
    connector.config_dir = tmp_path
    with pytest.raises(AuthError, match="not a usable ES256"):
        poll_with(connector, lambda r: httpx.Response(200, content=CONNECT_PAGE1), NOW)


def test_connect_without_pyjwt_is_connector_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "jwt", None)
    with pytest.raises(ConnectorUnavailable, match=r"pyjwt\[crypto\]"):
        poll_with(connector, lambda r: httpx.Response(200, content=CONNECT_PAGE1), NOW)


def test_connect_mode_defaults_to_the_connect_api_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, _ = _connect(tmp_path, monkeypatch)
    assert connector.base_url == "https://api.appstoreconnect.apple.com"
    assert _rss(app_id="1").base_url == "https://itunes.apple.com"


# --- end to end through a real socket ------------------------------------------------------


def test_end_to_end_rss_and_connect_through_a_local_server(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector, public = _connect(tmp_path, monkeypatch, pages=2)

    def connect_route(request: Request) -> Reply:
        token = request.headers["authorization"].removeprefix("Bearer ")
        try:
            jwt.decode(token, public, algorithms=["ES256"], audience="appstoreconnect-v1")
        except jwt.PyJWTError:
            return Reply(401, ERROR_401, {"Content-Type": "application/json"})
        body = CONNECT_DOCS if request.query.get("cursor") else CONNECT_PAGE1
        return Reply(200, body, {"Content-Type": "application/json"})

    with make_client() as client:
        server.route(
            "/jp/rss/customerreviews/page=1/id=1404176564/sortby=mostrecent/json",
            Reply(200, JP, {"Content-Type": "application/json"}),
        )
        server.route("/v1/apps/682658836/customerReviews", connect_route)
        rss = AppStoreConnector(
            AppStoreOptions.model_validate(
                {"app_id": "1404176564", "countries": ["jp"], "pages": 1}
            ),
            feed_name="ios-rss",
            base_url=server.url,
        )
        rss_result = rss.poll(client, FeedCursor(), NOW)
        connect = AppStoreConnector(
            connector.options, feed_name="ios", base_url=server.url, identities=[]
        )
        # the real clock: the server verifies the token's iat/exp like Apple does
        connect_result = connect.poll(client, FeedCursor(), datetime.now(UTC))
    assert len(rss_result.mentions) == 50 and rss_result.mentions[0].external_id == "6290024630"
    assert server.requests[0].path.startswith("/jp/rss/customerreviews/page=1")
    connect_paths = [q for q in server.requests if q.path.startswith("/v1/")]
    assert connect_paths[0].query["include"] == ["response"]
    assert {r.in_reply_to for r in connect_result.brand_replies} == {REVIEW_A, REVIEW_DE}


def test_cli_dry_run_lists_connect_reviews_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    key_path, public = _p8(tmp_path)

    def connect_route(request: Request) -> Reply:
        token = request.headers["authorization"].removeprefix("Bearer ")
        try:
            jwt.decode(token, public, algorithms=["ES256"], audience="appstoreconnect-v1")
        except jwt.PyJWTError:
            return Reply(401, ERROR_401, {"Content-Type": "application/json"})
        body = CONNECT_DOCS if request.query.get("cursor") else CONNECT_PAGE1
        return Reply(200, body, {"Content-Type": "application/json"})

    server.route("/v1/apps/682658836/customerReviews", connect_route)
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "appstore", "handle": "Acme Support", "bot": False},
        feed={
            "name": "acme-ios",
            "type": "appstore",
            "interval": "30m",
            "base_url": server.url,
            "mode": "connect",
            "app_id": "682658836",
            "pages": 2,
            "backfill": "3650d",
            "key_id_env": "ACME_ASC_KEY_ID",
            "issuer_id_env": "ACME_ASC_ISSUER",
            "private_key_path_env": "ACME_ASC_KEY_FILE",
        },
        env={
            "ACME_ASC_KEY_ID": "TESTKEY123",
            "ACME_ASC_ISSUER": "57246542-96fe-1a63-e053-0824d011072a",
            "ACME_ASC_KEY_FILE": str(key_path),
        },
    )
    assert done.returncode == 0, done.stderr
    assert f"appstore:{REVIEW_DE}" in done.stdout
    assert "Kundin_HH" in done.stdout
    assert "appstore:00000028-b08c-0014-729e-fbd500000000" in done.stdout  # page 2, Apple docs
    assert server.requests[0].headers["authorization"].startswith("Bearer ey")
    assert not database.exists()
