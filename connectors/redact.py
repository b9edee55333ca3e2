"""Secrets out of text: every URL's query, fragment and user:password, and known secret values.

The one place that decides what a URL may show. Connector error texts, stored feed errors,
feed-health alerts, status lines and every log line pass through here, because a private
feed's URL carries its token (`?token=...`, `https://user:password@host/`) and platform
API keys travel as query parameters (YouTube, Stack Exchange).

    https://user:pw@host:8443/feed?token=abc#top  ->  https://***@host:8443/feed?***
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit

# What stands for a userinfo, a query or fragment, a secret value: ASCII, so any terminal
# prints it.
HIDDEN = "***"
# A shorter value is not matched as a secret anywhere in a text: "1" or "acme" would blank
# out innocent words of every log line (a URL's user:password and query go whatever their size).
MIN_SECRET_LENGTH = 6
TOKEN_LIKE_LENGTH = 16

_WORD = re.compile(r"""[^\s'"<>`]+""")  # URLs end at whitespace, quotes and angle brackets
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_PORT = re.compile(r"\d*")
_TRAILING = re.compile(r"[.,;:!)\]]+$")
# A quoted field whose name says it is secret, as httpcore logs headers
# (b'Set-Cookie', b'...'), as dicts print ('Authorization': '...') and as JSON reads
# ("accessJwt": "...", "client_secret": "..."): its quoted value is hidden. Names are
# bounded, so a long quoted word costs linear time.
_SENSITIVE_FIELD = re.compile(
    r"""(b?['"][\w\-]{0,40}(?:token|secret|password|passwd|jwt|api[_\-]?key|signature"""
    r"""|ticket|cookie|authorization)[\w\-]{0,40}['"]\s*[:,]\s*b?['"])[^'"]*""",
    re.IGNORECASE,
)
# Hosts whose URL path is itself the credential: Slack's incoming webhooks and the
# `response_url` of an interaction (https://api.slack.com/interactivity/handling).
_CAPABILITY_HOSTS = frozenset({"hooks.slack.com"})


def redact_urls(text: str) -> str:
    """`text` with every URL's query, fragment and user:password replaced by markers.

    Finds URLs with a scheme anywhere in a word (`url=https://...`, `'https://...'`), URLs
    without one (`host/path?key=v`, `user:pw@host`, a `Location: /next?token=...`),
    percent-encoded ones (`https%3A%2F%2F...`) and IPv6 hosts; keeps scheme, host, port
    and path, so an operator still sees which endpoint failed. Also hides the quoted values
    of fields named like secrets (`'Authorization': '...'`, `"accessJwt": "..."`) and the
    path of a Slack webhook or `response_url`."""
    text = _SENSITIVE_FIELD.sub(rf"\1{HIDDEN}", text)
    return _WORD.sub(lambda match: _redact_word(match.group()), text)


def _redact_word(word: str) -> str:
    if "?" not in word and "@" not in word and ":" not in word and "%" not in word:
        return word  # most words of a log line: nothing to look at
    separator = word.find("://")
    while separator >= 0:
        start = _scheme_start(word, separator)
        if start is not None:
            return word[:start] + _redact_url(word[start:], separator + 3 - start)
        separator = word.find("://", separator + 1)
    start = _scheme_start(word, word.lower().find("%3a%2f%2f"))
    if start is not None:
        return word[:start] + _redact_word(unquote(word[start:]))
    return _redact_bare(word)


def _scheme_start(word: str, colon: int) -> int | None:
    """Where the scheme before `word[colon]` (`://` or its encoding) starts, if one does.

    Found from the separator back, not by a regex from the left, which is quadratic on
    a long word of letters."""
    start = colon
    while start > 0 and word[start - 1] in _SCHEME_CHARS:
        start -= 1
    while start < colon and not word[start].isalpha():  # a scheme starts with a letter
        start += 1
    return start if 0 <= start < colon else None


def _redact_url(url: str, authority_start: int) -> str:
    """A URL with a scheme: userinfo and everything after the first `?` or `#` -> ***."""
    prefix, rest = url[:authority_start], url[authority_start:]
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    before_query, after = rest[:cut], rest[cut:]
    at = before_query.rfind("@")
    if at >= 0 and _is_userinfo(before_query[:at]):
        before_query = f"{HIDDEN}@{before_query[at + 1 :]}"
    authority, slash, _path = before_query.partition("/")
    host = authority.rpartition("@")[2].split(":", 1)[0].lower()
    if host in _CAPABILITY_HOSTS and slash:
        before_query = f"{authority}/{HIDDEN}"
    return prefix + before_query + _hide_query(after)


def _is_userinfo(candidate: str) -> bool:
    """Is what stands before an `@` a user:password, not `host/path` (mastodon's `/@acme`)?

    A password may hold a raw `/` (invalid, but written): `user:pa/ss@host` is userinfo,
    while `host:8443/@acme` is a host, a port and a path."""
    authority = candidate.split("/", 1)[0]
    if "/" not in candidate:
        return True
    if ":" not in authority or authority.startswith("["):
        return False
    return not _PORT.fullmatch(authority.rsplit(":", 1)[1])


def _redact_bare(word: str) -> str:
    """A word without a scheme: `user:pw@host...` and `...?name=value` are hidden."""
    cut = min((i for i in (word.find("/"), word.find("?")) if i >= 0), default=len(word))
    at = word.rfind("@", 0, cut)
    if at >= 0 and ":" in word[:at]:
        word = f"{HIDDEN}@{word[at + 1 :]}"
    question = word.find("?")
    if question >= 0 and "=" in word[question:]:
        word = word[:question] + _hide_query(word[question:])
    return word


def _hide_query(query: str) -> str:
    """`?token=abc),` -> `?***),`: the sentence's punctuation after a URL stays."""
    if not query:
        return ""
    kept = _TRAILING.search(query, 1)
    return f"{query[0]}{HIDDEN}{kept.group() if kept else ''}"


def secret_parts(value: str) -> list[str]:
    """A secret value and, for a URL, its password and query values: each is secret
    wherever it appears alone (a redirect to another URL carrying the same token). A user
    name counts only alone and token-long (`https://TOKEN@host`): `postgres` is no secret."""
    # a connector sends a value without the whitespace it was pasted with (connectors/env.py)
    value = value.strip()
    parts = [value]
    if "://" in value:
        try:
            split = urlsplit(value)
            user, password = split.username, split.password
        except ValueError:  # a malformed port: the value alone is matched
            return parts
        if password:
            parts.append(unquote(password))
        elif user and len(user) >= TOKEN_LIKE_LENGTH:
            parts.append(unquote(user))
        for pair in split.query.split("&"):
            parts.append(unquote(pair.partition("=")[2]))
    return [p for p in dict.fromkeys(parts) if len(p) >= MIN_SECRET_LENGTH]


def _forms(value: str) -> set[str]:
    """How a value may be written: as is, URL-encoded, JSON-escaped."""
    return {value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1]}


class Secrets:
    """Known secret values, matched in any text in one pass (longest first)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        parts = {part for value in values if value for part in secret_parts(value)}
        if parts <= self._values:
            return
        self._values |= parts
        forms = {form for value in self._values for form in _forms(value)}
        # and as they read once their URLs are redacted, which happens first: a private
        # feed URL (`url_env`) is hidden whole, even where its path holds the token
        forms |= {redact_urls(form) for form in forms}
        ordered = sorted((f for f in forms if len(f) >= MIN_SECRET_LENGTH), key=len, reverse=True)
        # swapped in whole: threads that log meanwhile use the old pattern or the new one
        self._pattern = re.compile("|".join(map(re.escape, ordered)))

    def __len__(self) -> int:
        return len(self._values)

    def redact(self, text: str) -> str:
        """`text` with every URL redacted and every known secret value hidden."""
        text = redact_urls(text)
        pattern = self._pattern
        return pattern.sub(HIDDEN, text) if pattern is not None else text


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with the given secret values and every URL's query and userinfo hidden."""
    return Secrets(secrets).redact(text)
