"""Plain text as Markdown that renders as it was typed: for platforms that render Markdown.

An agent's reply is plain text. GitHub (cmark-gfm) and Discourse (markdown-it) would read
`**`, `[text](url)`, `<b>`, `&amp;`, `# ` or `> ` as markup; this turns the text into a body
that shows the same characters and nothing else: no hidden link, no HTML, no heading, list,
quote, table, code block or math.

- Every character that means something anywhere in a line (backslash, backtick and
  `* _ [ ] < > & | ~ $ :`) gets a backslash: CommonMark shows any escaped ASCII
  punctuation as itself (https://spec.commonmark.org/0.31.2/#backslash-escapes). `$` is
  GitHub's math delimiter, `~` strikethrough, `|` tables, `[` links, footnotes and
  Discourse's BBCode; `:` and the dot of `www.` because GitHub's autolinker reads the raw
  line, backslashes included, and would link and show them.
- What means something only at the start of a line (`#` heading, `-`/`+` list or rule, `=`
  setext underline, the `.`/`)` of `1.`/`1)` lists) is escaped there.
- Leading spaces and tabs are dropped (four make an indented code block; Markdown drops up
  to three anyway), and trailing ones (two make a hard break).
- A typed http(s) URL is sent as an autolink, `<https://...>`, which shows the URL and links
  to exactly it (escaping its `_` or `&` could cut a link short), unless a renderer would
  show it otherwise: with an entity, `%`, `@` or an `xn--` host it is sent as text.

What the platform adds to plain text on its own stays: @mentions (they notify), GitHub's
`#123` references and `:emoji:`, Discourse's typographer (curly quotes, `--` dashes) and its
linking of bare domains. They show what was typed, linked or styled.
"""

from __future__ import annotations

import re

from connectors.replies._links import typed_urls

# meaningful anywhere in a line: always escaped; ":" too, so that GitHub's autolinker, which
# reads "scheme:" in the raw line, escapes included, never links (and shows) our backslashes
_ALWAYS = frozenset("\\`*_[]<>&|~$:")
# meaningful as a line's first character only
_LINE_START = frozenset("#+-=")
_ORDERED_LIST = re.compile(r"^(\d{1,9})([.)])")
# An autolink's text is shown decoded: entities ("&amp;") by both, and by markdown-it
# (Discourse) "%20" as a space, an empty "@" dropped, "xn--" hosts in Unicode; such a URL is
# sent as text instead
_NOT_VERBATIM = re.compile(r"[%@]|xn--|&#?\w+;", re.IGNORECASE)
# GitHub's autolinker also reads "www." in the raw line: an escaped dot keeps it from linking
_WWW = re.compile(r"(www)\.", re.IGNORECASE)


def plain_markdown(text: str) -> str:
    """`text` as a Markdown body that renders as the same characters."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(_line(line.strip(" \t")) for line in lines)


def _line(line: str) -> str:
    pieces: list[str] = []
    position = 0
    for start, end in typed_urls(line):
        if _NOT_VERBATIM.search(line[start:end]):
            continue  # sent as text
        pieces.append(_escape(line[position:start], line_start=position == 0))
        pieces.append(f"<{line[start:end]}>")
        position = end
    pieces.append(_escape(line[position:], line_start=position == 0))
    return "".join(pieces)


def _escape(text: str, *, line_start: bool) -> str:
    escaped = "".join(
        "\\" + char
        if char in _ALWAYS or (line_start and index == 0 and char in _LINE_START)
        else char
        for index, char in enumerate(text)
    )
    if line_start:
        escaped = _ORDERED_LIST.sub(r"\1\\\2", escaped, count=1)
    return _WWW.sub(r"\1\\.", escaped)
