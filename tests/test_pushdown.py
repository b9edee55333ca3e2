"""What of a feed's filters is sent to the platform: only what never holds back a mention the
filters keep, checked against a model of each platform's documented author operator."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import Narrowing
from monitor.config import parse_config
from monitor.ingest.filtering import FeedFilters
from monitor.ingest.pushdown import NOT_SENT, PLATFORMS, feed_narrowing, narrowing
from monitor.mention_filter import Subject, parse_filter

PLATFORM_OF = {"x": "x", "github": "github", "bluesky": "bluesky"}


def narrow(connector_type: str, keep: str | None, *drop: str) -> Narrowing:
    """What a feed of this type, with this filter and these global excludes, sends."""
    tree = parse_filter(keep).tree if keep else None
    platform = PLATFORM_OF.get(connector_type, connector_type)
    return narrowing(connector_type, platform, tree, [parse_filter(q).tree for q in drop])


# -- what is sent -------------------------------------------------------------------------


def test_an_excluded_account_is_sent_to_x() -> None:
    assert narrow("x", "acme -author:@Acme_Jane") == Narrowing(not_authors=("acme_jane",))


def test_required_accounts_any_of_them_are_sent_to_x() -> None:
    # OR binds tighter than the space: (alice OR bob) AND acme
    found = narrow("x", "author:alice OR author:Bob acme")
    assert found == Narrowing(authors=("alice", "bob"))
    assert narrow("x", "author:alice,bob") == Narrowing(authors=("alice", "bob"))


def test_the_global_excludes_are_sent_as_exclusions() -> None:
    found = narrow("x", None, "author:acme_jane OR author:acme_bob", "site:linkedin.com")
    assert found == Narrowing(not_authors=("acme_jane", "acme_bob"))


def test_an_exclude_for_one_platform_reaches_only_that_platforms_feeds() -> None:
    assert narrow("x", None, "platform:github author:jane") == Narrowing()
    assert narrow("github", None, "platform:github author:jane") == Narrowing(not_authors=("jane",))
    assert narrow("github", "acme (platform:x OR author:jane)") == Narrowing(authors=("jane",))


def test_a_filter_that_keeps_nothing_on_this_platform_sends_nothing() -> None:
    assert narrow("x", "platform:reddit author:alice") == Narrowing()


def test_github_takes_one_login_and_never_a_number_as_a_required_author() -> None:
    assert narrow("github", "author:octocat") == Narrowing(authors=("octocat",))
    # our author: matches the numeric user id too; GitHub's author: only a login
    assert narrow("github", "author:583231") == Narrowing()
    assert narrow("github", "-author:583231") == Narrowing(not_authors=("583231",))
    # two author: qualifiers are not documented as either/or
    assert narrow("github", "author:a OR author:b") == Narrowing()


def test_bluesky_takes_one_handle_or_did_and_has_no_exclusion() -> None:
    did = "did:plc:d3zpokjdspr22chfrc427eis"
    assert narrow("bluesky", "author:@luy.gay") == Narrowing(authors=("luy.gay",))
    assert narrow("bluesky", f"author:{did}") == Narrowing(authors=(did,))
    assert narrow("bluesky", "-author:luy.gay") == Narrowing()
    assert narrow("bluesky", "author:luy.gay,bob.example") == Narrowing()


def test_x_is_not_sent_a_short_number_as_a_required_author() -> None:
    # `from:12345` is read as a username or as an id, one way only; ours matches both
    assert narrow("x", "author:12345") == Narrowing()
    assert narrow("x", "author:1234567890123456789") == Narrowing(authors=("1234567890123456789",))
    assert narrow("x", "-author:12345") == Narrowing(not_authors=("12345",))


@pytest.mark.parametrize("connector_type", [*sorted(NOT_SENT), "rss", "csv", "trustpilot"])
def test_the_other_sources_are_sent_nothing(connector_type: str) -> None:
    found = narrow(connector_type, "acme author:alice -author:bob", "author:acme_jane")
    assert found == Narrowing()


# -- what is never sent -------------------------------------------------------------------

NEVER_SENT = [
    "acme",  # a word: no platform matches words as loosely as we do
    "café",  # accents folded here
    "cafe",  # matches café here
    "アクメ",  # a substring here, a token there
    "acme製品",
    "acme*",  # a prefix
    '"customer service"',  # a phrase
    "anvil OR rocket",
    "-coyote",  # a platform's exclusion may leave out more (coyote_fan)
    '-"wile e"',
    "-cartoon*",
    "lang:nl",  # our detector, not the platform's tag
    "-lang:en",
    "site:acme.com",
    "-site:linkedin.com",
    "rating:<=2",
    "sentiment:negative",
    "has:link",
    "-has:link",
    "is:reply",
    "-is:reply",
    "author:alice OR acme",  # either: the account alone would drop the word's mentions
    "-(author:alice acme)",  # excludes only alice's posts with acme
    "-(author:alice OR acme)",
    'author:"Mette Jensen"',  # no platform's handle has a space
    "author:alice.smith@example.com",
    "-(-author:alice)",
]


@pytest.mark.parametrize("query", NEVER_SENT)
@pytest.mark.parametrize("connector_type", sorted(PLATFORMS))
def test_unsafe_parts_are_never_sent(connector_type: str, query: str) -> None:
    assert narrow(connector_type, query) == Narrowing()
    assert narrow(connector_type, None, query) == Narrowing()  # as a global exclude


# -- a model of each platform's documented author operator ----------------------------------

_X_NAME = re.compile(r"[a-z0-9_]{1,15}")


def _x_readings(value: str) -> list[str]:
    """How X may read `from:value`: "the username ... or the user's numeric user ID"."""
    readings = []
    if value.isascii() and value.isdigit():
        readings.append("id")
    if _X_NAME.fullmatch(value):
        readings.append("name")
    return readings


def _x_match(value: str, reading: str, s: Subject) -> bool:
    if reading == "id":
        return s.author_id == value
    return s.author is not None and s.author.casefold() == value  # case-insensitive


def _account_matches(platform: str, value: str, s: Subject) -> list[bool]:
    """Whether the platform's author operator finds `s` by `value`, under each way it may
    read the value (it picks one; which is not documented)."""
    if platform == "x":
        return [_x_match(value, r, s) for r in _x_readings(value)]
    if platform == "github":  # `author:` names a login, case-insensitively
        return [s.author is not None and s.author.casefold() == value]
    # bluesky: a DID is the account; a handle resolves to it
    if value.startswith("did:"):
        return [s.author_id == value]
    return [s.author is not None and s.author.casefold() == value]


def platform_sends(platform: str, sent: Narrowing, s: Subject) -> bool:
    """Whether the narrowed search surely returns `s`: by a required account however the
    platform reads it, and by no excluded account under any reading."""

    def surely(value: str) -> bool:
        readings = _account_matches(platform, value, s)
        return bool(readings) and all(readings)

    if sent.authors and not any(surely(v) for v in sent.authors):
        return False
    return not any(any(_account_matches(platform, v, s)) for v in sent.not_authors)


# -- generated filters and mentions --------------------------------------------------------

# accounts as each platform names them: X usernames and numeric ids, GitHub logins and
# numeric ids, Bluesky handles and DIDs (a value of another form is in the filters only)
HANDLES = {
    "x": ["alice", "Bob_99", "acme_jane", "12345"],
    "github": ["alice", "bob-smith", "12345", "octocat"],
    "bluesky": ["alice.bsky.social", "bob.example", "luy.gay"],
}
IDS = {
    "x": ["12345", "1234567890123456789", "783214"],
    "github": ["12345", "583231", "31899067"],
    "bluesky": ["did:plc:d3zpokjdspr22chfrc427eis", "did:plc:by3jhwdqgbtrcc7q4tkkv3cf"],
}
WORDS = ["acme", "café", "cafe", "ACME", "anvil", "アクメ", "coyote_fan", "coyote", "製品"]


def queries(platform: str) -> st.SearchStrategy[str]:
    """Filters over words, the fields and the accounts a mention on `platform` may have."""
    values = sorted({*HANDLES[platform], *IDS[platform], "alice", "12345", "Ünïcode"})
    leaf = st.one_of(
        st.sampled_from(["acme", "café", "acme*", '"acme anvil"', "アクメ", "coyote", "anvil"]),
        st.sampled_from(values).map(lambda v: f"author:{v}"),
        st.sampled_from(values).map(lambda v: f"author:@{v.upper()}"),
        st.lists(st.sampled_from(values), min_size=2, max_size=3).map(
            lambda vs: "author:" + ",".join(vs)
        ),
        st.sampled_from(
            [
                "platform:x",
                "platform:github",
                "platform:bluesky",
                "lang:nl",
                "is:reply",
                "has:link",
                "sentiment:negative",
                "rating:>=4",
                'author:"Mette Jensen"',
            ]
        ),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            inner.map(lambda q: f"-({q})"),
            st.tuples(inner, inner).map(lambda ab: f"({ab[0]}) OR ({ab[1]})"),
            st.tuples(inner, inner).map(lambda ab: f"({ab[0]}) ({ab[1]})"),
        ),
        max_leaves=6,
    )


@st.composite
def mentions(draw: st.DrawFn, platform: str) -> Subject:
    handle = draw(st.sampled_from(HANDLES[platform]))
    return Subject(
        text=" ".join(draw(st.lists(st.sampled_from(WORDS), max_size=4))),
        author=draw(st.sampled_from([handle, handle.upper(), handle.lower()])),
        author_id=draw(st.none() | st.sampled_from(IDS[platform])),
        platform=platform,
        language=draw(st.sampled_from([None, "nl", "en"])),
        sentiment=draw(st.sampled_from([None, "negative", "neutral"])),
        rating=draw(st.none() | st.sampled_from([1.0, 4.0, 5.0])),
        is_reply=draw(st.booleans()),
    )


def _check(platform: str, keep: str | None, drop: Sequence[str], s: Subject) -> None:
    filters = FeedFilters(
        parse_filter(keep) if keep else None, tuple(parse_filter(q) for q in drop)
    )
    sent = narrow(platform, keep, *drop)
    if filters.keeps(s):
        assert platform_sends(platform, sent, s), (keep, drop, sent, s)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_platform_always_sends_what_the_filters_keep(
    platform: str, data: st.DataObject
) -> None:
    keep = data.draw(st.none() | queries(platform))
    drop = data.draw(st.lists(queries(platform), max_size=2))
    _check(platform, keep, drop, data.draw(mentions(platform)))


DID = "did:plc:d3zpokjdspr22chfrc427eis"
# the cases the generated ones may take long to meet: an account read two ways
TRICKY = [
    ("x", "author:12345", Subject("acme", author="12345", author_id="783214")),
    ("x", "author:12345", Subject("acme", author="someone", author_id="12345")),
    ("x", "author:ALICE -author:bob", Subject("a", author="Alice", author_id="1")),
    ("github", "author:583231", Subject("a", author="someone", author_id="583231")),
    ("github", "author:OctoCat", Subject("a", author="octocat", author_id="1")),
    ("bluesky", f"author:{DID}", Subject("a", author="luy.gay", author_id=DID)),
    ("bluesky", "author:@Luy.Gay", Subject("a", author="luy.gay", author_id=DID)),
]


@pytest.mark.parametrize(("platform", "keep", "mention"), TRICKY)
def test_the_platform_sends_what_the_filters_keep_in_the_tricky_cases(
    platform: str, keep: str, mention: Subject
) -> None:
    mention = replace(mention, platform=platform)
    assert FeedFilters(parse_filter(keep), ()).keeps(mention)
    _check(platform, keep, (), mention)


def test_the_model_catches_a_narrowing_that_drops_a_kept_mention() -> None:
    """The property above can fail: a required author the platform reads otherwise."""
    s = Subject(text="acme", author="someone", author_id="12345", platform="github")
    assert parse_filter("author:12345").matches(s)
    assert not platform_sends("github", Narrowing(authors=("12345",)), s)
    assert not platform_sends("x", Narrowing(not_authors=("someone",)), s)


# -- from the config -----------------------------------------------------------------------


def test_a_feeds_narrowing_comes_from_its_filter_and_the_global_excludes() -> None:
    config = parse_config(
        {
            "brand": {"identities": [{"platform": "x", "handle": "AcmeSupport"}]},
            "filters": {"exclude": ["platform:x author:bob", "author:carol", "hiring"]},
            "feeds": [
                {"name": "acme-x", "type": "x", "query": "acme", "filter": "acme -author:jane"},
                {"name": "acme-gh", "type": "github", "query": "acme"},
                {"name": "acme-reddit", "type": "reddit", "query": "acme"},
            ],
        }
    )
    assert feed_narrowing(config, config.feed("acme-x")) == Narrowing(
        not_authors=("jane", "bob", "carol")
    )
    assert feed_narrowing(config, config.feed("acme-gh")) == Narrowing(not_authors=("carol",))
    assert feed_narrowing(config, config.feed("acme-reddit")) == Narrowing()
