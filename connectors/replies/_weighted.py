"""X's weighted length of a post (twitter-text 3), counted so that it never comes out short.

The rules (https://docs.x.com/fundamentals/counting-characters, and twitter-text's
config/v3.json: scale 100, defaultWeight 200, transformedURLLength 23, emojiParsingEnabled):
the text is NFC-normalised; a code point in U+0000-U+10FF, U+2000-U+200D, U+2010-U+201F or
U+2032-U+2037 weighs 1, any other 2; an emoji sequence X knows (a ZWJ family, a flag, a
keycap, a skin tone) weighs 2 as a whole; a URL weighs 23 whatever its length.

Where this count cannot know what X knows, it errs long, never short:
- twitter-text links a bare domain only when its TLD is on X's list; a bare domain-like word
  ("acme.com/help", also "Mr.Smith") counts 23 or its own weight, whichever is more. A URL
  with http(s):// and a domain counts exactly 23; its trailing punctuation counts apart.
- © and ® count 2 (they are emoji for X with or without U+FE0F).
An emoji sequence X does not know (an unusual ZWJ combination) is still counted once here; X
then counts its parts and may refuse the post as too long, which is a refusal (nothing is
posted) shown to the agent.
"""

from __future__ import annotations

import re
import unicodedata

URL_WEIGHT = 23
_LIGHT = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_ZWJ = 0x200D
_VS16, _VS15, _KEYCAP = 0xFE0F, 0xFE0E, 0x20E3
_KEYCAP_BASES = set("0123456789#*")
_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
_HOST = re.compile(rf"^{_DOMAIN}$|^\d{{1,3}}(?:\.\d{{1,3}}){{3}}$", re.IGNORECASE)
_LINKISH = re.compile(
    rf"https?://[^\s<>\"]+|(?<![\w.-]){_DOMAIN}(?::\d{{1,5}})?(?:/[^\s<>\"]*)?",
    re.IGNORECASE,
)
_TRAILING = re.compile(r"[.,;:!?)\]}'\"]+$")


def _weight(point: int) -> int:
    return 1 if any(low <= point <= high for low, high in _LIGHT) else 2


def _pictographic(point: int) -> bool:
    """A code point that starts an emoji: the emoji blocks and symbols ("So"), © and ®."""
    if point in (0xA9, 0xAE):
        return True
    return point >= 0x2000 and unicodedata.category(chr(point)) == "So"


def _regional(point: int) -> bool:
    return 0x1F1E6 <= point <= 0x1F1FF


def _emoji_end(points: list[int], start: int) -> int:
    """The index after the emoji sequence starting at `start`, or `start` when none does."""
    first = points[start]
    end = start + 1
    if chr(first) in _KEYCAP_BASES:
        if end < len(points) and points[end] == _VS16:
            end += 1
        return end + 1 if end < len(points) and points[end] == _KEYCAP else start
    if _regional(first):
        return end + 1 if end < len(points) and _regional(points[end]) else end
    if not _pictographic(first):
        return start
    while True:
        while end < len(points) and (
            points[end] in (_VS16, _VS15, _KEYCAP)
            or 0x1F3FB <= points[end] <= 0x1F3FF  # skin tones
            or 0xE0020 <= points[end] <= 0xE007F  # tag sequences (subdivision flags)
        ):
            end += 1
        if end + 1 < len(points) and points[end] == _ZWJ and _pictographic(points[end + 1]):
            end += 2
            continue
        return end


def _plain_weight(text: str) -> int:
    points = [ord(char) for char in text]
    total, index = 0, 0
    while index < len(points):
        end = _emoji_end(points, index)
        if end > index:
            total += 2
            index = end
        else:
            total += _weight(points[index])
            index += 1
    return total


def weighted_length(text: str) -> int:
    """The post's length as X counts it, or longer (see the module docstring)."""
    text = unicodedata.normalize("NFC", text)
    total, done = 0, 0
    for found in _LINKISH.finditer(text):
        link = _TRAILING.sub("", found.group())
        if not link:
            continue
        total += _plain_weight(text[done : found.start()])
        done = found.start() + len(link)
        if "://" in link:
            host = link.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
            exact = bool(_HOST.match(host))
        else:
            exact = False  # a bare domain: linked only when X knows its TLD
        own = _plain_weight(link)
        total += URL_WEIGHT if exact else max(own, URL_WEIGHT)
    return total + _plain_weight(text[done:])
