"""Slack and the console say "language unknown", never the detector's code "und"."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.console import ConsoleSink
from alerts.slack import build_blocks
from monitor.alerting.messages import mention_message
from monitor.demo import summary
from monitor.store.models import Alert, Mention
from tests.slack.support import NOW

ALERT = Alert(
    key="unscored:9", kind="unscored", channel="#support", next_attempt_at=NOW, created_at=NOW
)


def unscored(language: str | None) -> Mention:
    return Mention(
        id=9,
        platform="mastodon",
        feed="acme-mastodon",
        external_id="109",
        url="https://mastodon.example/@someone/109",
        text="🤷 🤷",
        created_at=NOW - timedelta(minutes=5),
        fetched_at=NOW,
        sentiment="unscored",
        language=language,
    )


@pytest.mark.parametrize("language", ["und", None])
def test_an_undetermined_language_reads_language_unknown(language: str | None) -> None:
    message = mention_message(ALERT, unscored(language), NOW)
    assert message.headline == "Mention on mastodon (language unknown, not scored)"
    assert ("Score", "not scored (language unknown)") in message.facts
    blocks = json.dumps([block.to_dict() for block in build_blocks(message)])
    assert "language unknown" in blocks
    assert "und" not in blocks.replace("unknown", "")


def test_the_slack_language_field_says_unknown_for_und() -> None:
    blocks = [
        block.to_dict() for block in build_blocks(mention_message(ALERT, unscored("und"), NOW))
    ]
    fields = [f["text"] for b in blocks for f in b.get("fields", [])]
    assert "*Language*\nunknown" in fields


def test_a_known_language_is_still_named() -> None:
    message = mention_message(ALERT, unscored("nl"), NOW)
    assert message.headline == "Mention on mastodon (language: nl, not scored)"
    assert message.language == "nl"


def test_the_console_sink_prints_language_unknown() -> None:
    out = io.StringIO()
    ConsoleSink(out).post("#support", mention_message(ALERT, unscored("und"), NOW))
    assert "(language unknown, not scored)" in out.getvalue()
    assert "und," not in out.getvalue()


def test_the_demo_summary_counts_undetermined_languages_as_unknown(tmp_path: Path) -> None:
    mentions = [unscored("und"), unscored(None), unscored("nl")]
    text = summary(mentions, decided=3, sent=3, folder=tmp_path, sink="console")
    assert "not scored (no scorer for the language): unknown 2, nl 1" in text
