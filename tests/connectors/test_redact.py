"""URL queries, user:password and known secret values leave every text that is shown."""

from __future__ import annotations

import json
import time
from urllib.parse import quote, quote_plus

import pytest

from connectors.errors import AuthError, TransientError
from connectors.redact import Secrets, redact, redact_urls, secret_parts


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # a query, a fragment, a user:password
        ("https://host/feed.xml?token=abc", "https://host/feed.xml?***"),
        ("https://host/p#access_token=abc", "https://host/p#***"),
        ("https://host/p?token=abc#top", "https://host/p?***"),
        ("https://user:pw@host:8443/feed", "https://***@host:8443/feed"),
        ("https://ghp_TOKEN@github.com/acme.atom", "https://***@github.com/acme.atom"),
        ("https://user:p@ss@host/", "https://***@host/"),
        ("https://user:pa/ss@host/p", "https://***@host/p"),
        ("postgresql+psycopg://app:pw@db/m?sslmode=require", "postgresql+psycopg://***@db/m?***"),
        # IPv6 hosts keep their brackets and port
        ("http://[::1]:8080/p?token=x", "http://[::1]:8080/p?***"),
        ("http://u:p@[2001:db8::1]:80/q", "http://***@[2001:db8::1]:80/q"),
        # no scheme: a Location header, host:port/path, user:password@host
        ("Location: /next?token=abc&x=1", "Location: /next?***"),
        ("127.0.0.1:8080/feed?key=SECRET", "127.0.0.1:8080/feed?***"),
        ("//cdn.host/p?sig=abc", "//cdn.host/p?***"),
        ("user:pass@db.example.com:5432/monitor", "***@db.example.com:5432/monitor"),
        # URL-encoded: the URL is decoded, then redacted
        ("go to https%3A%2F%2Fh%2Fp%3Ftoken%3DSECRET now", "go to https://h/p?*** now"),
        ("https://h/p?token=ab%2Bcd%3D", "https://h/p?***"),
        # inside other text: quotes, a prefix, Slack's link syntax, httpx and httpcore texts
        ("for url 'https://h/p?token=abc'", "for url 'https://h/p?***'"),
        ("url=https://h/p?token=abc, then", "url=https://h/p?***, then"),
        ("(see https://h/p?token=abc).", "(see https://h/p?***)."),
        ("at host/p?key=abc: refused", "at host/p?***: refused"),
        ("<https://h/p?token=a|label> ok", "<https://h/p?***> ok"),
        ("(b'Location', b'/loop?token=x')", "(b'Location', b'/loop?***')"),
        ("[(b'Set-Cookie', b'sid=SECRET; Path=/')]", "[(b'Set-Cookie', b'***')]"),
        ("{'Authorization': 'Bearer xoxb-1'}", "{'Authorization': '***'}"),
        # fields named like secrets, in JSON and dict reprs; Slack's capability URLs
        ('{"accessJwt": "eyJhb.x.y", "did": "d"}', '{"accessJwt": "***", "did": "d"}'),
        ("{'client_secret': 'abc', 'token': 'v1'}", "{'client_secret': '***', 'token': '***'}"),
        (
            "'response_url': 'https://hooks.slack.com/actions/T1/2/abc'",
            "'response_url': 'https://hooks.slack.com/***'",
        ),
        (
            "posting to https://hooks.slack.com/services/T/B/x now",
            "posting to https://hooks.slack.com/*** now",
        ),
    ],
)
def test_a_url_keeps_its_scheme_host_port_and_path_only(text: str, shown: str) -> None:
    assert redact_urls(text) == shown


def test_several_urls_in_one_text_are_each_redacted() -> None:
    text = "a https://h/x?k=1 then http://u:p@h2/y?token=2, and ftp://u:p@h3/z?q#f end"
    assert (
        redact_urls(text)
        == "a https://h/x?*** then http://***@h2/y?***, and ftp://***@h3/z?*** end"
    )


@pytest.mark.parametrize(
    "text",
    [
        "feed acme is failing: the platform failed (500)",
        "see https://mastodon.social/@acme and https://h:8443/@acme and bob@example.com",
        "alert to #support; why? x = 1",
        "[SQL: UPDATE feed_state SET last_error=?, feed=? WHERE feed_state.feed = ?]",
        "sqlite:////tmp/x/monitor.db and http://[::1]:8080/feed.atom",
        "2026-12-04 22:40:30,315 INFO monitor: 3 alerts sent",
        "{'alert_key': 'negative:rss:1', 'text': 'a token of thanks'}",
    ],
)
def test_text_without_a_secret_is_left_alone(text: str) -> None:
    assert redact_urls(text) == text


def test_redaction_is_idempotent() -> None:
    once = redact_urls("x https://u:p@h/p?t=1#f y user:pw@h2/q?k=v")
    assert redact_urls(once) == once


def test_a_long_word_is_redacted_in_linear_time() -> None:
    """A hostile error text (a megabyte without a space) must not stall a log line."""
    started = time.monotonic()
    long = "a" * 300_000
    for text in (long + ":", f"{long}://{long}?x", "+://" * 10**5, f"'{long}token{long}'" * 3):
        redact_urls(text)
    assert time.monotonic() - started < 5, "quadratic on long words"


def test_known_secret_values_are_hidden_raw_encoded_and_escaped() -> None:
    key = "k3y/with+odd=chars"
    secrets = Secrets([key, "xoxb-1111-2222-abcd"])
    for form in (key, quote(key, safe=""), quote_plus(key), json.dumps(key)[1:-1]):
        assert secrets.redact(f"params {{'key': '{form}'}} sent") == "params {'key': '***'} sent"
    assert secrets.redact("Bearer xoxb-1111-2222-abcd") == "Bearer ***"


def test_a_private_feed_url_is_hidden_whole_even_with_its_token_in_the_path() -> None:
    url = "http://reader:s3cretPw@127.0.0.1:8080/feeds/PATHTOKEN123/rss?token=s3cretTok"
    secrets = Secrets([url])
    assert secrets.redact(f"GET {url} 200") == "GET *** 200"
    # a connector already redacted it: the rest (the path's token) goes too
    assert secrets.redact(f"timed out fetching {redact_urls(url)}") == "timed out fetching ***"
    # its pieces alone, wherever they appear (a redirect to another URL with the same token)
    assert secrets.redact("token s3cretTok, password s3cretPw") == "token ***, password ***"
    path_only = "https://cal.example/private-PATHTOKEN123/basic.ics"
    assert redact(f"fetching {path_only}: 500", [path_only]) == "fetching ***: 500"


def test_secret_parts_of_a_url_skip_short_values_and_plain_user_names() -> None:
    parts = secret_parts("postgresql://postgres:s3cretDbPass@h/db?sslmode=require&a=1")
    assert "s3cretDbPass" in parts and "require" in parts
    assert "postgres" not in parts and "1" not in parts, "a user name beside a password"
    assert "ghp_0123456789abcdef" in secret_parts("https://ghp_0123456789abcdef@github.com/")
    assert secret_parts("abc") == []


def test_connector_errors_never_carry_a_url_query_or_password() -> None:
    error = TransientError("timed out fetching https://u:pw@h/feed?token=abc", retry_after=5)
    assert str(error) == "timed out fetching https://***@h/feed?***"
    assert error.retry_after == 5
    assert str(AuthError("refused http://h/x?key=k3y")) == "refused http://h/x?***"


def test_a_secret_pasted_with_a_newline_is_hidden_as_the_connector_sends_it() -> None:
    # connectors/env.py strips the value: the log shows the token without its newline
    secrets = Secrets(["ghp_pastedToken0123\n"])
    assert secrets.redact("Authorization: Bearer ghp_pastedToken0123 refused") == (
        "Authorization: Bearer *** refused"
    )
