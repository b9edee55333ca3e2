"""Turn platform HTML into plain text for scoring: tags out, entities decoded, links kept."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import urljoin

_BLOCK_TAGS = {"p", "br", "div", "li", "tr", "blockquote", "pre", "h1", "h2", "h3", "h4"}
_SKIP_TAGS = {"script", "style", "applet"}  # their content is code, not words
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# What no store can keep: PostgreSQL refuses NUL in text, and a lone surrogate (JSON's
# "\ud800", bytes decoded with surrogateescape) cannot be encoded as UTF-8 for any driver.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _TextExtractor(HTMLParser):
    def __init__(self, base: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.parts: list[str] = []
        self._href: list[str | None] = []
        self._link_text: list[list[str]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "a":
            href = dict(attrs).get("href")
            if href and self.base:
                href = urljoin(self.base, href)
            self._href.append(href)
            self._link_text.append([])
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag == "a" and self._href:
            href = self._href.pop()
            label = "".join(self._link_text.pop()).strip()
            self._emit(_link(label, href))
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._emit(data)

    def _emit(self, text: str) -> None:
        if self._link_text:
            self._link_text[-1].append(text)
        else:
            self.parts.append(text)


def _link(label: str, href: str | None) -> str:
    """Keep the URL in the text: a link's address matters to the person reading the alert."""
    if not href or not href.startswith(("http://", "https://")):
        return label
    if not label or label == href or label.lstrip("#@") != label or href.endswith(label):
        # hashtags, @mentions and bare links: the label alone reads better
        return label or href
    return f"{label} ({href})"


def html_to_text(markup: str | None, base: str | None = None) -> str:
    """Plain text from an HTML fragment; tolerant of broken markup.

    base: the address relative links in the fragment are relative to (a feed's xml:base),
    so that the links kept in the text can be followed."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return clean_text(markup)
    parser = _TextExtractor(base if base and base.startswith(("http://", "https://")) else None)
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # html.parser is lenient; this is a last resort for hostile input
        return clean_text(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    # links still open at the end of broken markup keep their text
    for pieces in parser._link_text:
        parser.parts.extend(pieces)
    return clean_text("".join(parser.parts))


def clean_text(text: str) -> str:
    """Drop control characters and fold runs of blanks; keep line breaks."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def storable(text: str) -> str:
    """`text` as every store accepts it: NUL dropped, lone surrogates as U+FFFD."""
    if _UNSTORABLE.search(text) is None:
        return text  # the usual case: no copy
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)
