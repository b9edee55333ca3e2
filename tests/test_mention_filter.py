"""The mention filter language: grammar, errors, matching, fields, properties, recorded texts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import BrandIdentity, FeedCursor, MentionRecord
from connectors.sources.mastodon import MastodonConnector, MastodonOptions
from connectors.sources.reddit import RedditConnector, RedditOptions
from connectors.sources.trustpilot import TrustpilotConnector, TrustpilotOptions
from monitor.cli import cli
from monitor.mention_filter import (
    And,
    Field,
    FilterSyntaxError,
    Not,
    Or,
    Phrase,
    Prefix,
    Subject,
    Words,
    parse_filter,
)
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import mock_client


def matches(query: str, text: str, **fields: Any) -> bool:
    return parse_filter(query).matches(Subject(text, **fields))


# -- grammar -----------------------------------------------------------------------------------


def test_each_construct_parses_to_its_node() -> None:
    tree = parse_filter('acme "customer service" acme* -spam author:bob OR lang:nl,de').tree
    assert tree == And(
        (
            Words("acme", ("acme",)),
            Phrase("customer service", ("customer", "service")),
            Prefix("acme*", ("acme",)),
            Not(Words("spam", ("spam",))),
            Or((Field("author", "=", ("bob",)), Field("lang", "=", ("nl", "de")))),
        )
    )


def test_a_single_term_is_not_wrapped_and_nodes_keep_their_column() -> None:
    assert parse_filter("acme").tree == Words("acme", ("acme",))
    tree = parse_filter("a  -(b OR c)").tree
    assert isinstance(tree, And)
    negation = tree.terms[1]
    assert isinstance(negation, Not) and negation.column == 4
    assert negation.term == Or((Words("b", ("b",)), Words("c", ("c",))))


def test_or_binds_tighter_than_the_implicit_and() -> None:
    """`a b OR c` is `a AND (b OR c)`, as Google reads it."""
    assert parse_filter("a b OR c").tree == parse_filter("a (b OR c)").tree
    assert not matches("a b OR c", "c alone")  # (a b) OR c would match
    assert matches("a b OR c", "a and c")
    assert matches("a b OR c", "a with b")
    assert not matches("a b OR c", "b and c without the first")


def test_parentheses_override_and_explicit_and_is_the_same_as_a_space() -> None:
    assert matches("(a b) OR c", "c alone")
    assert parse_filter("a AND b").tree == parse_filter("a b").tree


def test_lowercase_or_and_and_are_words() -> None:
    assert parse_filter("cats or dogs").tree == And(
        (Words("cats", ("cats",)), Words("or", ("or",)), Words("dogs", ("dogs",)))
    )
    assert not matches("cats or dogs", "cats")


def test_exclusions_of_a_word_phrase_group_and_field() -> None:
    assert not matches("acme -cartoon", "Acme cartoon")
    assert matches("acme -cartoon", "Acme anvil")
    assert not matches('acme -"wile e"', "Acme and Wile E. Coyote")
    assert matches('acme -"wile e"', "Acme and Wile the engineer")
    assert not matches("acme -(coyote OR roadrunner)", "acme roadrunner")
    assert not matches("acme -author:@AcmeJane", "acme news", author="acmejane")
    assert matches("-spam", "a plain post"), "a query of exclusions alone is allowed"


def test_source_and_needs_scores() -> None:
    query = "acme -author:jane"
    assert parse_filter(query).source == query
    assert not parse_filter(query).needs_scores
    assert parse_filter("acme sentiment:negative").needs_scores
    assert parse_filter("acme -(lang:nl)").needs_scores
    assert not parse_filter("rating:<=2 platform:trustpilot").needs_scores


@pytest.mark.parametrize(
    ("query", "column", "reason"),
    [
        ("", 1, "empty query"),
        ("   ", 1, "empty query"),
        ('acme "no end', 6, "unclosed quote"),
        ("acme)", 5, "')' without '('"),
        ("(acme", 1, "'(' without ')'"),
        ("acme ()", 6, "empty parentheses"),
        ("acme OR", 6, "OR needs a term on each side"),
        ("OR acme", 1, "OR needs a term on each side"),
        ("a OR OR b", 3, "OR needs a term on each side"),
        ("a AND", 3, "AND needs a term on each side"),
        ("acme -", 6, "'-' with nothing to exclude after it"),
        ("autor:bob", 1, "unknown field 'autor'"),
        ("acme -autor:bob", 7, "unknown field 'autor'"),
        ("rating:good", 8, "rating: expects a number, optionally after <, <=, >, >= (got 'good')"),
        ("lang:dutch", 6, "lang: expects two-letter ISO 639-1 codes (got 'dutch')"),
        (
            "sentiment:angry",
            11,
            "sentiment: is one of negative, neutral, positive, unscored (got 'angry')",
        ),
        ("has:image", 5, "has: knows only 'link' (got 'image')"),
        ("is:question", 4, "is: knows only 'reply' (got 'question')"),
        ("author:", 8, "author: needs a value"),
        ("lang:nl,", 6, "lang: an empty value in 'nl,'"),
        ("ac*me", 3, "'*' only at the end of a word"),
        ('""', 1, "empty phrase"),
        ("acme !!!", 6, "'!!!' has no letters or digits to match"),
        ('author:"Jane', 8, "unclosed quote"),
    ],
)
def test_errors_name_the_column_and_the_reason(query: str, column: int, reason: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(query)
    assert (caught.value.column, caught.value.reason) == (column, reason)
    assert str(caught.value) == f"column {column}: {reason}"
    assert isinstance(caught.value, ValueError)


# -- words: case, accents, whole words, scripts ---------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("acme", "ACME broke again"),
        ("cafe", "Le Café de Flore"),
        ("CAFÉ", "cafe society"),
        ("strasse", "Große Straße 5"),  # casefold: ß is ss
        ("acme", "Ａｃｍｅ support"),  # fullwidth letters (NFKD)
        ("office", "the oﬃce"),  # the ffi ligature (NFKD)
        ("zurich", "ZÜRICH"),
        ("istanbul", "İstanbul"),  # dotted capital I: casefold leaves a combining dot
        ("αθηνα", "Αθήνα"),  # Greek, accent dropped
        ("ёлка", "ЁЛКА"),  # Cyrillic case
        ("acme", "Acme's new anvil"),
        ("acme", "#acme @acme"),
        ("e-mail", "send an E-Mail"),
        ("e-mail", "send an e mail"),
        ("acme.com", "visit ACME.COM today"),
    ],
)
def test_case_accents_and_compatibility_forms_are_ignored(query: str, text: str) -> None:
    assert matches(query, text)


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("acme", "acmetools is a shop", False),
        ("acme", "the acme_support account", False),  # _ joins a handle into one word
        ("acme*", "acmetools is a shop", True),
        ("acme*", "ACME", True),
        ("acme*", "notacme", False),
        ("tool*", "the acme tools", True),
        ('"acme tool*"', "acme tools", False),  # a star inside quotes is not a wildcard
        ("anvil", "anvils", False),
        ('"acme anvil"', "Acme, anvil!", True),  # punctuation between phrase words
        ('"acme anvil"', "anvil acme", False),  # order
        ('"acme anvil"', "acme big anvil", False),  # adjacency
        ("hi", "हिन्दी", False),
        ("हि", "हिन्दी भाषा", False),  # a Devanagari vowel sign belongs to its word
        ("हिन्दी", "हिन्दी भाषा", True),
        ("مرحبا", "مَرْحَبًا بكم", True),  # Arabic vowel points dropped
    ],
)
def test_whole_words_and_prefixes(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("アクメ", "アクメの製品はひどい", True),  # Katakana inside an unspaced sentence
        ("ｱｸﾒ", "アクメの製品", True),  # halfwidth Katakana folds to fullwidth
        ("ガス", "カスタマー", False),  # the voicing mark is kept: ガ is not カ
        ("製品", "アクメの製品はひどい", True),  # Han
        ("阿克米", "我买了阿克米的产品", True),  # Chinese
        ("아크메", "아크메는 최악이에요", True),  # Hangul: the particle 는 is attached
        ("ร้าน", "ร้านอาหารนี้อร่อย", True),  # Thai
        ("ຮ້ານ", "ຮ້ານອາຫານ", True),  # Lao
        ("ហាង", "ហាងនេះល្អ", True),  # Khmer
        ("ဆိုင်", "ဒီဆိုင်ကောင်းတယ်", True),  # Myanmar
        ("acme", "Acme製品はひどい", True),  # a Latin name right against Japanese
        ("acme", "acmeツール", True),
        ("acme製品", "acme 製品", True),
        ('"アクメ 製品"', "アクメ製品", True),
        ("製品", "アクメの商品", False),
        ("아크메", "acme", False),
    ],
)
def test_unspaced_scripts_match_as_substrings(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


def test_words_match_the_title_too_but_a_phrase_does_not_span_title_and_text() -> None:
    assert matches("refund", "it took weeks", title="Refund took forever")
    assert matches("refund weeks", "it took weeks", title="Refund took forever")
    assert not matches('"forever it"', "it took weeks", title="Refund took forever")
    assert not matches('"weeks refund"', "it took weeks", title="Refund took forever")
    assert not matches('"weeks refund*"', "it took weeks", title="Refund took forever")


# -- fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "fields", "expected"),
    [
        ("author:AcmeJane", {"author": "acmejane"}, True),
        ("author:@AcmeJane", {"author": "AcmeJane"}, True),
        ("author:acmejane", {"author": "@AcmeJane"}, True),
        ("author:12345", {"author": "someone", "author_id": "12345"}, True),
        ("author:jane", {"author": "acmejane"}, False),
        ('author:"Mette Jensen"', {"author": "Mette Jensen"}, True),
        ("author:a,b", {"author": "b"}, True),
        ("author:jane", {}, False),
        ("site:acme.com", {"url": "https://acme.com/blog"}, True),
        ("site:acme.com", {"url": "https://www.Acme.com/blog"}, True),
        ("site:acme.com", {"url": "https://notacme.com/"}, False),
        ("site:https://acme.com/x", {"url": "http://shop.acme.com"}, True),
        ("site:shop.acme.com", {"url": "https://acme.com"}, False),
        ("site:acme.com", {}, False),
        ("lang:nl", {"language": "nl"}, True),
        ("lang:NL", {"language": "nl-BE"}, True),
        ("lang:nl,de", {"language": "de"}, True),
        ("lang:nl OR lang:de", {"language": "de"}, True),
        ("lang:nl", {"language": "en"}, False),
        ("lang:nl", {}, False),
        ("-lang:nl", {}, True),
        ("rating:5", {"rating": 5.0}, True),
        ("rating:5", {"rating": 4.0}, False),
        ("rating:<=2", {"rating": 2.0}, True),
        ("rating:<=2", {"rating": 3.0}, False),
        ("rating:<2", {"rating": 2.0}, False),
        ("rating:>4", {"rating": 4.5}, True),
        ("rating:>=4", {"rating": 4.0}, True),
        ("rating:>=4", {}, False),
        ("rating:4 OR rating:5", {"rating": 5.0}, True),
        ("rating:<2 OR rating:>4", {"rating": 3.0}, False),
        ("site:a.com OR site:acme.com OR author:x", {"url": "https://acme.com"}, True),
        (
            "platform:hn OR platform:reddit OR -is:reply",
            {"platform": "reddit", "is_reply": True},
            True,
        ),
        ("-rating:>=4", {}, True),
        ("sentiment:negative", {"sentiment": "negative"}, True),
        ("sentiment:negative,unscored", {"sentiment": "unscored"}, True),
        ("sentiment:negative", {"sentiment": "positive"}, False),
        ("sentiment:negative", {}, False),
        ("platform:reddit", {"platform": "reddit"}, True),
        ("platform:Reddit", {"platform": "reddit"}, True),
        ("platform:reddit,hn", {"platform": "mastodon"}, False),
        ("has:link", {"text": "see https://acme.com/x"}, True),
        ("has:link", {"text": "see www.acme.com"}, True),
        ("has:link", {"title": "http://x.example/"}, True),
        ("has:link", {"text": "no link here"}, False),
        ("has:link", {"text": "no link here", "url": "https://reddit.com/r/x/1"}, False),
        ("is:reply", {"is_reply": True}, True),
        ("is:reply", {}, False),
        ("-is:reply", {}, True),
        ("-is:reply", {"is_reply": True}, False),
    ],
)
def test_each_field(query: str, fields: dict[str, Any], expected: bool) -> None:
    subject = Subject(**{"text": "", **fields})
    assert parse_filter(query).matches(subject) is expected


def test_fields_combine_with_words_as_a_dutch_team_route_would() -> None:
    route = parse_filter("lang:nl sentiment:negative")
    assert route.matches(Subject("slecht", language="nl", sentiment="negative"))
    assert not route.matches(Subject("slecht", language="nl", sentiment="neutral"))


# -- explain -----------------------------------------------------------------------------------


def test_explain_says_each_term_where_it_was_found_and_the_verdict() -> None:
    query = parse_filter('acme -"job offer" (support OR help) rating:<=2')
    subject = Subject("ACME support never answers", title="Awful", rating=1.0)
    assert query.explain(subject) == [
        "all of: yes",
        "  acme: yes (in the text)",
        '  -"job offer": yes (not in the text or title)',
        "  any of: yes",
        "    support: yes (in the text)",
        "    help: no (not in the text or title)",
        "  rating:<=2: yes (rating 1)",
        "MATCH",
    ]
    job = Subject("Acme has a job offer for support staff", rating=2.0)
    assert query.explain(job)[2] == '  -"job offer": no (in the text: excluded)'
    assert query.explain(job)[-1] == "NO MATCH"


def test_explain_of_a_field_says_what_the_mention_carries() -> None:
    assert parse_filter("lang:nl").explain(Subject("x")) == [
        "lang:nl: no (language unknown)",
        "NO MATCH",
    ]
    assert parse_filter("refund").explain(Subject("x", title="Refund!"))[0] == (
        "refund: yes (in the title)"
    )


# -- properties --------------------------------------------------------------------------------

# Words from several scripts, spaced ones only: a word of an unspaced script is a substring.
LETTERS = "abcdefghijklmnopqrstuvwxyzéèüößçñåøαβγδεжзиклмнабв0123456789"
word = st.text(alphabet=LETTERS, min_size=1, max_size=8)
words = st.lists(word, min_size=1, max_size=4)
filler = st.lists(word, max_size=5)
separator = st.sampled_from([" ", ", ", " - ", "\n", "! ", " (", ") "])


def join(parts: list[str], sep: str) -> str:
    return sep.join(parts)


@settings(max_examples=200, deadline=None)
@given(before=filler, phrase=words, after=filler, sep=separator)
def test_a_phrase_always_matches_a_text_containing_it(
    before: list[str], phrase: list[str], after: list[str], sep: str
) -> None:
    text = join([*before, join(phrase, sep), *after], sep)
    assert matches(f'"{" ".join(phrase)}"', text)
    assert matches(f'"{" ".join(phrase).upper()}"', text), "and in any case"


@settings(max_examples=200, deadline=None)
@given(before=filler, x=word, after=filler, sep=separator, rest=words)
def test_an_exclusion_never_matches_a_text_containing_it(
    before: list[str], x: str, after: list[str], sep: str, rest: list[str]
) -> None:
    text = join([*before, x, *after], sep)
    assert not matches(f"-{x}", text)
    assert not matches(f"{' '.join(rest)} -{x}", text)
    assert not matches(f'-"{x}"', text)


TERMS = ["acme", "anvil", "coyote", "job", '"acme anvil"', "acm*", "-job", "is:reply", "lang:nl"]


def leaf_queries() -> st.SearchStrategy[str]:
    return st.sampled_from(TERMS) | word


subjects = st.builds(
    Subject,
    text=st.lists(st.sampled_from(["acme", "anvil", "coyote", "job", "acmes", "x"]) | word).map(
        " ".join
    ),
    language=st.sampled_from([None, "nl", "en"]),
    is_reply=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(a=leaf_queries(), b=leaf_queries(), subject=subjects)
def test_or_and_and_are_the_boolean_or_and_and_of_their_terms(
    a: str, b: str, subject: Subject
) -> None:
    ma, mb = parse_filter(a).matches(subject), parse_filter(b).matches(subject)
    assert parse_filter(f"{a} OR {b}").matches(subject) == (ma or mb)
    assert parse_filter(f"({a}) OR ({b})").matches(subject) == (ma or mb)
    assert parse_filter(f"{a} {b}").matches(subject) == (ma and mb)
    assert parse_filter(f"{a} AND {b}").matches(subject) == (ma and mb)
    assert parse_filter(f"-({a} {b})").matches(subject) == (not (ma and mb))


# -- recorded texts from the connectors --------------------------------------------------------


def subject_of(mention: MentionRecord, sentiment: str | None = None) -> Subject:
    """What the pipeline would judge: the connector's normalised record."""
    return Subject(
        text=mention.text,
        title=mention.title,
        author=mention.author,
        author_id=mention.author_id,
        url=mention.url,
        platform=mention.platform,
        language=mention.language,
        rating=mention.rating,
        sentiment=sentiment,
        is_reply=mention.parent_id is not None,
    )


def _poll(connector: Any, body: bytes, now: datetime) -> list[MentionRecord]:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("access_token"):
            return httpx.Response(
                200, content=fixture_bytes("reddit", "access_token_client_credentials_2016.json")
            )
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    with mock_client(answer) as client:
        mentions: list[MentionRecord] = connector.poll(client, FeedCursor(), now).mentions
    return mentions


def test_recorded_trustpilot_reviews_through_a_bad_reviews_filter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRUSTPILOT_API_KEY", "test-key")
    connector = TrustpilotConnector(
        TrustpilotOptions.model_validate({"business_unit_id": "507f191e810c19729de860ea"}),
        feed_name="acme-trustpilot",
        identities=[BrandIdentity("trustpilot", handle="Acme")],
    )
    body = fixture_bytes("trustpilot", "business_unit_reviews_page1_from_docs.json")
    reviews = _poll(connector, body, datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    bad = parse_filter("rating:<=2 -lang:da")
    assert [(r.author, bad.matches(subject_of(r))) for r in reviews] == [
        ("Mette Jensen", False),  # 1 star, but Danish
        ("Tom Baker", True),  # 2 stars, "Refund took forever"
        ("Ana Ruiz", False),
        ("Pieter de Vries", False),
        ("Sam Lee", False),
    ]
    # words match the title and the text; accents and case are folded
    delivery = parse_filter('(slow OR "verpakking was beschadigd") platform:trustpilot')
    assert [r.author for r in reviews if delivery.matches(subject_of(r))] == [
        "Pieter de Vries",
        "Sam Lee",
    ]
    assert [r.author for r in reviews if parse_filter("pa*").matches(subject_of(r))] == [
        "Mette Jensen"  # Pakken, pakke
    ]


def test_recorded_reddit_comments_through_a_staff_and_noise_filter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "app-id")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "app-secret")
    connector = RedditConnector(
        RedditOptions.model_validate(
            {
                "subreddit": "kakapo",
                "listings": ["comments"],
                "token_url": "https://auth.example.test/api/v1/access_token",
                "backfill": "36500d",
            }
        ),
        feed_name="kakapo",
        identities=(),
    )
    body = fixture_bytes("reddit", "r_kakapo_comments_limit100.json")
    comments = _poll(connector, body, datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    by_id = {c.external_id.removeprefix("t1_"): subject_of(c) for c in comments}
    # the moderator's own comments are the "staff" here; "thx" / "Thanks" are noise
    staff_out = parse_filter("-author:@mc_kloppedie -thx -thanks")
    assert not staff_out.matches(by_id["dg7dqfd"])  # MC_Kloppedie: "Very interesting..."
    assert not staff_out.matches(by_id["dfnajb0"])  # MC_Kloppedie: "thx"
    assert not staff_out.matches(by_id["dg41oob"])  # "Thanks"
    assert staff_out.matches(by_id["dg3s290"]), "a handle in the text is not the author"
    assert staff_out.matches(by_id["dfktga0"])  # Surgeon-San: "I hope they find Sirocco..."
    assert staff_out.matches(by_id["dg8ievl"])  # 3string
    kept = [c.author for c in comments if staff_out.matches(subject_of(c))]
    assert "MC_Kloppedie" not in kept and kept, kept
    # whole words: "favourite" is in two comments, "favour" in none
    assert sum(parse_filter("favourite").matches(s) for s in by_id.values()) == 2
    assert sum(parse_filter("favour").matches(s) for s in by_id.values()) == 0
    assert sum(parse_filter("favour*").matches(s) for s in by_id.values()) == 2
    assert parse_filter("site:reddit.com").matches(by_id["dfktga0"])


def test_recorded_mastodon_status_through_lang_and_hashtag_filters() -> None:
    connector = MastodonConnector(
        MastodonOptions.model_validate({"tag": "#hoot"}),
        feed_name="acme-mastodon",
        identities=(),
        base_url="https://mastodon.example",
    )
    body = fixture_bytes("mastodon", "timeline_tag_hoot_local_instance.json")
    [status] = _poll(connector, body, datetime(2026, 8, 2, 12, 0, tzinfo=UTC))
    subject = subject_of(status)
    assert subject.text == "#hoot (hashtag toot)"
    assert parse_filter("hoot lang:ja").matches(subject)
    assert not parse_filter("hoot -lang:ja").matches(subject)
    assert parse_filter('"hashtag toot" author:mastodonpy_test_2 -is:reply').matches(subject)
    assert not parse_filter("hoo").matches(subject)
    assert not parse_filter("has:link").matches(subject), "the hashtag's link is markup, not text"


# -- the command -------------------------------------------------------------------------------


def test_cli_prints_the_explanation_and_exits_0_on_a_match() -> None:
    result = CliRunner().invoke(
        cli, ["filter", "test", "acme -author:jane rating:<=2", "ACME broke", "--rating", "1"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "all of: yes",
        "  acme: yes (in the text)",
        "  -author:jane: yes (author none)",
        "  rating:<=2: yes (rating 1)",
        "MATCH",
    ]


def test_cli_exits_1_on_no_match_and_reads_every_option() -> None:
    query = (
        "refund author:tom site:trustpilot.com lang:en sentiment:negative "
        "platform:trustpilot is:reply rating:2"
    )
    args = ["filter", "test", query, "it arrived", "--title", "Refund took forever"]
    args += ["--author", "@Tom", "--url", "https://www.trustpilot.com/reviews/1", "--lang", "en"]
    args += ["--sentiment", "negative", "--platform", "trustpilot", "--rating", "2", "--reply"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, args[:-1])  # not a reply
    assert result.exit_code == 1, result.output
    assert "  is:reply: no (not a reply)" in result.output.splitlines()
    assert result.output.splitlines()[-1] == "NO MATCH"


def test_cli_exits_2_with_a_caret_under_the_column() -> None:
    result = CliRunner().invoke(cli, ["filter", "test", 'acme "job', "text"])
    assert result.exit_code == 2
    assert result.output.splitlines() == ['acme "job', "     ^", "column 6: unclosed quote"]
