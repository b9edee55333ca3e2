"""What of a feed's filters its platform's own search applies first: what it matches exactly.

Only a part the platform matches exactly as the local filter does is sent, so the platform
never holds back a mention the filter would keep. The filter still judges every mention after
the fetch (filtering.py): what is sent only saves requests, reads and pages. Where a platform's
search is looser, or its rules are not written down, nothing is sent. docs/filters.md ("What
is sent to the platform") has the table; each platform below names the page it was read from.

What is sent: the author, where the platform has an exact author operator. Words, phrases
and prefixes are sent nowhere: our matching folds case, accents and compatibility forms and
finds a word wherever it stands between non-letters (`acme` in *acme製品*, *#acme*, *acme's*),
and no platform documents matching at least as loose (X's documented tokenizer keeps
*acme製品* one token, and a hashtag is matched by its own operator; Algolia drops the
apostrophe of *acme's*; GitHub and Bluesky say nothing of accents or tokens). An exclusion of
a word would need the platform to exclude no more than we do, which a looser tokenizer breaks
(X splits *coyote_fan*; we do not). `lang:` is our own detector's verdict, not the platform's
language tag.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from connectors import Narrowing
from monitor.config import Config, FeedConfig
from monitor.ingest.filtering import FeedFilters
from monitor.mention_filter import And, Field, Node, Not, Or


@dataclass(frozen=True)
class _Accounts:
    """How a platform's search narrows by author, and which of our `author:` values its
    operator names exactly as our filter does (ours matches a handle or an id, any case)."""

    docs: str
    most: int  # accounts one search may require (any of them); 0: never narrowed to authors
    include: Callable[[str], bool]  # the operator finds every post `author:value` keeps
    exclude: Callable[[str], bool] | None  # its exclusion leaves out only posts ours drops


# X usernames: 1-15 letters, digits or "_"; ids: digits. An all-digit value of 15 digits or
# fewer may be either, and `from:` reads it one way only, so it is not required positively.
_X_NAME = re.compile(r"[a-z0-9_]{1,15}")
_X_ID = re.compile(r"[0-9]{1,20}")
# GitHub logins: letters, digits, single hyphens inside, at most 39
_GITHUB_LOGIN = re.compile(r"[a-z0-9](?:-?[a-z0-9]){0,38}")
# Bluesky: a handle (a domain name) or a DID, both lower case as our values are
_BLUESKY_HANDLE = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]*[a-z0-9])?"
)
_BLUESKY_DID = re.compile(r"did:(?:plc:[a-z2-7]{24}|web:[a-z0-9.-]+)")


def _x_includes(value: str) -> bool:
    if value.isdigit():
        return len(value) > 15 and _X_ID.fullmatch(value) is not None
    return _X_NAME.fullmatch(value) is not None


def _x_excludes(value: str) -> bool:
    return _X_NAME.fullmatch(value) is not None or _X_ID.fullmatch(value) is not None


def _github_includes(value: str) -> bool:
    # `author:` names a login; a number is our author id too, so it is not sent
    return not value.isdigit() and _GITHUB_LOGIN.fullmatch(value) is not None


def _github_excludes(value: str) -> bool:
    return _GITHUB_LOGIN.fullmatch(value) is not None


def _bluesky_includes(value: str) -> bool:
    return bool(_BLUESKY_HANDLE.fullmatch(value) or _BLUESKY_DID.fullmatch(value))


# By connector type (`type = "..."`): the connectors that search and can narrow by author.
PLATFORMS: dict[str, _Accounts] = {
    # `from:` "the username (excluding the @ character) or the user's numeric user ID",
    # one per operator, joined with OR, negated with -; all operators case-insensitive
    "x": _Accounts(
        docs="https://docs.x.com/x-api/posts/search/integrate/operators",
        most=20,
        include=_x_includes,
        exclude=_x_excludes,
    ),
    # `author:USERNAME` "finds issues and pull requests created by a certain user",
    # `-author:` excludes them; "Search is not case sensitive". Two `author:` are not
    # documented as either/or, so one account at most.
    "github": _Accounts(
        docs="https://docs.github.com/search-github/searching-on-github/"
        "searching-issues-and-pull-requests#search-by-author",
        most=1,
        include=_github_includes,
        exclude=_github_excludes,
    ),
    # the `author` parameter: "Filter to posts by the given account. Handles are resolved to
    # DID before query-time."; one value, no exclusion
    "bluesky": _Accounts(
        docs="https://docs.bsky.app/docs/api/app-bsky-feed-search-posts",
        most=1,
        include=_bluesky_includes,
        exclude=None,
    ),
}

# The connectors that search but are sent nothing, and why (docs/filters.md says the same).
NOT_SENT: dict[str, str] = {
    "reddit": "the search's operators are not documented "
    "(https://www.reddit.com/dev/api#GET_search: q is only 'a string')",
    "hn": "Algolia's matching depends on the HN index's settings, which are not published, "
    "and author tags are case-sensitive where `author:` is not (https://hn.algolia.com/api)",
    "mastodon": "full-text search and its operators depend on each server's version and "
    "set-up (https://docs.joinmastodon.org/methods/search/)",
    "stackexchange": "`q` matches 'based on an undocumented algorithm' and `user` takes an id "
    "where `author:` also matches the name (https://api.stackexchange.com/docs/advanced-search)",
    "youtube": "how `searchTerms` matches is not documented and there is no author filter "
    "(https://developers.google.com/youtube/v3/docs/commentThreads/list)",
}


def feed_narrowing(config: Config, feed: FeedConfig) -> Narrowing:
    """What the feed's filter and the global excludes let its platform's search apply."""
    filters = FeedFilters.of(config, feed)
    kind = feed.connector_cls
    keep = filters.keep.tree if filters.keep is not None else None
    return narrowing(kind.name, kind.platform, keep, [f.tree for f in filters.drop])


def narrowing(
    connector_type: str, platform: str, keep: Node | None, drop: Sequence[Node] = ()
) -> Narrowing:
    """What a feed of `connector_type` (whose mentions are on `platform`) may ask of the
    platform's search, for a feed kept by `keep` (its filter) and none of `drop` (the global
    excludes). Every part is implied by the filters: a mention they keep is never left out."""
    rules = PLATFORMS.get(connector_type)
    if rules is None:
        return Narrowing()
    terms: list[Node | bool] = []
    if keep is not None:
        terms.extend(_conjuncts(_bind_platform(keep, platform)))
    for query in drop:
        terms.extend(_conjuncts(_negate(_bind_platform(query, platform))))
    if any(term is False for term in terms):
        return Narrowing()  # the filters keep nothing here: the local filter says so
    authors: tuple[str, ...] = ()
    not_authors: list[str] = []
    for term in terms:
        if isinstance(term, bool):
            continue
        wanted = _accounts(term)
        if (
            wanted is not None
            and not authors
            and len(wanted) <= rules.most
            and all(rules.include(value) for value in wanted)
        ):
            authors = wanted  # one such term is enough: each alone is implied
        if isinstance(term, Not) and rules.exclude is not None:
            unwanted = _accounts(term.term) or ()
            not_authors.extend(v for v in unwanted if rules.exclude(v) and v not in not_authors)
    if authors:  # an account both required and excluded: the filter keeps none of its posts
        not_authors = [v for v in not_authors if v not in authors]
    return Narrowing(authors=authors, not_authors=tuple(not_authors))


def why_not_sent(connector_type: str) -> str | None:
    """Why a searching connector is sent nothing of the filters (None: it may be sent some,
    or it does not search)."""
    return NOT_SENT.get(connector_type)


def _accounts(node: Node) -> tuple[str, ...] | None:
    """The accounts of `author:a,b` or `author:a OR author:b` (any of them); None for
    anything else."""
    if isinstance(node, Field) and node.name == "author":
        return node.values
    if isinstance(node, Or):
        found: list[str] = []
        for term in node.terms:
            values = _accounts(term)
            if values is None:
                return None
            found.extend(v for v in values if v not in found)
        return tuple(found)
    return None


def _conjuncts(node: Node | bool) -> Iterator[Node | bool]:
    """The terms a mention must pass, all of them: a top-level AND's terms, else the node."""
    if isinstance(node, And):
        for term in node.terms:
            yield from _conjuncts(term)
    else:
        yield node


def _negate(node: Node | bool) -> Node | bool:
    return (not node) if isinstance(node, bool) else Not(node)


def _bind_platform(node: Node, platform: str) -> Node | bool:
    """The query with its `platform:` fields decided for a feed whose mentions are all on
    `platform` (True or False), and groups they decide folded away: an exclude such as
    `platform:x author:jane` is `author:jane` on an X feed and nothing on the others."""
    if isinstance(node, Field):
        return (platform.casefold() in node.values) if node.name == "platform" else node
    if isinstance(node, Not):
        return _negate(_bind_platform(node.term, platform))
    if isinstance(node, And | Or):
        decides = isinstance(node, Or)  # True decides an OR, False an AND
        terms: list[Node] = []
        for term in node.terms:
            bound = _bind_platform(term, platform)
            if bound is decides:
                return decides
            if not isinstance(bound, bool):
                terms.append(bound)
        if not terms:
            return not decides
        return terms[0] if len(terms) == 1 else type(node)(tuple(terms), node.column)
    return node
