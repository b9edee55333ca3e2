"""The mention filter language (issue 24): parse a query once, judge each mention by it.

A query is words and "exact phrases" (all must match: an implicit AND), `OR` between terms,
parentheses, `-` before a term to exclude it, and field filters (`author:`, `site:`, `lang:`,
`rating:`, `sentiment:`, `platform:`, `has:link`, `is:reply`). docs/filters.md is the
reference. `OR` binds tighter than the implicit AND, as in Google: `a b OR c` is
`a AND (b OR c)`.

The parser is a small hand-written recursive descent over a tokenizer that keeps each token's
column: the grammar has five rules, and every error names the column and says what is wrong
in the operator's terms ("unclosed quote", "')' without '('"), which a parser generator's
errors would have to be translated into.

Matching folds text and query alike (casefold, NFKD, accents removed, NFC again) and compares
whole words: `acme` does not match `acmetools`, `acme*` does. Scripts written without spaces
between words (Han, Hiragana, Katakana, Hangul, Thai, Lao, Khmer, Myanmar) have no word
boundaries to find, so a term in them matches as a substring.

Speed (bench/filter_bench.py): a query is compiled once into one Python function; a mention's
folded text is cached on its Subject, so twenty filters fold it once; a word the text lacks
costs one substring scan.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import urlsplit

__all__ = [
    "FIELDS",
    "And",
    "Field",
    "FilterSyntaxError",
    "MentionFilter",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Prefix",
    "Subject",
    "Words",
    "fold",
    "parse_filter",
    "source_of",
]


class FilterSyntaxError(ValueError):
    """A query that cannot be parsed: where (1-based column) and why."""

    def __init__(self, column: int, reason: str) -> None:
        super().__init__(f"column {column}: {reason}")
        self.column = column
        self.reason = reason


@dataclass(frozen=True)
class Subject:
    """What a mention is judged on."""

    text: str
    title: str | None = None
    author: str | None = None
    author_id: str | None = None
    url: str | None = None
    platform: str = ""
    language: str | None = None  # ISO 639-1 as detected ("en", "nl")
    rating: float | None = None
    sentiment: str | None = None  # "negative" | "neutral" | "positive" | "unscored"
    is_reply: bool = False

    # Worked out once per mention however many filters judge it, and only when a filter needs
    # them; kept in the instance's __dict__, which a frozen dataclass leaves writable.

    @property
    def _folded(self) -> str:
        """The text and the title folded, NUL between them (no term reaches across it)."""
        folded: str | None = self.__dict__.get("_folded_")  # no KeyError: raising one is slow
        if folded is None:
            folded = fold(self.text)
            if self.title:
                folded = f"{folded}\x00{fold(self.title)}"
            self.__dict__["_folded_"] = folded
        return folded

    @property
    def _host(self) -> str:
        host: str | None = self.__dict__.get("_host_")
        if host is None:
            host = self.__dict__["_host_"] = _url_host(self.url) if self.url else ""
        return host


# -- folding and words -------------------------------------------------------------------------

# Scripts written without spaces between words: matched as substrings.
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f"  # Myanmar
    "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff"  # Hangul
    "\u1780-\u17ff\u19e0-\u19ff"  # Khmer
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3038-\u303b"  # Han radicals, 々〆〇, numerals
    "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"  # Hiragana, Katakana
    "\u3100-\u312f\u31a0-\u31bf"  # Bopomofo
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\U00020000-\U0003134f"  # Han extensions B-G
)
# Accents to drop once NFKD has split them off: the combining diacritics of the Latin, Greek
# and Cyrillic scripts and the Hebrew and Arabic vowel points. Other marks are parts of
# letters (the kana voicing marks, Indic vowel signs, Thai vowels) and stay.
_ACCENTS = re.compile(
    "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
    "\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u064b-\u065f\u0670]+"
)
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")


@cache
def _marks() -> str:
    """Every combining mark of the first two planes, as a character class body: they belong
    to the word they sit in (Python's \\w leaves them out)."""
    marks = [chr(c) for c in range(0x20000) if unicodedata.category(chr(c))[0] == "M"]
    return "".join(re.escape(m) for m in marks)


@cache
def _run_re() -> re.Pattern[str]:
    """A whole word or a run of unspaced-script text: what a query term is made of."""
    return re.compile(f"[{_UNSPACED}]+|(?:[^\\W{_UNSPACED}]|[{_marks()}])+")


def fold(text: str) -> str:
    """Case and accents removed, compatibility forms unified: `Ａcmé` -> `acme`."""
    if text.isascii():
        return text.lower()  # casefold of ASCII, without the normalisation it cannot need
    text = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", _ACCENTS.sub("", text))


# -- the tree ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Words:
    """A bare term as typed (`acme`, `e-mail`): its folded whole words, adjacent and in order
    (one for most terms; `e-mail` is `e`, `mail`)."""

    text: str
    words: tuple[str, ...]
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Phrase:
    """An "exact phrase": its folded words, adjacent and in order (punctuation between them in
    the text does not matter)."""

    text: str
    words: tuple[str, ...]
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Prefix:
    """`acme*`: a word starting with the folded stem (before it: the term's other words)."""

    text: str
    words: tuple[str, ...]  # the last one is the stem
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Field:
    """`name:value`: op is "=" for every field but rating, which may use <, <=, >, >=."""

    name: str
    op: str
    values: tuple[str, ...]  # any of them (`lang:nl,de`); rating: one number
    column: int = field(default=0, compare=False)

    @property
    def text(self) -> str:
        op = "" if self.op == "=" else self.op
        return f"{self.name}:{op}{','.join(self.values)}"


@dataclass(frozen=True)
class Not:
    term: Node
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    terms: tuple[Node, ...]
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Or:
    terms: tuple[Node, ...]
    column: int = field(default=0, compare=False)


Node = Words | Phrase | Prefix | Field | Not | And | Or

FIELDS = ("author", "site", "lang", "rating", "sentiment", "platform", "has", "is")
SENTIMENTS = ("negative", "neutral", "positive", "unscored")

# -- the tokenizer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "phrase", "(", ")", "-", "OR", "AND", "end"
    text: str
    column: int  # 1-based
    raw: str = ""  # a word as typed, before a field's quoted value is read


def _tokens(query: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "()":
            out.append(_Token(c, c, i + 1))
            i += 1
        elif c == "-":  # at a term's start: exclude it (inside a word, `e-mail`, it is kept)
            out.append(_Token("-", c, i + 1))
            i += 1
        elif c == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise FilterSyntaxError(i + 1, "unclosed quote")
            out.append(_Token("phrase", query[i + 1 : end], i + 1))
            i = end + 1
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] not in '()"':
                i += 1
            word = query[start:i]
            name, colon, value = word.partition(":")
            if (
                colon
                and not value
                and name.isascii()
                and name.isalpha()
                and query[i : i + 1] == '"'
            ):
                # field:"a quoted value"
                end = query.find('"', i + 1)
                if end < 0:
                    raise FilterSyntaxError(i + 1, "unclosed quote")
                out.append(_Token("word", word + query[i + 1 : end], start + 1, raw="quoted"))
                i = end + 1
                continue
            kind = word if word in ("OR", "AND") else "word"
            out.append(_Token(kind, word, start + 1))
    out.append(_Token("end", "", n + 1))
    return out


# -- the parser --------------------------------------------------------------------------------
#
#   query   := conj "end"
#   conj    := disj (["AND"] disj)*        implicit AND: juxtaposed terms
#   disj    := unary ("OR" unary)*         OR binds tighter than AND
#   unary   := "-" primary | primary
#   primary := "(" conj ")" | phrase | field | word


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = _tokens(query)
        self.at = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def query(self) -> Node:
        if self.token.kind == "end":
            raise FilterSyntaxError(1, "empty query")
        node = self.conj()
        if self.token.kind == ")":
            raise FilterSyntaxError(self.token.column, "')' without '('")
        return node

    def conj(self) -> Node:
        first = self.token
        terms = [self.disj()]
        while self.token.kind not in ("end", ")"):
            if self.token.kind == "AND":
                self._operand_follows(self.take())
            terms.append(self.disj())
        return terms[0] if len(terms) == 1 else And(tuple(terms), first.column)

    def disj(self) -> Node:
        first = self.token
        terms = [self.unary()]
        while self.token.kind == "OR":
            self._operand_follows(self.take())
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else Or(tuple(terms), first.column)

    def _operand_follows(self, operator: _Token) -> None:
        if self.token.kind in ("end", ")", "OR", "AND"):
            raise FilterSyntaxError(operator.column, f"{operator.kind} needs a term on each side")

    def unary(self) -> Node:
        token = self.token
        if token.kind == "-":
            self.take()
            if self.token.kind in ("end", ")", "OR", "AND", "-"):
                raise FilterSyntaxError(token.column, "'-' with nothing to exclude after it")
            return Not(self.primary(), token.column)
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "(":
            if self.token.kind == ")":
                raise FilterSyntaxError(token.column, "empty parentheses")
            node = self.conj()
            if self.token.kind != ")":
                raise FilterSyntaxError(token.column, "'(' without ')'")
            self.take()
            return node
        if token.kind == ")":
            raise FilterSyntaxError(token.column, "')' without '('")
        if token.kind in ("OR", "AND"):
            raise FilterSyntaxError(token.column, f"{token.kind} needs a term on each side")
        if token.kind == "end":
            raise FilterSyntaxError(token.column, "the query ends too soon")
        if token.kind == "phrase":
            words = _query_words(token.text)
            if not words:
                raise FilterSyntaxError(token.column, "empty phrase")
            return Phrase(token.text, words, token.column)
        return _word(token)


def _query_words(text: str) -> tuple[str, ...]:
    return tuple(_run_re().findall(fold(text)))


def _word(token: _Token) -> Node:
    text, column = token.text, token.column
    name, colon, value = text.partition(":")
    if colon and name.isascii() and name.isalpha():
        return _field(name, value, column, quoted=token.raw == "quoted")
    star = text.find("*")
    if 0 <= star < len(text) - 1:
        raise FilterSyntaxError(column + star, "'*' only at the end of a word")
    words = _query_words(text.rstrip("*"))
    if not words:
        raise FilterSyntaxError(column, f"'{text}' has no letters or digits to match")
    if star >= 0:
        return Prefix(text, words, column)
    return Words(text, words, column)


_RATING = re.compile(r"(<=|>=|<|>|=)?(\d+(?:\.\d+)?)")


def _field(name: str, value: str, column: int, *, quoted: bool) -> Field:
    key = name.lower()
    if key not in FIELDS:
        raise FilterSyntaxError(column, f"unknown field '{name}'")
    at = column + len(name) + 1  # the value's column
    if not value:
        raise FilterSyntaxError(at, f"{key}: needs a value")
    if key == "rating":
        found = _RATING.fullmatch(value)
        if not found:
            raise FilterSyntaxError(
                at, f"rating: expects a number, optionally after <, <=, >, >= (got '{value}')"
            )
        return Field(key, found.group(1) or "=", (found.group(2),), column)
    values = (value,) if quoted else tuple(v.strip() for v in value.split(","))
    if any(not v for v in values):
        raise FilterSyntaxError(at, f"{key}: an empty value in '{value}'")
    if key == "has" and values != ("link",):
        raise FilterSyntaxError(at, f"has: knows only 'link' (got '{value}')")
    if key == "is" and values != ("reply",):
        raise FilterSyntaxError(at, f"is: knows only 'reply' (got '{value}')")
    if key == "sentiment":
        for v in values:
            if v.lower() not in SENTIMENTS:
                raise FilterSyntaxError(
                    at, f"sentiment: is one of {', '.join(SENTIMENTS)} (got '{v}')"
                )
    if key == "lang":
        for v in values:
            if not (len(v) == 2 and v.isascii() and v.isalpha()):
                raise FilterSyntaxError(at, f"lang: expects two-letter ISO 639-1 codes (got '{v}')")
    if key == "site":
        values = tuple(_host(v) for v in values)
    if key == "author":
        values = tuple(v.removeprefix("@") for v in values)
    return Field(key, "=", tuple(v.casefold() for v in values), column)


def _host(value: str) -> str:
    """`https://www.Acme.com/x` -> `www.acme.com`; `acme.com` stays."""
    if "://" not in value:
        value = "//" + value
    return (urlsplit(value).hostname or "").rstrip(".")


def _url_host(url: str) -> str:
    """A mention's URL's host, lower case: `https://host/...` read by hand (a tenth of
    urlsplit's time), anything else (a user, a port, no scheme) by urlsplit."""
    found = _PLAIN_HOST.match(url)
    return found.group(1).lower().rstrip(".") if found else _host(url)


_PLAIN_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#@:\[\]]*)(?:[/?#]|$)")


# -- matching ----------------------------------------------------------------------------------

Test = Callable[[Subject], bool]


@cache
def _term_re(words: tuple[str, ...], prefix: bool) -> re.Pattern[str]:
    """The words adjacent and in order, each whole, in a folded text: separated by anything
    that is not a letter, digit or mark; no boundary where an unspaced script meets them."""
    marks = _marks()
    letter, mark = f"[^\\W{_UNSPACED}]", f"[{marks}]"  # a spaced script's word characters
    gap = f"[^\\w{marks}\\x00]"  # not across the NUL between text and title
    parts = []
    for i, word in enumerate(words):
        unspaced = bool(_UNSPACED_CHAR.match(word))
        if i == 0:
            if not unspaced:
                parts.append(f"(?<!{letter})(?<!{mark})")
        else:
            after_unspaced = bool(_UNSPACED_CHAR.match(words[i - 1][-1]))
            parts.append(f"{gap}*" if unspaced or after_unspaced else f"{gap}+")
        parts.append(re.escape(word))
    if not prefix and not _UNSPACED_CHAR.match(words[-1][-1]):
        parts.append(f"(?!{letter}|{mark})")
    return re.compile("".join(parts))


Probe = Callable[[str], bool]  # a text term's exact test of a folded text


@cache
def _wordy() -> re.Pattern[str]:
    """One character of a word of a spaced script: a letter, digit, _ or mark."""
    return re.compile(f"[^\\W{_UNSPACED}]|[{_marks()}]")


def _probe(words: tuple[str, ...], prefix: bool) -> Probe:
    if len(words) == 1 and _UNSPACED_CHAR.match(words[0]):
        word = words[0]  # a run of unspaced text: a substring, whatever surrounds it
        return lambda folded: word in folded
    if len(words) == 1:  # most terms: find the word, then look at the characters around it
        word, size, wordy = words[0], len(words[0]), _wordy().match

        def whole_word(folded: str) -> bool:
            at = folded.find(word)
            while at >= 0:
                if (at == 0 or wordy(folded, at - 1) is None) and (
                    prefix or wordy(folded, at + size) is None
                ):
                    return True
                at = folded.find(word, at + 1)
            return False

        return whole_word
    pattern = _term_re(words, prefix).search
    needle = max(words, key=len)
    # the substring test (a fast scan) rejects most texts before the pattern runs
    return lambda folded: needle in folded and pattern(folded) is not None


def _field_test(node: Field) -> Test:
    """author:, site: and has: as a function; _compile inlines the others."""
    values = node.values
    name = node.name
    if name == "author":
        wanted = frozenset(values)

        def author(s: Subject) -> bool:
            name, number = s.author, s.author_id
            if name is not None and name.removeprefix("@").casefold() in wanted:
                return True
            return number is not None and number.casefold() in wanted

        return author
    if name == "site":
        exact, below = frozenset(values), tuple("." + v for v in values)

        def site(s: Subject) -> bool:
            host = s._host
            return host in exact or host.endswith(below)

        return site
    assert name == "has", name  # the other fields are inlined by _compile
    return _has_link


def _primary(language: str) -> str:
    """`en-US` -> `en`: the language without its region."""
    return language.replace("_", "-").split("-")[0].casefold()


_LINK = re.compile(r"https?://\S|\bwww\.\w")


def _has_link(s: Subject) -> bool:
    """A URL in the text or the title (read folded: lower case, one string)."""
    folded = s._folded
    return ("://" in folded or "www." in folded) and _LINK.search(folded) is not None


def _compile(node: Node) -> Test:
    """The node as one Python function: its terms inlined as `and` / `or` / `not`, and a text
    term as `needle in f and probe(f)`, so a word the text lacks costs a substring scan and no
    function call. Values reach the code as names bound to constants, never as source text.
    (Closures calling closures spent most of their time in the calls.)"""
    names: dict[str, object] = {}
    folds = False

    def const(value: object) -> str:
        name = f"_c{len(names)}"
        names[name] = value
        return name

    def expression(node: Node) -> str:
        nonlocal folds
        if isinstance(node, Words | Phrase | Prefix):
            folds = True
            needle = const(max(node.words, key=len))
            probe = const(_probe(node.words, prefix=isinstance(node, Prefix)))
            return f"({needle} in f and {probe}(f))"
        if isinstance(node, Field):  # the common fields inline, the others a call
            values = const(frozenset(node.values))
            if node.name == "is":
                return "s.is_reply"
            if node.name == "platform":
                return f"(s.platform in {values} or s.platform.casefold() in {values})"
            if node.name == "sentiment":
                return f"(s.sentiment in {values})"  # the labels are lower case
            if node.name == "lang":  # "nl" as is; "nl-BE", "NL" through _primary
                return (
                    f"(s.language in {values} or s.language is not None"
                    f" and {const(_primary)}(s.language) in {values})"
                )
            if node.name == "rating":
                op = "==" if node.op == "=" else node.op
                return f"(s.rating is not None and s.rating {op} {const(float(node.values[0]))})"
            return f"{const(_field_test(node))}(s)"
        if isinstance(node, Not):
            return f"(not {expression(node.term)})"
        joiner = " and " if isinstance(node, And) else " or "
        return "(" + joiner.join(expression(t) for t in _cheap_first(node)) + ")"

    body = expression(node)
    # the folded text from the instance's dict (a C call) unless no filter has folded it yet
    fetch = '    f = s.__dict__.get("_folded_")\n    if f is None:\n        f = s._folded\n'
    source = f"def test(s):\n{fetch if folds else ''}    return {body}\n"
    exec(compile(source, "<mention filter>", "exec"), names)
    test: Test = names["test"]  # type: ignore[assignment]
    return test


def _cheap_first(node: And | Or) -> tuple[Node, ...]:
    """A group's terms in the order that decides soonest: fields that read one attribute,
    then the words that must be there (most mentions lack them), nested groups, and last the
    exclusions (most mentions pass them). In an OR, `site:a OR site:b` becomes `site:a,b`."""
    terms = node.terms
    if isinstance(node, Or):
        merged: dict[str, Field] = {}
        rest: list[Node] = []
        for term in terms:
            if isinstance(term, Field) and term.name not in ("has", "is", "rating"):
                known = merged.get(term.name)
                values = (known.values if known else ()) + term.values
                merged[term.name] = Field(term.name, "=", values, term.column)
            else:
                rest.append(term)
        terms = (*merged.values(), *rest)

    def cost(term: Node) -> int:
        inner = term.term if isinstance(term, Not) else term
        if isinstance(inner, Field):
            own = {"author": 1, "site": 1, "has": 5}.get(inner.name, 0)  # has: scans the text
        else:
            own = 4 if isinstance(inner, And | Or) else 2
        return own + (4 if isinstance(term, Not) else 0)

    return tuple(sorted(terms, key=cost))


def _uses(node: Node, names: tuple[str, ...]) -> bool:
    if isinstance(node, Field):
        return node.name in names
    if isinstance(node, Not):
        return _uses(node.term, names)
    if isinstance(node, And | Or):
        return any(_uses(t, names) for t in node.terms)
    return False


def source_of(node: Node) -> str:
    """The node written back as a query (normalised: parentheses where OR sits in an AND)."""
    if isinstance(node, Words | Prefix):
        return node.text
    if isinstance(node, Phrase):
        return f'"{node.text}"'
    if isinstance(node, Field):
        if any(not v or v.isspace() or " " in v for v in node.values):
            return f'{node.name}:"{node.values[0]}"'
        return node.text
    if isinstance(node, Not):
        inner = source_of(node.term)
        return f"-({inner})" if isinstance(node.term, And | Or) else f"-{inner}"
    if isinstance(node, Or):
        return " OR ".join(
            f"({source_of(t)})" if isinstance(t, And) else source_of(t) for t in node.terms
        )
    return " ".join(f"({source_of(t)})" if isinstance(t, And) else source_of(t) for t in node.terms)


class MentionFilter:
    """A parsed query: `matches(subject)` judges a mention, `explain` says why."""

    source: str
    tree: Node
    needs_scores: bool  # uses sentiment: or lang:, so the pipeline scores the mention first
    matches: Callable[[Subject], bool]

    def __init__(self, source: str, tree: Node) -> None:
        self.source = source
        self.tree = tree
        self.needs_scores = _uses(tree, ("sentiment", "lang"))
        # the compiled test itself, not a method calling it: one call less per mention
        self.matches = _compile(tree)

    def __repr__(self) -> str:
        return f"MentionFilter({self.source!r})"

    def explain(self, subject: Subject) -> list[str]:
        lines: list[str] = []
        self._explain(self.tree, subject, 0, lines)
        lines.append("MATCH" if self.matches(subject) else "NO MATCH")
        return lines

    def _explain(self, node: Node, subject: Subject, depth: int, lines: list[str]) -> None:
        pad = "  " * depth
        result = _compile(node)(subject)
        if isinstance(node, And | Or):
            kind = "all of" if isinstance(node, And) else "any of"
            lines.append(f"{pad}{kind}: {'yes' if result else 'no'}")
            for term in node.terms:
                self._explain(term, subject, depth + 1, lines)
            return
        if isinstance(node, Not):
            inner = _compile(node.term)(subject)
            lines.append(
                f"{pad}{source_of(node)}: "
                + ("no" if inner else "yes")
                + f" ({_why(node.term, subject, inner)}{': excluded' if inner else ''})"
            )
            return
        lines.append(
            f"{pad}{source_of(node)}: {'yes' if result else 'no'} ({_why(node, subject, result)})"
        )


def _why(node: Node, subject: Subject, result: bool) -> str:
    """A short reason for a leaf's result: where a term was found, what a field saw."""
    if isinstance(node, Words | Phrase | Prefix):
        if not result:
            return "not in the text or title"
        test = _compile(node)
        for name, part in (("text", subject.text), ("title", subject.title)):
            if part and test(Subject(part)):
                return f"in the {name}"
        return "found"
    if isinstance(node, Field):
        seen = {
            "author": f"author {subject.author or 'none'}"
            + (f", id {subject.author_id}" if subject.author_id else ""),
            "site": f"url {subject.url or 'none'}",
            "lang": f"language {subject.language or 'unknown'}",
            "rating": f"rating {'none' if subject.rating is None else f'{subject.rating:g}'}",
            "sentiment": f"sentiment {subject.sentiment or 'not scored yet'}",
            "platform": f"platform {subject.platform or 'none'}",
            "has": "a link in the text" if result else "no link in the text or title",
            "is": "a reply" if subject.is_reply else "not a reply",
        }
        return seen[node.name]
    return "yes" if result else "no"


def parse_filter(text: str) -> MentionFilter:
    """The query parsed and ready to match; FilterSyntaxError says where it is wrong."""
    if not text.strip():
        raise FilterSyntaxError(1, "empty query")
    return MentionFilter(text, _Parser(text).query())
