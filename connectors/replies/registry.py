"""Which feed types can answer, and with which writer: imported only when used."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from connectors import replies
from connectors.replies.base import Replier

_NOT_WRITERS = {"base", "registry"}
# A writer module is named after the feed type it answers for; a stream answers through
# its platform's writer.
ALIASES = {"mastodon_stream": "mastodon", "bluesky_stream": "bluesky"}
WRITERS: dict[str, str] = {
    info.name: f"{replies.__name__}.{info.name}"
    for info in pkgutil.iter_modules(replies.__path__)
    if not info.name.startswith("_") and info.name not in _NOT_WRITERS
}


def can_reply(feed_type: str) -> bool:
    return ALIASES.get(feed_type, feed_type) in WRITERS


def replier_class(feed_type: str) -> type[Replier[Any]] | None:
    """The writer of `feed_type`, or None where the platform has no API to reply with."""
    module_name = WRITERS.get(ALIASES.get(feed_type, feed_type))
    if module_name is None:
        return None
    module = importlib.import_module(module_name)
    found = [
        value
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, Replier)
        and value.__module__ == module_name
        and not name.startswith("_")
    ]
    if len(found) != 1:
        raise TypeError(f"{module_name} must define one public Replier subclass")
    writer: type[Replier[Any]] = found[0]
    return writer
