"""Operator and built-in phrase rules: find the phrases that force a label, compiled once."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from monitor.sentiment import lexicon
from monitor.states import SentimentLabel

ANY = "*"
UNDETERMINED = "und"
_COMBINING = re.compile(r"[\u0300-\u036f]")
_CLAUSE_END = re.compile(r"[.,;:!?()\n]")
_TOKEN = re.compile(r"[\w']+")
NEGATION_WINDOW = 3  # words before a phrase that may negate it ("niet erg tevreden")


def fold(text: str) -> str:
    """Lower case, no accents, straight apostrophes: how phrases and texts are compared."""
    text = text.replace("’", "'")
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()


@dataclass(frozen=True)
class RuleSpec:
    """One rule as configured (`SentimentConfig.Rule`) or built in."""

    name: str
    language: str  # ISO 639-1 or "*"
    label: str  # negative | positive | neutral
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class RuleMatch:
    rule: str
    label: str  # the label the match forces: a negated positive phrase forces "negative"
    phrase: str  # as written in the text
    negated: bool = False

    @property
    def source(self) -> str:
        return f"rule:{self.rule}"[:40]  # Mention.sentiment_source is 40 characters


@dataclass
class RuleVerdict:
    negative: RuleMatch | None = None
    positive: RuleMatch | None = None
    ignored: list[RuleMatch] = field(default_factory=list)  # negated complaint phrases


def _pattern(phrases: Iterable[str], *, fold_phrases: bool = True) -> re.Pattern[str]:
    parts = []
    # Longest first, so "werkt nog steeds niet" wins over "werkt niet" in the explanation.
    for phrase in sorted(set(phrases), key=len, reverse=True):
        prefix = phrase.endswith("*")
        words = (fold(phrase) if fold_phrases else phrase).rstrip("*").split()
        body = r"\s+".join(re.escape(w) for w in words)
        parts.append(body + (r"\w*" if prefix else ""))
    flags = 0 if fold_phrases else re.IGNORECASE
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", flags)


def compile_phrases(phrases: Iterable[str]) -> re.Pattern[str]:
    """One regex for `phrases`, matched against `fold`ed text as rule phrases are."""
    return _pattern(phrases)


@dataclass(frozen=True)
class _Compiled:
    order: int  # operator rules come before built-in ones, and win the explanation
    spec: RuleSpec
    pattern: re.Pattern[str]


def builtin_specs() -> list[RuleSpec]:
    specs = []
    for label, table in (
        (SentimentLabel.NEGATIVE, lexicon.NEGATIVE),
        (SentimentLabel.POSITIVE, lexicon.POSITIVE),
    ):
        for language, phrases in table.items():
            specs.append(RuleSpec(f"builtin-{language}-{label}", language, label, phrases))
    return specs


class RuleBook:
    """All rules, indexed by language; `find` costs a few regex searches per text."""

    def __init__(self, specs: Sequence[RuleSpec]) -> None:
        self.specs = tuple(specs)
        self._by_language: dict[str, list[_Compiled]] = {}
        self._neutral: list[_Compiled] = []
        for order, spec in enumerate(specs):
            if spec.label == SentimentLabel.NEUTRAL:
                # Masked in the original text, before folding: these are product names.
                pattern = _pattern(spec.phrases, fold_phrases=False)
                self._neutral.append(_Compiled(order, spec, pattern))
            else:
                compiled = _Compiled(order, spec, _pattern(spec.phrases))
                self._by_language.setdefault(spec.language, []).append(compiled)
        self._candidates_cache: dict[tuple[str, ...], list[_Compiled]] = {}
        all_negators = frozenset().union(*lexicon.NEGATORS.values())
        self._unknown_negators = all_negators - lexicon.AMBIGUOUS_NEGATORS

    def mask(self, text: str, language: str) -> tuple[str, list[RuleMatch]]:
        """Blank out `neutral` phrases (a product called "Killer") so nothing scores them."""
        found: list[RuleMatch] = []
        for compiled in self._neutral:
            if compiled.spec.language not in (ANY, language):
                continue

            def blank(match: re.Match[str], spec: RuleSpec = compiled.spec) -> str:
                found.append(RuleMatch(spec.name, SentimentLabel.NEUTRAL, match.group(0)))
                return " " * len(match.group(0))

            text = compiled.pattern.sub(blank, text)
        return text, found

    def _candidates(self, language: str, plausible: tuple[str, ...]) -> list[_Compiled]:
        key = (language, *plausible)
        cached = self._candidates_cache.get(key)
        if cached is None:
            if language == UNDETERMINED:
                # Unknown language: a complaint word of any language still counts, praise not.
                every = [c for rules in self._by_language.values() for c in rules]
                cached = [
                    c
                    for c in every
                    if c.spec.language == ANY or c.spec.label == SentimentLabel.NEGATIVE
                ]
            else:
                cached = self._by_language.get(language, []) + self._by_language.get(ANY, [])
                for other in plausible:
                    negative = self._by_language.get(other, [])
                    cached += [c for c in negative if c.spec.label == SentimentLabel.NEGATIVE]
            cached.sort(key=lambda c: c.order)
            self._candidates_cache[key] = cached
        return cached

    def _negators(self, language: str, plausible: tuple[str, ...]) -> frozenset[str]:
        if language == UNDETERMINED:
            return self._unknown_negators
        english = lexicon.NEGATORS["en"]  # operator rules for a language we have no list for
        found = [lexicon.NEGATORS.get(code, english) for code in (language, *plausible)]
        return frozenset().union(*found)

    def find(self, folded: str, language: str, plausible: tuple[str, ...] = ()) -> RuleVerdict:
        """The first negative and first positive match in `folded` (see `fold`).

        Positive phrases count in `language` only; complaint phrases also in the `plausible`
        runner-up languages: a false alarm costs a glance, a hidden complaint costs a customer.
        """
        verdict = RuleVerdict()
        negators = self._negators(language, plausible)
        for compiled in self._candidates(language, plausible):
            spec = compiled.spec
            if spec.label == SentimentLabel.POSITIVE and verdict.positive:
                continue
            for match in compiled.pattern.finditer(folded):
                negated = _negated(folded, match.start(), negators)
                if spec.label == SentimentLabel.NEGATIVE:
                    hit = RuleMatch(spec.name, SentimentLabel.NEGATIVE, match.group(0), negated)
                    if negated:
                        verdict.ignored.append(hit)
                        continue
                    verdict.negative = verdict.negative or hit
                    return verdict  # a complaint: nothing else can change the label
                if negated:
                    verdict.negative = RuleMatch(
                        spec.name, SentimentLabel.NEGATIVE, match.group(0), True
                    )
                    return verdict
                verdict.positive = verdict.positive or RuleMatch(
                    spec.name, SentimentLabel.POSITIVE, match.group(0)
                )
                break
        return verdict


def _negated(folded: str, start: int, negators: frozenset[str]) -> bool:
    before = folded[max(0, start - 60) : start]
    clause = _CLAUSE_END.split(before)[-1]
    words = _TOKEN.findall(clause)[-NEGATION_WINDOW:]
    return any(word in negators or word.endswith("n't") for word in words)


@lru_cache(maxsize=16)
def rule_book(specs: tuple[RuleSpec, ...]) -> RuleBook:
    """Compiling ~1,000 phrases takes milliseconds; do it once per distinct rule list."""
    return RuleBook(specs)
