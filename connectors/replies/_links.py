"""The http(s) URLs typed in a reply: the spans a writer may link to exactly what they show."""

from __future__ import annotations

import re

_URL = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)
# what ends the sentence around a URL rather than the URL ("see https://x.com/a."), as
# GitHub's own autolinking reads it (https://github.github.com/gfm/#autolinks-extension-)
_TAIL = frozenset(".,:;!?'\"*_~")
# a host name, a port, then anything: "http://*x" or "https://" alone is not a link
_LINKABLE = re.compile(
    r"https?://[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?(?:[/?#][^\s<>]*)?", re.IGNORECASE
)


def typed_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) in `text` of each well-formed http(s) URL, without trailing punctuation."""
    spans: list[tuple[int, int]] = []
    for match in _URL.finditer(text):
        url = _trim(match.group())
        if _LINKABLE.fullmatch(url):
            spans.append((match.start(), match.start() + len(url)))
    return spans


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        if last in _TAIL or (last == ")" and url.count(")") > url.count("(")):
            url = url[:-1]
        else:
            break
    return url
