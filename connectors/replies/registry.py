"""Which feed types can answer, and with which writer: imported only when used."""

from __future__ import annotations

import importlib
from typing import Any

from connectors.replies.base import Replier

# feed type -> "module:Class". A stream answers through its platform's writer.
WRITERS: dict[str, str] = {
    "mastodon": "connectors.replies.mastodon:MastodonReplier",
    "mastodon_stream": "connectors.replies.mastodon:MastodonReplier",
}


def can_reply(feed_type: str) -> bool:
    return feed_type in WRITERS


def replier_class(feed_type: str) -> type[Replier[Any]] | None:
    """The writer of `feed_type`, or None where the platform has no API to reply with."""
    target = WRITERS.get(feed_type)
    if target is None:
        return None
    module_name, _, class_name = target.partition(":")
    found: type[Replier[Any]] = getattr(importlib.import_module(module_name), class_name)
    return found
