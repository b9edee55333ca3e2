"""Every secret a config names is known to the log filter; stored and shown errors are clean."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from connectors.redact import Secrets
from monitor import cli as cli_module
from monitor.config import Config, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.redaction import RedactingFilter, config_secrets, feed_secrets
from monitor.reports.status import render_status
from monitor.store.db import session
from monitor.store.models import Alert, FeedState

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FEED_TOKEN = "PATHTOKEN0123456789"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose records go through the filter to a string, as the CLI sets it up."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(Secrets(["xoxb-1111-s3cretBotToken", "AIzaS3cretKey0"])))
    root = logging.getLogger("redaction-test")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield root, out
    finally:
        root.removeHandler(handler)


def test_the_filter_redacts_messages_args_and_tracebacks_at_every_level(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    root, out = captured
    child = root.getChild("httpx")  # a library's logger, propagating to the handler
    child.debug("HTTP Request: %s %s", "GET", "https://h/v3/comments?key=AIzaS3cretKey0&part=id")
    child.info("token %s in the message", "xoxb-1111-s3cretBotToken")
    try:
        raise ValueError("failed at https://u:s3cretPw@h/feed?token=abc with AIzaS3cretKey0")
    except ValueError:
        root.exception("poll failed")
    root.warning("bad args %s %s", "only one")  # a formatting mistake still gets redacted
    text = out.getvalue()
    for secret in ("AIzaS3cretKey0", "xoxb-1111-s3cretBotToken", "s3cretPw", "token=abc"):
        assert secret not in text
    assert "HTTP Request: GET https://h/v3/comments?***" in text
    assert "ValueError: failed at https://***@h/feed?*** with ***" in text
    assert "Traceback (most recent call last)" in text


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_secrets_are_every_env_value_and_the_database_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-s3cret-bot",
        "SLACK_APP_TOKEN": "xapp-s3cret-app",
        "SLACK_SIGNING_SECRET": "s3cret-signing",
        "ACME_YT_KEY": "AIza-s3cret-yt",
        "PRIVATE_FEED": "https://h/feed?token=s3cret-feed",
        "ASC_PRIVATE_KEY_PATH": "/etc/keys/AuthKey.p8",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = parse_config(
        {
            "storage": {"url": "postgresql://app:s3cret-db@db/monitor"},
            "feeds": [
                {"name": "yt", "type": "youtube", "video_id": "x", "api_key_env": "ACME_YT_KEY"},
                {"name": "blog", "type": "rss", "url_env": "PRIVATE_FEED"},
                {"name": "asc", "type": "appstore", "app_id": "1", "mode": "connect"},
            ],
        }
    )
    values = set(config_secrets(config))
    expected = set(env.values()) - {"/etc/keys/AuthKey.p8"} | {"s3cret-db"}
    assert expected <= values, expected - values
    assert "/etc/keys/AuthKey.p8" not in values, "a *_path_env names a file, not a secret"
    assert feed_secrets(config.feed("blog")) == ["https://h/feed?token=s3cret-feed"]


def test_cli_logs_hide_the_configured_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's logging setup filters its handler; `_load` hands it the config's secrets."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # a fresh process: no handler yet
    for logger in (root, *map(logging.getLogger, ("httpx", "apscheduler", "alembic"))):
        monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setenv("ACME_TP_KEY", "s3cretTrustpilotKey")
    path = write_config(
        tmp_path,
        '[[feeds]]\nname = "tp"\ntype = "trustpilot"\nbusiness_unit_id = "b"\n'
        'api_key_env = "ACME_TP_KEY"\n',
    )
    cli_module._setup_logging(verbose=True)
    cli_module._load(str(path))
    logging.getLogger("httpx").info("HTTP Request: GET https://h/x?apikey=s3cretTrustpilotKey")
    logging.getLogger("monitor").debug("header apikey=%s", "s3cretTrustpilotKey")
    logged = capsys.readouterr().err
    assert "httpx: HTTP Request: GET https://h/x?***" in logged, "-v shows request lines"
    assert "monitor: header apikey=***" in logged
    assert "s3cretTrustpilotKey" not in logged


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def private_feed_config(url: str, *, failures: int = 1) -> Config:
    return parse_config(
        {
            "alerts": {"feed_failures": failures},
            "feeds": [{"name": "private", "type": "rss", "url_env": "PRIVATE_FEED_URL"}],
        }
    )


def test_a_failing_private_feed_stores_and_shows_no_part_of_its_url(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connection refused on a URL with the token in its path, its query and its userinfo:
    the stored error, the feed-health alert and the status line hide all three."""
    url = f"http://reader:s3cretPw0rd@127.0.0.1:{dead_port()}/{FEED_TOKEN}/rss?token=s3cretQ"
    monkeypatch.setenv("PRIVATE_FEED_URL", url)
    config = private_feed_config(url)
    with httpx.Client(timeout=5) as client:
        report = Pipeline(config, sqlite_engine, client).poll("private", now=T0)
    assert not report.ok
    with session(sqlite_engine) as s:
        state = s.get(FeedState, "private")
        alert = s.exec(select(Alert).where(Alert.kind == "feed_health")).one()
    assert state is not None and state.last_error is not None and alert.body is not None
    assert state.last_error == "TransientError: network error (ConnectError) fetching ***"
    assert "\nnetwork error (ConnectError) fetching ***\n" in alert.body
    status = render_status(config, sqlite_engine, T0)
    for shown in (state.last_error, alert.body, status, report.error or ""):
        for secret in (FEED_TOKEN, "s3cretPw0rd", "s3cretQ", "reader"):
            assert secret not in shown


def test_an_error_stored_before_redaction_is_shown_redacted(sqlite_engine: Engine) -> None:
    """A database upgraded from a version that stored full URLs: status hides them."""
    config = private_feed_config("")
    with session(sqlite_engine) as s:
        s.add(
            FeedState(
                feed="private",
                consecutive_failures=2,
                last_poll_at=T0,
                last_error="TransientError: timed out fetching https://u:pw@h/f?token=old",
            )
        )
        s.commit()
    status = render_status(config, sqlite_engine, T0)
    assert "timed out fetching https://***@h/f?***" in status
    assert "token=old" not in status and "u:pw" not in status
