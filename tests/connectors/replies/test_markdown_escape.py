"""Typed text sent as Markdown renders as typed, through GitHub's and Discourse's parsers.

cmarkgfm is GitHub's own fork of cmark (with its autolink, table, strikethrough and tagfilter
extensions); markdown-it-py is the Python port of markdown-it, Discourse's parser. Both run
with raw HTML allowed, the least safe setting, so a tag that got through would show.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import cmarkgfm
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from connectors.replies._links import typed_urls
from connectors.replies._markdown import plain_markdown

_DISCOURSE_LIKE = MarkdownIt("commonmark", {"html": True, "breaks": True}).enable(
    ["strikethrough", "table"]
)
_TAG = re.compile(r"<(/?)(\w+)([^>]*)>")
_LINK = re.compile(r'<a href="([^"]*)">([^<]*)</a>')


def _github(body: str) -> str:
    options = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_HARDBREAKS
    return str(cmarkgfm.github_flavored_markdown_to_html(body, options=options))


def _shown(rendered: str, typed: str) -> str:
    """The text a reader sees; fails on any element but paragraphs, breaks and links whose
    text is the typed URL (or e-mail address) they point to."""
    for _close, name, _attrs in _TAG.findall(rendered):
        assert name in ("p", "br", "a"), rendered
    for href, label in _LINK.findall(rendered):
        shown = html.unescape(label)
        # the href is the same URL, percent-encoded where a parser must ("[" -> "%5B")
        assert unquote(html.unescape(href)) in (shown, f"mailto:{shown}"), rendered
        assert shown in typed, rendered
    text = re.sub(r"<br\s*/?>|</p>\s*<p>", "\n", rendered)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\n+", "\n", text).strip()


def _typed(text: str) -> str:
    """What should show: the lines without their outer blanks, blank lines folded."""
    lines = (line.strip(" \t") for line in text.replace("\r\n", "\n").split("\n"))
    return re.sub(r"\n+", "\n", "\n".join(lines)).strip()


CASES = [
    "Hi **there** [click](http://evil.example) <b>x</b> &amp; `code` $x$ ~~no~~ | a | b |",
    "# heading\n- item\n+ item\n1. one\n2) two\n> quote\n    code\n---\n===\nTitle\n===",
    "see https://example.com/a_b?x=1&y=2. and (https://ex.com/p_(1)) ok",
    "C:\\path\\to \\*not\\* bold",
    "![img](http://x.example/y.png) [^1] [quote]hi[/quote] [details=x]y[/details]",
    "<!-- comment --> <script>alert(1)</script> <https://x.com>",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "***\n___\n* * *",
    "www.example.com/a_b and ftp://x.example/a_b and mailto:a_b@x.example",
    "https://xn--80ak6aa92e.com/ https://x.example/a%20b https://paypal.com@evil.example/",
    "trailing  \nnext",
]


def test_recorded_tricks_render_as_typed_on_both_parsers() -> None:
    for typed in CASES:
        body = plain_markdown(typed)
        assert _shown(_github(body), typed) == _typed(typed), body
        assert _shown(_DISCOURSE_LIKE.render(body), typed) == _typed(typed), body


def test_a_typed_url_links_to_itself_and_a_link_label_stays_text() -> None:
    body = plain_markdown("Read https://help.acme.example/a_b?x=1&y=2. [here](http://evil.example)")
    for rendered in (_github(body), _DISCOURSE_LIKE.render(body)):
        links = [
            (html.unescape(href), html.unescape(label)) for href, label in _LINK.findall(rendered)
        ]
        assert links == [
            ("https://help.acme.example/a_b?x=1&y=2", "https://help.acme.example/a_b?x=1&y=2"),
            ("http://evil.example", "http://evil.example"),
        ]
        assert "[here](" in html.unescape(re.sub(r"<[^>]+>", "", rendered))


def test_plain_words_stay_readable_in_the_body() -> None:
    assert plain_markdown("Thanks, we're on it. Sorry!") == "Thanks, we're on it. Sorry!"
    assert plain_markdown("  indented\r\nsecond  ") == "indented\nsecond"


def test_typed_urls_leave_sentence_punctuation_and_non_links_out() -> None:
    text = "see https://x.example/a_(b). or (https://y.example/c) or https:// or http://*x"
    assert [text[s:e] for s, e in typed_urls(text)] == [
        "https://x.example/a_(b)",
        "https://y.example/c",
    ]


_PIECES = st.sampled_from(
    [
        *"ab1 \n\t\\`*_[]<>&|~$#+-=.!():;'\"@/?%{}^",
        *("www.", "ftp://", "xn--", "mailto:", "a@b.example", "https://x.example/a_b"),
        *("http://", "1. ", "&amp;", "<b>", "    ", "[x](http://e.example)"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_any_text_renders_as_typed_on_both_parsers(typed: str) -> None:
    body = plain_markdown(typed)
    assert _shown(_github(body), typed) == _typed(typed), body
    assert _shown(_DISCOURSE_LIKE.render(body), typed) == _typed(typed), body
