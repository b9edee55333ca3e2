"""The alert message shows the buttons while a mention is open and who did what after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from alerts.slack import build_blocks
from monitor.alerting.messages import mention_message
from monitor.store.models import Alert, Mention
from tests.slack.support import NOW, action_ids, block_text

ALERT = Alert(
    key="negative:7", kind="negative", channel="#support", next_attempt_at=NOW, created_at=NOW
)


def mention(**fields: object) -> Mention:
    base: dict[str, object] = dict(
        id=7,
        platform="reddit",
        feed="acme-reddit",
        external_id="t3_x",
        url="https://www.reddit.com/r/acme/comments/x/",
        text="Where is my order?",
        created_at=NOW - timedelta(minutes=30),
        fetched_at=NOW,
        sentiment="negative",
    )
    base.update(fields)
    return Mention(**base)  # type: ignore[arg-type]


def blocks_of(row: Mention) -> list[dict[str, object]]:
    return [block.to_dict() for block in build_blocks(mention_message(ALERT, row, NOW))]


def test_an_open_mention_gets_claim_handled_snooze_dismiss_and_open() -> None:
    blocks = blocks_of(mention())
    assert action_ids(blocks) == [
        "monitor_claim",
        "monitor_handled",
        "monitor_snooze",
        "monitor_dismiss",
        "open_mention",
    ]
    actions = next(b for b in blocks if b["type"] == "actions")
    elements = cast(list[dict[str, Any]], actions["elements"])
    assert [e.get("value") for e in elements] == ["7", "7", None, "7", None]
    assert [o["value"] for o in elements[2]["options"]] == ["7:1h", "7:4h", "7:tomorrow"]
    assert elements[3]["confirm"]["title"]["text"] == "Dismiss as not relevant?"


def test_a_claimed_mention_says_who_and_drops_the_claim_button() -> None:
    blocks = blocks_of(mention(claimed_by="<!channel> ana", claimed_at=NOW))
    assert ":raising_hand: claimed by @&lt;!channel&gt; ana" in block_text(blocks)  # escaped
    assert "monitor_claim" not in action_ids(blocks)


def test_a_snooze_that_has_run_out_is_not_shown() -> None:
    ended = mention(snoozed_until=NOW - timedelta(minutes=1), snoozed_by="ana")
    assert ":zzz:" not in block_text(blocks_of(ended))
    running = mention(snoozed_until=NOW + timedelta(hours=1), snoozed_by="ana")
    assert ":zzz: SLA alerts snoozed until <!date^" in block_text(blocks_of(running))


def test_handled_and_dismissed_mentions_keep_only_the_open_link() -> None:
    handled = blocks_of(mention(status="handled", resolved_by="ana", resolved_at=NOW))
    assert "marked handled by @ana (answered outside the monitored platforms)" in block_text(
        handled
    )
    assert action_ids(handled) == ["open_mention"]
    dismissed = blocks_of(mention(status="dismissed", resolved_by="bo", resolved_at=NOW))
    assert ":no_entry_sign: dismissed as not relevant by @bo" in block_text(dismissed)
    assert action_ids(dismissed) == ["open_mention"]


def test_an_answered_mention_has_no_action_buttons() -> None:
    answered = blocks_of(mention(status="answered", first_response_by="acme"))
    assert action_ids(answered) == ["open_mention"]
