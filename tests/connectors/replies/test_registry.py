"""Every writer module loads, names its platform, and has a docs section; RSS has none."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.registry import known_types
from connectors.replies.base import ReplyOptions
from connectors.replies.registry import ALIASES, WRITERS, can_reply, replier_class

DOCS = Path(__file__).parents[3] / "docs" / "sources"


@pytest.mark.parametrize("feed_type", sorted(WRITERS))
def test_each_writer_is_a_feed_type_with_a_documented_reply(feed_type: str) -> None:
    assert feed_type in known_types()
    writer = replier_class(feed_type)
    assert writer is not None
    assert writer.max_length > 0
    assert issubclass(writer.Options, ReplyOptions) and writer.Options is not ReplyOptions
    assert writer.write_scopes, "the docs and errors name what the write credentials need"
    page = (DOCS / f"{feed_type}.md").read_text()
    assert "## Replying from Slack" in page


def test_streams_answer_through_their_platform_and_feeds_without_a_write_api_do_not() -> None:
    for stream, platform in ALIASES.items():
        assert stream in known_types() and replier_class(stream) is replier_class(platform)
    for feed_type in ("rss", "hn", "csv", "jsonl", "tripadvisor"):
        assert not can_reply(feed_type)
        assert replier_class(feed_type) is None
