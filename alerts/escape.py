"""Make internet text harmless in Slack: no pings, no disguised links, no control characters,
and no formatting: a customer's `*bold*` shows with its asterisks, as they wrote it."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
# A bare "@channel" does not notify through chat.postMessage without link_names, but a
# client or a later edit could turn it into one: break the word with a zero-width joiner.
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_ZWJ = "\u2060"
# mrkdwn has no backslash escape. A marker opens only after a space or punctuation and closes
# only before one, so a word joiner (U+2060: invisible, no line break) on both sides of each
# `*`, `_`, `~` and backtick leaves it neither: the text shows literally, `code` included.
_FORMATTING = re.compile(r"[*_~`]")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def escape(text: str | None, limit: int = 2800) -> str:
    """Escape &, < and > (Slack's control characters), neutralise mrkdwn formatting marks,
    drop control chars, cap length."""
    if not text:
        return ""
    text = _CONTROL.sub("", text)[: limit * 2]
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _BROADCAST.sub(lambda m: "@" + _ZWJ + m.group(1), text)
    text = _FORMATTING.sub(lambda m: _ZWJ + m.group(0) + _ZWJ, text)
    if len(text) > limit:
        # cut on the escaped form (an "&" grows to five characters), never inside an entity
        text = _PARTIAL_ENTITY.sub("", text[: limit - 1]).rstrip() + "…"
    return text


def safe_url(url: str | None) -> str | None:
    """Only http(s) links, with characters that would break Slack's <url|label> syntax removed."""
    if not url or not url.startswith(("https://", "http://")):
        return None
    if any(c in url for c in "<>| \n\r\t") or len(url) > 2000:
        return None
    return url
