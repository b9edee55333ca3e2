"""Filters at work: a feed's `filter`, the global excludes and a route's `match`, through the
real pipeline and store; what they dropped counted and shown. (The language itself:
tests/test_mention_filter.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from connectors import MentionRecord, PollResult
from monitor.config import Config, ConfigError, parse_config
from monitor.ingest.pipeline import Pipeline, PollReport
from monitor.reports.status import status_report
from monitor.store.db import session
from monitor.store.models import Alert, FeedState, Mention
from tests.support import fake_connector

pytestmark = pytest.mark.usefixtures("fake_registered")
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def make_config(**extra: Any) -> Config:
    feed = {"name": "f1", "type": "fake", "interval": 60, **extra.pop("feed", {})}
    return parse_config(
        {
            "brand": {"identities": [{"platform": "fake", "handle": "AcmeSupport"}]},
            "alerts": {"on": ["all"]},
            "feeds": [feed],
            **extra,
        }
    )


def mention(eid: str, text: str, **kw: Any) -> MentionRecord:
    return MentionRecord(
        platform="fake",
        external_id=eid,
        created_at=NOW - timedelta(minutes=5),
        text=text,
        author=kw.pop("author", "customer"),
        **kw,
    )


PAGE = [
    mention("m1", "Acme support left me waiting for three days, terrible service"),
    mention("m2", "We are hiring: Acme is looking for a support engineer, apply now"),
    mention("m3", "Road Runner outran the coyote again, no acme rocket could help"),
    mention("m4", "Acme's new router keeps dropping the connection", author="acme_staff"),
    mention("m5", "Acmetools released a new version"),
]


def run(engine: Engine, config: Config, page: list[MentionRecord] = PAGE, **kw: Any) -> PollReport:
    fake_connector.QUEUE["f1"].append(PollResult(mentions=list(page)))
    return Pipeline(config, engine, httpx.Client()).poll("f1", now=NOW, **kw)


def stored(engine: Engine) -> dict[str, Mention]:
    with session(engine) as s:
        rows = list(s.exec(select(Mention)))
        s.expunge_all()
    return {m.external_id: m for m in rows}


def feed_row(engine: Engine) -> FeedState:
    with session(engine) as s:
        row = s.get(FeedState, "f1")
        assert row is not None
        s.expunge(row)
        return row


def test_the_feed_filter_keeps_its_matches_and_counts_what_it_dropped(engine: Engine) -> None:
    config = make_config(feed={"filter": 'acme -hiring -"road runner"'})
    report = run(engine, config)
    assert report.ok, report.error
    # m5: "acmetools" is not the word "acme"; m2: a job post; m3: a cartoon
    assert set(stored(engine)) == {"m1", "m4"}
    assert report.filtered == 3 and report.fetched == 5
    with session(engine) as s:
        alerted = {a.mention_id for a in s.exec(select(Alert))}
    assert alerted == {m.id for m in stored(engine).values()}
    row = feed_row(engine)
    assert (row.items_checked, row.items_filtered) == (5, 3)
    # the next poll brings the same items: the stored ones are known, the dropped ones are
    # judged again (and dropped again), nothing is alerted twice
    again = run(engine, config)
    assert again.filtered == 3 and not again.new_mentions
    assert feed_row(engine).items_filtered == 6


def test_global_excludes_drop_the_brand_staff_from_every_feed(engine: Engine) -> None:
    config = make_config(filters={"exclude": ["author:acme_staff", "hiring OR apply"]})
    run(engine, config)
    assert set(stored(engine)) == {"m1", "m3", "m5"}


def test_a_filter_on_language_and_sentiment_judges_after_scoring(engine: Engine) -> None:
    page = [
        *PAGE[:1],
        mention("nl1", "De klantenservice van Acme is echt verschrikkelijk, al drie dagen niets"),
        mention("nl2", "Acme heeft mijn probleem snel en vriendelijk opgelost, dank jullie wel"),
    ]
    config = make_config(feed={"filter": "lang:nl sentiment:negative"})
    report = run(engine, config, page)
    kept = stored(engine)
    assert set(kept) == {"nl1"}, {k: (m.language, m.sentiment) for k, m in kept.items()}
    assert report.filtered == 2


def test_a_route_match_sends_dutch_complaints_to_the_dutch_team(engine: Engine) -> None:
    config = make_config(
        routes=[{"name": "dutch", "channel": "#nl-team", "match": "lang:nl sentiment:negative"}],
        slack={"default_channel": "#support"},
    )
    page = [
        PAGE[0],
        mention("nl1", "De klantenservice van Acme is echt verschrikkelijk, al drie dagen niets"),
    ]
    run(engine, config, page)
    with session(engine) as s:
        channel = {
            m.external_id: a.channel
            for a, m in s.exec(select(Alert, Mention).where(Alert.mention_id == Mention.id))
        }
    assert channel == {"m1": "#support", "nl1": "#nl-team"}


def test_status_shows_what_was_filtered_and_warns_of_a_filter_dropping_everything(
    engine: Engine,
) -> None:
    config = make_config(feed={"filter": '"no such phrase anywhere"'})
    for round_ in range(5):
        page = [mention(f"r{round_}-{n}", f"Acme item {n}") for n in range(5)]
        run(engine, config, page)
    text, code = status_report(config, engine, NOW)
    line = next(x for x in text.splitlines() if x.startswith("f1 "))
    assert "filter drops all" in line and "(25 filtered)" in line
    assert code == 1


def test_the_dry_run_says_how_many_the_filter_dropped(engine: Engine) -> None:
    config = make_config(feed={"filter": "acme -hiring"})
    report = run(engine, config, dry_run=True)
    assert report.filtered == 2 and stored(engine) == {}


@pytest.mark.parametrize(
    ("settings", "where"),
    [
        ({"feed": {"filter": '"unclosed'}}, "feeds[0].filter: column"),
        ({"filters": {"exclude": ["fine", "(broken"]}}, "filters.exclude"),
        (
            {"routes": [{"name": "r", "channel": "#x", "match": "lang:"}]},
            "routes[0].match: column",
        ),
    ],
)
def test_a_broken_query_names_its_key_and_column(settings: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as problem:
        make_config(**settings)
    assert where in str(problem.value)


def test_a_stack_exchange_api_filter_under_the_old_key_is_refused_with_the_new_one() -> None:
    with pytest.raises(ConfigError) as problem:
        parse_config(
            {
                "feeds": [
                    {
                        "name": "so",
                        "type": "stackexchange",
                        "tagged": ["acme"],
                        "filter": "withbody",
                    }
                ]
            }
        )
    assert "feeds[0].filter" in str(problem.value) and "api_filter" in str(problem.value)


def test_filter_test_judges_what_a_feed_fetches_over_a_real_socket(tmp_path: Path) -> None:
    """`monitor filter test QUERY --feed NAME`: the recorded heise Atom feed served on
    127.0.0.1; each of its entries judged, nothing stored."""
    from click.testing import CliRunner

    from monitor.cli import cli
    from tests.support.http_server import Reply, local_server

    feed = Path(__file__).parent / "fixtures" / "rss" / "heise_developer_atom_2016.atom"
    entries = feed.read_bytes().count(b"<entry>")
    with local_server() as server:
        server.route("/feed.atom", Reply(200, feed.read_bytes()))
        config = tmp_path / "config.toml"
        config.write_text(
            f'[storage]\nurl = "sqlite:///{tmp_path / "monitor.db"}"\n'
            f'[[feeds]]\nname = "heise"\ntype = "rss"\nurl = "{server.url}/feed.atom"\n',
            encoding="utf-8",
        )
        result = CliRunner().invoke(
            cli, ["--config", str(config), "filter", "test", "microsoft*", "--feed", "heise"]
        )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    judged = [line for line in lines if line.startswith("  ")]
    assert len(judged) == entries
    hits = [line for line in judged if "MATCH" in line]
    assert hits and all("microsoft" in line.casefold() for line in hits)
    assert lines[-1] == f"heise: {len(hits)} of {entries} fetched item(s) match"
    assert not (tmp_path / "monitor.db").exists()
