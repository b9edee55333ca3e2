"""The Reply modal: the customer's words quoted, a text box, canned replies, the outcome.

Slack shows what the agent types in a `plain_text_input` and hands it back as typed; the
writer posts it as plain text. Everything from outside (the customer's text, the platform's
error) passes through `alerts.escape` before it is drawn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from alerts.escape import escape, safe_url
from monitor.config import ReplyTemplateConfig
from monitor.store.models import Mention

CALLBACK = "monitor_reply"
ACTION_TEMPLATE = "monitor_reply_template"
TEXT_ACTION = "text"
# Slack's own caps: a plain_text_input holds 3,000 characters, a title 24, an option 75.
SLACK_INPUT_MAX = 3000
QUOTE_MAX = 2500


@dataclass(frozen=True)
class Place:
    """Which mention, and which alert message to redraw: the modal's private_metadata."""

    mention_id: int
    channel_id: str | None = None
    message_ts: str | None = None
    revision: int = 0  # bumped to redraw the text box with a template's text

    def dump(self) -> str:
        return json.dumps(
            {"m": self.mention_id, "c": self.channel_id, "t": self.message_ts, "r": self.revision}
        )

    @classmethod
    def load(cls, raw: str | None) -> Place | None:
        try:
            found = json.loads(raw or "")
            mention_id = found["m"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(mention_id, int) or isinstance(mention_id, bool):
            return None
        channel, ts, revision = found.get("c"), found.get("t"), found.get("r")
        return cls(
            mention_id,
            channel if isinstance(channel, str) else None,
            ts if isinstance(ts, str) else None,
            revision if isinstance(revision, int) else 0,
        )


@dataclass(frozen=True)
class Limits:
    """What the platform's writer takes (connectors/replies/)."""

    platform: str
    limit: int
    unit: str
    replaces_existing: bool = False


def text_block(place: Place) -> str:
    return f"reply_{place.revision}"


def form(
    mention: Mention,
    place: Place,
    limits: Limits,
    templates: list[ReplyTemplateConfig],
    *,
    text: str = "",
    error: str | None = None,
) -> dict[str, Any]:
    """The modal with the text box; `error` (the platform's refusal) above it, `text` kept."""
    author = escape(mention.author or "a customer", 200)
    quoted = escape(mention.text or mention.title or "", QUOTE_MAX)
    lines = "\n".join("> " + line for line in quoted.splitlines()) or "> (no text)"
    blocks: list[dict[str, Any]] = [_section(f"*{author}* wrote on {limits.platform}:\n{lines}")]
    if error:
        blocks.append(_section(f":warning: {escape(error, 1000)}"))
    if templates:
        blocks.append(
            {
                "type": "actions",
                "block_id": "templates",
                "elements": [
                    {
                        "type": "static_select",
                        "action_id": ACTION_TEMPLATE,
                        "placeholder": _plain("Canned replies"),
                        "options": [
                            {"text": _plain(t.name[:75]), "value": str(index)}
                            for index, t in enumerate(templates[:100])
                        ],
                    }
                ],
            }
        )
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": TEXT_ACTION,
        "multiline": True,
        # Slack counts characters; a platform counting otherwise is checked on submit. A
        # canned reply longer than the limit still shows, to be shortened.
        "max_length": min(max(limits.limit, len(text)), SLACK_INPUT_MAX)
        if limits.unit == "characters"
        else SLACK_INPUT_MAX,
    }
    if text:
        element["initial_value"] = text[:SLACK_INPUT_MAX]
    blocks.append(
        {
            "type": "input",
            "block_id": text_block(place),
            "label": _plain("Your reply"),
            "element": element,
        }
    )
    note = (
        f"Posted publicly on {limits.platform} as the brand; at most {limits.limit} {limits.unit}."
    )
    if limits.replaces_existing:
        note += " It replaces the brand's reply already there, if any."
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return {
        "type": "modal",
        "callback_id": CALLBACK,
        "private_metadata": place.dump(),
        "title": _plain(_title(limits.platform)),
        "submit": _plain("Post reply"),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }


def posting(limits: Limits) -> dict[str, Any]:
    return _message(limits, f":hourglass_flowing_sand: Posting your reply on {limits.platform}…")


def outcome(limits: Limits, line: str, url: str | None = None, mark: str = "") -> dict[str, Any]:
    """`line` (outside words: escaped) after `mark`, our own emoji (drawn as is)."""
    link = safe_url(url)
    text = f"{mark} {escape(line, 1500)}".lstrip()
    text += f"\n<{link}|See it on {limits.platform}>" if link else ""
    return _message(limits, text)


def typed_text(view: dict[str, Any], place: Place) -> str:
    """What the agent typed, as Slack returned it (plain text, never escaped)."""
    values = (view.get("state") or {}).get("values") or {}
    found = (values.get(text_block(place)) or {}).get(TEXT_ACTION) or {}
    value = found.get("value")
    return value if isinstance(value, str) else ""


def _message(limits: Limits, text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": CALLBACK,
        "title": _plain(_title(limits.platform)),
        "close": _plain("Close"),
        "blocks": [_section(text)],
    }


def _title(platform: str) -> str:
    return f"Reply on {platform}"[:24]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000], "verbatim": True}}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}
