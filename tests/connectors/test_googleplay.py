"""The googleplay connector over reviews.list payloads from Google's docs (and built from them)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors import AuthError, BrandIdentity, ConnectorUnavailable, FeedCursor
from connectors.http import make_client
from connectors.sources.googleplay import GooglePlayConnector, GooglePlayOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply, Request
from tests.support.mock_http import Recording, poll_with

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DOCS = fixture_bytes("googleplay", "reviews_list_DOCS_EXAMPLE_with_developerComment.json")
BUILT = fixture_bytes(
    "googleplay", "reviews_list_page1_edited_nl_1star_reply_no_time_from_docs.json"
)
TRANSLATED = fixture_bytes("googleplay", "reviews_get_translated_DOCS_EXAMPLE_originalText.json")
ERROR_401 = fixture_bytes("googleplay", "error_401_permissionDenied_from_docs.json")
INVALID_GRANT = fixture_bytes("googleplay", "oauth2_token_invalid_grant_from_docs.json")
REVIEWS_PATH = "/androidpublisher/v3/applications/com.example.app/reviews"


def _connector(**options: Any) -> GooglePlayConnector:
    opts = {"package_name": "com.example.app", "access_token_env": "PLAY_TOKEN", **options}
    return GooglePlayConnector(
        GooglePlayOptions.model_validate(opts),
        feed_name="android",
        identities=[BrandIdentity("googleplay", handle="Example Team")],
    )


def _pages(request: httpx.Request) -> httpx.Response:
    """Page 1 (built from the docs) points at token 12334566: Google's own docs example."""
    if request.url.params.get("token") == "12334566":
        return httpx.Response(200, content=DOCS)
    return httpx.Response(200, content=BUILT)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAY_TOKEN", "ya29.test-token")


def test_developer_comment_is_a_seen_modified_only_brand_reply() -> None:
    result = poll_with(_connector(), _pages, NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to == "11223344")
    assert reply.external_id == "11223344:reply"
    assert reply.created_at == datetime(2015, 2, 5, 1, 57, 47, 813000, tzinfo=UTC)
    assert reply.text == "That's great to hear!"
    assert reply.seen_modified_only is True
    assert reply.author == "Example Team" and reply.bot is False


def test_docs_example_reply_later_than_the_1974_review_is_not_edited_after_reply() -> None:
    result = poll_with(_connector(), _pages, NOW)
    review = next(m for m in result.mentions if m.external_id == "11223344")
    assert review.created_at == datetime(1974, 6, 27, 16, 22, 14, 213000, tzinfo=UTC)
    assert review.created_is_modified is True
    assert review.edited_after_reply is False
    assert review.language == "en" and review.rating == 5.0
    assert review.extra == {"app_version": "1.2.3", "device": "trltecan"}


def test_user_comment_modified_after_the_reply_marks_edited_after_reply() -> None:
    result = poll_with(_connector(), _pages, NOW)
    review = next(m for m in result.mentions if m.external_id == "33445566")
    assert review.created_at == datetime(2026, 11, 21, 20, 0, 0, 500000, tzinfo=UTC)
    reply = next(r for r in result.brand_replies if r.in_reply_to == "33445566")
    assert reply.created_at == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    assert review.edited_after_reply is True


def test_one_star_dutch_review_without_reply_keeps_rating_and_language() -> None:
    result = poll_with(_connector(), _pages, NOW)
    review = next(m for m in result.mentions if m.external_id == "22334455")
    assert review.rating == 1.0
    assert review.language == "nl"
    assert review.author == "Anna de Vries"
    assert review.text == "Sinds de laatste update crasht de app bij het openen. Onbruikbaar!"
    assert review.created_at == datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    assert review.url == (
        "https://play.google.com/store/apps/details?id=com.example.app&reviewId=22334455"
    )
    assert "22334455" not in {r.in_reply_to for r in result.brand_replies}


def test_developer_comment_without_a_time_gets_the_fetch_time() -> None:
    result = poll_with(_connector(), _pages, NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to == "44556677")
    assert reply.created_at == NOW
    assert reply.text == "Thanks for the feedback!"
    review = next(m for m in result.mentions if m.external_id == "44556677")
    assert review.edited_after_reply is False


def test_pages_follow_next_page_token_and_stop_when_it_repeats() -> None:
    handler = Recording(_pages)

    result = poll_with(_connector(), handler, NOW)
    assert [r.url.path for r in handler.requests] == [REVIEWS_PATH, REVIEWS_PATH]
    assert dict(handler.requests[0].url.params) == {"maxResults": "100"}
    assert dict(handler.requests[1].url.params) == {"maxResults": "100", "token": "12334566"}
    assert handler.requests[0].headers["Authorization"] == "Bearer ya29.test-token"
    assert len(result.mentions) == 5
    assert result.state.cursor == "2026-11-22T08:00:00.000000+00:00"


def test_second_poll_returns_only_reviews_modified_since_but_every_reply() -> None:
    state = FeedCursor(cursor="2026-11-21T12:00:00.000000+00:00")
    result = poll_with(_connector(), _pages, NOW, state)
    assert sorted(m.external_id for m in result.mentions) == ["22334455", "33445566"]
    assert sorted(r.in_reply_to for r in result.brand_replies) == [
        "11223344",
        "33445566",
        "44556677",
    ]
    assert result.state.cursor == "2026-11-22T08:00:00.000000+00:00"


def test_cursor_never_moves_backwards() -> None:
    state = FeedCursor(cursor="2027-01-01T00:00:00.000000+00:00")
    result = poll_with(_connector(), _pages, NOW, state)
    assert result.mentions == []
    assert result.state.cursor == state.cursor


def test_translation_language_is_sent_and_the_original_text_kept() -> None:
    params: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params.append(dict(request.url.params))
        return httpx.Response(200, json={"reviews": [json.loads(TRANSLATED)]})

    result = poll_with(_connector(translation_language="en"), handler, NOW)
    assert params == [{"maxResults": "100", "translationLanguage": "en"}]
    (review,) = result.mentions
    assert review.text == "This is the best app ever!"
    assert review.language == "en"
    assert review.extra["original_text"] == "Dies ist die beste App überhaupt!"


def test_401_permission_denied_raises_auth_error_saying_what_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AuthError, match="token in PLAY_TOKEN"):
        poll_with(_connector(), lambda r: httpx.Response(401, content=ERROR_401), NOW)
    _service_account(tmp_path, "https://oauth2.example.test/token")
    connector = _service_connector(tmp_path, monkeypatch)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "oauth2.example.test":
            return httpx.Response(200, json={"access_token": "ya29.minted", "expires_in": 3599})
        return httpx.Response(401, content=ERROR_401)

    with pytest.raises(AuthError) as caught:
        poll_with(connector, handler, NOW)
    message = str(caught.value)
    assert "Reply to reviews" in message and "com.example.app" in message


def test_missing_credentials_env_var_raises_auth_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOOGLE_PLAY_CREDENTIALS", raising=False)
    connector = GooglePlayConnector(
        GooglePlayOptions(package_name="com.example.app"), feed_name="android"
    )
    with pytest.raises(AuthError, match="GOOGLE_PLAY_CREDENTIALS is not set"):
        poll_with(connector, _pages, NOW)
    monkeypatch.delenv("PLAY_TOKEN")
    with pytest.raises(AuthError, match="PLAY_TOKEN"):
        poll_with(_connector(), _pages, NOW)


def _service_account(tmp_path: Path, token_uri: str) -> rsa.RSAPublicKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "example-project",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "reviews@example-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    (tmp_path / "play-key.json").write_text(json.dumps(info))
    return key.public_key()


def _service_connector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GooglePlayConnector:
    monkeypatch.setenv("GOOGLE_PLAY_CREDENTIALS", "play-key.json")  # relative: config dir
    return GooglePlayConnector(
        GooglePlayOptions(package_name="com.example.app"),
        feed_name="android",
        config_dir=tmp_path,
    )


def test_service_account_token_is_fetched_through_the_injected_client_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = _service_account(tmp_path, "https://oauth2.example.test/token")
    connector = _service_connector(tmp_path, monkeypatch)
    assertions: list[str] = []
    api_auth: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "oauth2.example.test":
            form = parse_qs(request.content.decode())
            assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
            assertions.append(form["assertion"][0])
            return httpx.Response(200, json={"access_token": "ya29.minted", "expires_in": 3599})
        api_auth.append(request.headers["Authorization"])
        return httpx.Response(200, content=BUILT if "token" not in request.url.params else DOCS)

    poll_with(connector, handler, NOW)
    poll_with(connector, handler, NOW)
    assert len(assertions) == 1, "a valid token is reused"
    assert set(api_auth) == {"Bearer ya29.minted"}
    claims = jwt.decode(
        assertions[0],
        public,
        algorithms=["RS256"],
        audience="https://oauth2.googleapis.com/token",  # google-auth's fixed audience
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == "reviews@example-project.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/androidpublisher"


def test_token_endpoint_invalid_grant_raises_auth_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _service_account(tmp_path, "https://oauth2.example.test/token")
    connector = _service_connector(tmp_path, monkeypatch)
    with pytest.raises(AuthError, match="GOOGLE_PLAY_CREDENTIALS") as caught:
        poll_with(connector, lambda r: httpx.Response(400, content=INVALID_GRANT), NOW)
    assert "invalid_grant" in str(caught.value)


def test_unreadable_key_file_raises_auth_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = _service_connector(tmp_path, monkeypatch)
    with pytest.raises(AuthError, match="cannot read the service-account key file"):
        poll_with(connector, _pages, NOW)
    (tmp_path / "play-key.json").write_text('{"type": "service_account"}')
    with pytest.raises(AuthError, match="not a service-account JSON key"):
        poll_with(connector, _pages, NOW)


def test_without_google_auth_the_connector_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _service_account(tmp_path, "https://oauth2.example.test/token")
    connector = _service_connector(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "connectors.googleauth", None)
    with pytest.raises(ConnectorUnavailable, match="pip install google-auth"):
        poll_with(connector, _pages, NOW)


def test_config_warnings_when_polling_less_than_daily() -> None:
    options = GooglePlayOptions(package_name="com.example.app")
    assert GooglePlayConnector.config_warnings(options, 3600) == []
    assert GooglePlayConnector.config_warnings(options, 86400) == []
    (warning,) = GooglePlayConnector.config_warnings(options, 2 * 86400)
    assert "48h" in warning and "7 days" in warning


def test_end_to_end_service_account_and_reviews_through_a_local_server(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reviews(request: Request) -> Reply:
        if request.headers.get("authorization") != "Bearer ya29.local":
            return Reply(401, ERROR_401, {"Content-Type": "application/json"})
        body = DOCS if request.query.get("token") == ["12334566"] else BUILT
        return Reply(200, body, {"Content-Type": "application/json"})

    with make_client() as client:
        _service_account(tmp_path, f"{server.url}/token")
        server.route("/token", Reply.json({"access_token": "ya29.local", "expires_in": 3599}))
        server.route(REVIEWS_PATH, reviews)
        connector = GooglePlayConnector(
            GooglePlayOptions(package_name="com.example.app"),
            feed_name="android",
            base_url=server.url,
            config_dir=tmp_path,
        )
        monkeypatch.setenv("GOOGLE_PLAY_CREDENTIALS", str(tmp_path / "play-key.json"))
        result = connector.poll(client, FeedCursor(), NOW)
    assert [r.method + " " + r.path for r in server.requests] == [
        "POST /token",
        f"GET {REVIEWS_PATH}",
        f"GET {REVIEWS_PATH}",
    ]
    assert len(result.mentions) == 5
    assert {r.in_reply_to for r in result.brand_replies} == {"11223344", "33445566", "44556677"}


def test_cli_dry_run_lists_play_reviews_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    def reviews(request: Request) -> Reply:
        if request.headers.get("authorization") != "Bearer ya29.cli":
            return Reply(401, ERROR_401, {"Content-Type": "application/json"})
        body = DOCS if request.query.get("token") == ["12334566"] else BUILT
        return Reply(200, body, {"Content-Type": "application/json"})

    _service_account(tmp_path, f"{server.url}/token")
    server.route("/token", Reply.json({"access_token": "ya29.cli", "expires_in": 3599}))
    server.route(REVIEWS_PATH, reviews)
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "googleplay", "handle": "Example Team", "bot": False},
        feed={
            "name": "acme-android",
            "type": "googleplay",
            "interval": "1h",
            "base_url": server.url,
            "package_name": "com.example.app",
            "credentials_path_env": "ACME_PLAY_KEY_FILE",
        },
        env={"ACME_PLAY_KEY_FILE": "play-key.json"},  # relative to the config file
    )
    assert done.returncode == 0, done.stderr
    assert "googleplay:22334455" in done.stdout
    assert "Anna de Vries" in done.stdout
    assert [r.path for r in server.requests][:2] == ["/token", REVIEWS_PATH]
    assert not database.exists()
