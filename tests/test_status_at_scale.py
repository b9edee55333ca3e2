"""Status with many feeds: failing and quiet feeds found at once, in the terminal and in Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy.engine import Engine

from monitor.cli import cli
from monitor.config import Config, parse_config
from monitor.reports.status import feed_statuses, render_status
from monitor.slack.commands import STATUS_FEED_LINES, status_text
from monitor.store.db import open_store
from monitor.store.db import session as open_session
from monitor.store.models import FeedState

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _feed(name: str, **extra: object) -> dict[str, object]:
    return {"name": name, "type": "rss", "url": f"https://example.com/{name}.xml", **extra}


def _store(tmp_path: Path, config_feeds: list[dict[str, object]]) -> tuple[Config, Engine, Path]:
    db = tmp_path / "monitor.db"
    config = parse_config({"storage": {"url": f"sqlite:///{db}"}, "feeds": config_feeds})
    return config, open_store(f"sqlite:///{db}"), db


def _healthy(name: str, last_item_at: datetime = NOW) -> FeedState:
    return FeedState(
        feed=name, last_poll_at=NOW, last_success_at=NOW, items_seen=3, last_item_at=last_item_at
    )


def _failing(name: str, failures: int) -> FeedState:
    return FeedState(
        feed=name,
        last_poll_at=NOW,
        last_success_at=NOW - timedelta(days=1),
        consecutive_failures=failures,
        last_error="TransientError: the platform failed (500)",
        last_error_at=NOW,
        failing_since=NOW - timedelta(hours=5),
    )


def test_a_quiet_feed_is_told_apart_from_a_healthy_one(tmp_path: Path) -> None:
    """The operator's feed that silently stopped: it answers, brings nothing, says "quiet"."""
    config, engine, _ = _store(
        tmp_path,
        [
            _feed("blog", expect_activity_within="2d"),
            _feed("forum", expect_activity_within="2d"),
            _feed("news"),  # no expectation: never quiet, however long the silence
        ],
    )
    with open_session(engine) as session:
        session.add(_healthy("blog", last_item_at=NOW - timedelta(days=3)))
        session.add(_healthy("forum", last_item_at=NOW - timedelta(days=1)))
        session.add(_healthy("news", last_item_at=NOW - timedelta(days=30)))
        session.commit()
    health = {row.name: row.health for row in feed_statuses(config, engine, NOW)}
    engine.dispose()
    assert health == {"blog": "quiet 3d 0h", "forum": "ok", "news": "ok"}


def test_status_problems_lists_the_failing_quiet_and_unpolled_feeds_worst_first(
    tmp_path: Path,
) -> None:
    feeds = [_feed(f"ok{i}") for i in range(5)]
    feeds += [_feed("quiet", expect_activity_within="1d"), _feed("new"), _feed("down")]
    feeds += [_feed("flaky")]
    config, engine, db = _store(tmp_path, feeds)
    with open_session(engine) as session:
        for i in range(5):
            session.add(_healthy(f"ok{i}"))
        session.add(_healthy("quiet", last_item_at=NOW - timedelta(days=4)))
        session.add(_failing("flaky", 2))
        session.add(_failing("down", 9))
        session.commit()
    full = render_status(config, engine, NOW)
    problems = render_status(config, engine, NOW, problems_only=True)
    engine.dispose()
    summary = "feeds: 9 (5 ok, 2 failing, 1 quiet, 1 never polled)"
    assert summary in full.splitlines() and summary in problems.splitlines()
    assert sum(line.startswith("ok") for line in full.splitlines()) == 5
    listed = [line.split()[0] for line in problems.splitlines()[1:] if line and line[0].isalpha()]
    assert listed[:4] == ["down", "flaky", "quiet", "new"]
    assert not any(line.startswith("ok") for line in problems.splitlines())
    # the same through the command an operator types
    config_file = tmp_path / "config.toml"
    lines = [f'[storage]\nurl = "sqlite:///{db}"\n']
    for feed in feeds:
        lines.append("[[feeds]]\n" + "".join(f'{k} = "{v}"\n' for k, v in feed.items()))
    config_file.write_text("\n".join(lines), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config_file), "status", "--problems"])
    assert result.exit_code == 1, "problems: a non-zero exit for cron and monitoring scripts"
    assert "down" in result.output and summary in result.output
    assert "ok0" not in result.output


def test_slack_status_of_a_thousand_feeds_fits_one_message_and_leads_with_the_failing(
    tmp_path: Path,
) -> None:
    """Slack cuts a message at 40,000 characters (and advises 4,000): one line per feed of a
    thousand pushed the alerts and the 24-hour report off the end."""
    feeds = [_feed(f"feed{i:04d}") for i in range(1000)]
    config, engine, _ = _store(tmp_path, feeds)
    broken = {"feed0500": 3, "feed0999": 12}
    with open_session(engine) as session:
        for i in range(1000):
            name = f"feed{i:04d}"
            session.add(_failing(name, broken[name]) if name in broken else _healthy(name))
        session.commit()
    text = status_text(config, engine, NOW)
    engine.dispose()
    lines = text.splitlines()
    assert len(text) < 4000
    assert lines[0] == "*Feeds*: 1000 (998 ok, 2 failing)"
    assert lines[1].startswith(":red_circle: feed0999 (rss): failing x12")
    assert lines[2].startswith(":red_circle: feed0500 (rss): failing x3")
    assert not any("feed0001" in line for line in lines)
    assert any(line.startswith("*Alerts*:") for line in lines)
    assert "• mentions: 0" in lines


def test_slack_status_names_how_many_more_need_a_look_beyond_its_lines(tmp_path: Path) -> None:
    feeds = [_feed(f"feed{i:03d}") for i in range(100)]
    config, engine, _ = _store(tmp_path, feeds)
    with open_session(engine) as session:
        for i in range(100):
            name = f"feed{i:03d}"
            session.add(_failing(name, 1) if i < 40 else _healthy(name))
        session.commit()
    text = status_text(config, engine, NOW)
    engine.dispose()
    assert sum(":red_circle:" in line for line in text.splitlines()) == STATUS_FEED_LINES
    more = 40 - STATUS_FEED_LINES
    assert f"… and {more} more needing a look: `monitor status --problems` lists them all" in text


def test_healthz_names_the_quiet_feeds_beside_the_failing(tmp_path: Path) -> None:
    import httpx

    from alerts.console import ConsoleSink
    from monitor.alerting.outbox import Dispatcher
    from monitor.ingest.pipeline import Pipeline
    from monitor.scheduler import Service

    config, engine, _ = _store(
        tmp_path, [_feed("blog", expect_activity_within="1d"), _feed("shop"), _feed("api")]
    )
    with open_session(engine) as session:
        session.add(_healthy("blog", last_item_at=NOW - timedelta(days=2)))
        session.add(_failing("shop", 4))
        session.add(_healthy("api"))
        session.commit()
    pipeline = Pipeline(config, engine, httpx.Client())
    service = Service(config, pipeline, Dispatcher(engine, ConsoleSink()), clock=lambda: NOW)
    health = service.health()
    engine.dispose()
    assert health["feeds_failing"] == ["shop"] and health["feeds_quiet"] == ["blog"]
