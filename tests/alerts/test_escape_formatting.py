"""What a customer typed shows as typed: their `*bold*` is not Slack's bold, pings stay broken."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from alerts.base import AlertMessage
from alerts.escape import escape
from alerts.slack import SlackSink
from tests.support.fake_slack import FakeSlack, fake_slack

WJ = "\u2060"
HOSTILE = (
    "*URGENT* _refund_ ~now~ `rm -rf` ```block``` *<!channel>* _<https://evil.example|bank>_ "
    "~@here~ *a*b* __x__ **y** &amp; `<@U123>`"
)
# An opening mark that Slack would honour: start or a space/punctuation before it, a
# non-space after it. Closing marks mirror that. A word joiner on both sides stops both.
_OPENS = re.compile(r"(?:^|[\s(])[*_~`](?=[^\s\u2060])")
_CLOSES = re.compile(r"(?<=[^\s\u2060])[*_~`](?:$|[\s.,!?)])")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def test_formatting_marks_are_neither_openers_nor_closers() -> None:
    escaped = escape(HOSTILE)
    assert not _OPENS.search(escaped), escaped
    assert not _CLOSES.search(escaped), escaped
    # nothing is lost: without the invisible joiners it reads as the customer wrote it
    assert escaped.replace(WJ, "") == (
        HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    )
    assert "&lt;!channel&gt;" in escaped and "@" + WJ + "here" in escaped


def test_a_cut_never_leaves_half_an_entity_or_an_open_mark() -> None:
    for limit in range(5, 60):
        escaped = escape("*<&>*" * 40, limit=limit)
        assert len(escaped) <= limit
        assert not re.search(r"&[a-z]{0,3}(?:…|$)", escaped), escaped
        assert not _OPENS.search(escaped), escaped


def test_customer_formatting_reaches_slack_literally(slack: FakeSlack) -> None:
    message = AlertMessage(
        key="k1",
        kind="negative",
        headline="Negative mention on reddit",
        title="*Worst* _service_ ever",
        text=HOSTILE,
        author="_mallory_",
        source="reddit · acme_reddit",
        url="https://www.reddit.com/r/acme/comments/x/",
        sentiment="negative",
        facts=[("Score", "-0.80 (lexicon)")],
    )
    sink = SlackSink(slack.token, base_url=slack.api_url, timeout=5)
    assert sink.post("#support", message).ok
    [posted] = slack.messages
    body = next(b for b in posted.blocks if b["type"] == "section" and "text" in b)["text"]
    assert body["type"] == "mrkdwn"
    title_line, *quoted = body["text"].split("\n")
    # our own bold around the title stays; the customer's marks inside it are inert
    assert title_line.startswith("*") and title_line.endswith("*")
    inner = title_line[1:-1]
    assert not _OPENS.search(inner) and not _CLOSES.search(inner)
    assert inner.replace(WJ, "") == "*Worst* _service_ ever"
    for line in quoted:
        assert line.startswith(">")
        assert not _OPENS.search(line[1:]) and not _CLOSES.search(line[1:]), line
    context = next(b for b in posted.blocks if b["type"] == "context")
    by = context["elements"][0]["text"]
    assert "by " + WJ + "_" + WJ + "mallory" + WJ + "_" + WJ in by
    # the notification text (and clients without blocks) is protected the same way
    assert "*Worst*" not in posted.text and "`rm" not in posted.text
    for forbidden in ("<!channel>", "<https://evil", "<@U123>", "@here"):
        assert forbidden not in str(posted.raw)
