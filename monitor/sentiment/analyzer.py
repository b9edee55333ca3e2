"""Sentiment: detect the language, let a star rating, a rule or a scorer decide, else `unscored`."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.config import SentimentConfig
from monitor.sentiment.language import (
    UNDETERMINED,
    DetectedLanguage,
    LanguageDetector,
    normalise_code,
)
from monitor.sentiment.lexicon import NEGATORS, PERSONAL, TROUBLE
from monitor.sentiment.rules import (
    RuleMatch,
    RuleSpec,
    builtin_specs,
    compile_phrases,
    fold,
    rule_book,
)
from monitor.sentiment.scorers import EmojiScorer, Score, Scorer, TextBlobScorer, expand_negations
from monitor.states import SentimentLabel

if TYPE_CHECKING:
    from monitor.config import Config

__all__ = ["Sentiment", "SentimentAnalyzer", "expand_negations", "explain", "looks_english"]

_WORD = re.compile(r"[A-Za-z']+")
_ALNUM = re.compile(r"\w")
# The most frequent English words; kept for callers of `looks_english`.
_ENGLISH_COMMON = frozenset(
    "the a an and or but is are was were be been it this that i you he she we they my your "
    "our their me us them not no to of in on at for with from by as so do does did have has "
    "had will would can could should just very too what why how when where who all any".split()
)
MAX_SCORED_CHARS = 5000
# With `plain_statements` on (news and press feeds), a text in a language with built-in phrase
# lists is `neutral` when it has at least this many words and nothing that hints at a customer
# or a complaint (`_plain_statement`). Shorter, the rule called 26 of 40 phrase-less complaints
# neutral ("Der Techniker kam erst um 19 Uhr statt wie vereinbart um 8 Uhr"); even at 20 words
# it calls most third-person complaints neutral (set `long`, docs/sentiment.md): off by default.
STATEMENT_MIN_WORDS = 20
STATEMENT_MIN_CONFIDENCE = 0.9  # a misread language must not make its complaint a "statement"
_LINK = re.compile(r"https?://\S+|www\.\S+")  # a "?" in a link's query is no question
_STATEMENT_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
Request = tuple[str, str | None, float | None]  # text, platform's language, rating


@dataclass(frozen=True)
class Sentiment:
    label: str  # a SentimentLabel: negative | neutral | positive | unscored
    polarity: float | None
    subjectivity: float | None
    source: str  # textblob | emoji | rating | rule:<name> | statement | none
    language: str | None = None  # ISO 639-1, or "und" when the detector was unsure
    language_confidence: float | None = None  # None when the platform gave the language


def looks_english(text: str) -> bool:
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return False
    common = sum(1 for w in words if w in _ENGLISH_COMMON)
    return common / len(words) >= 0.2 or (len(words) <= 3 and common > 0)


@dataclass(frozen=True)
class _TextVerdict:
    label: str
    polarity: float | None
    subjectivity: float | None
    source: str
    why: str


class SentimentAnalyzer:
    """Labels a mention; never calls a text it cannot read "neutral"."""

    def __init__(self, config: SentimentConfig | None = None) -> None:
        self.config = config = config or SentimentConfig()
        self.detector = LanguageDetector(
            config.languages,
            min_confidence=config.min_language_confidence,
            ignore_words=config.brand_names,
        )
        specs = [
            RuleSpec(rule.display_name, rule.language, rule.label, tuple(rule.phrases))
            for rule in config.rules
        ]
        if config.builtin_rules:
            specs += builtin_specs()
        self.rules = rule_book(tuple(specs))
        thresholds = (config.negative_below, config.positive_above)
        available: dict[str, Scorer] = {
            "textblob": TextBlobScorer(*thresholds),
            "emoji": EmojiScorer(*thresholds),
        }
        self._scorers = {lang: available.get(name) for lang, name in config.scorers.items()}
        self._textblob = available["textblob"]
        self._emoji = available["emoji"]
        # Only when asked for, and with the built-in complaint lists: without them a
        # plain-looking complaint would pass as a statement.
        self._trouble = (
            {
                lang: compile_phrases(phrases + PERSONAL.get(lang, ()))
                for lang, phrases in TROUBLE.items()
            }
            if config.plain_statements and config.builtin_rules
            else {}
        )

    def warm_up(self) -> None:
        """Load the language models now (at start-up), not on the first mention."""
        self.detector.warm_up()

    def analyse_many(self, requests: Sequence[Request]) -> list[Sentiment]:
        """`analyse` for a batch, in order: the language detector runs once over the batch,
        on every core (bench/ingest_bench.py: detection was half of the scoring time)."""
        texts = [text[:MAX_SCORED_CHARS] for text, _, _ in requests]
        given = [normalise_code(language) for _, language, _ in requests]
        detected = self.detector.detect_many(texts, given)
        results = []
        for text, lang, (_, _, rating) in zip(texts, detected, requests, strict=True):
            results.append(self._analyse(text, None, rating, 5.0, lang)[0])
        return results

    def language_of(self, text: str, language: str | None = None) -> DetectedLanguage:
        """The detector's guess, with the platform's language as a hint: the platform's tag
        stands unless the text plainly is another language (Mastodon tags a post with the
        author's interface language, not the post's)."""
        return self.detector.detect(text, normalise_code(language))

    def analyse(
        self,
        text: str,
        *,
        language: str | None = None,
        rating: float | None = None,
        rating_scale: float = 5.0,
    ) -> Sentiment:
        return self._analyse(text, language, rating, rating_scale)[0]

    def _analyse(
        self,
        text: str,
        language: str | None,
        rating: float | None,
        rating_scale: float,
        lang: DetectedLanguage | None = None,  # already detected (analyse_many)
    ) -> tuple[Sentiment, DetectedLanguage, _TextVerdict, str]:
        text = text[:MAX_SCORED_CHARS]
        lang = lang or self.language_of(text, language)
        verdict = self._judge_text(text, lang)
        label, source, why = verdict.label, verdict.source, verdict.why
        stars = _stars(rating, rating_scale)
        if stars is not None:
            if stars <= self.config.rating_negative_at_most:
                label, source, why = SentimentLabel.NEGATIVE, "rating", f"{stars:g} of 5 stars"
            elif stars >= self.config.rating_positive_at_least:
                label, source, why = SentimentLabel.POSITIVE, "rating", f"{stars:g} of 5 stars"
            elif label == SentimentLabel.UNSCORED:
                # The customer judged it themselves: a middling rating is not a silent neutral.
                label, source = SentimentLabel.NEUTRAL, "rating"
                why = f"{stars:g} of 5 stars, text not scored"
        sentiment = Sentiment(
            label, verdict.polarity, verdict.subjectivity, source, lang.code, lang.confidence
        )
        return sentiment, lang, verdict, why

    def _scorer_for(self, language: str) -> Scorer | None:
        if language in self._scorers:
            return self._scorers[language]
        return self._scorers.get("*")

    def _score(self, text: str, language: str) -> Score | None:
        if language != UNDETERMINED:
            scorer = self._scorer_for(language)
            return scorer.score(text) if scorer else None
        # Unknown language: trust TextBlob only when it finds a complaint (a false alarm costs
        # a glance; a Dutch "super slecht" read as English praise would hide a complaint).
        scored = self._textblob.score(text) if self._scorers.get("en") else None
        if scored and scored.label == "negative":  # a scorer's Label, checked by mypy
            return scored
        return self._emoji.score(text)

    def _judge_text(self, text: str, lang: DetectedLanguage) -> _TextVerdict:
        language = lang.code
        masked, neutral_hits = self.rules.mask(text, language)
        found = self.rules.find(fold(masked), language, lang.plausible)
        scored = self._score(masked, language)
        polarity = scored.polarity if scored else None
        subjectivity = scored.subjectivity if scored else None
        if found.negative:
            return _TextVerdict(
                SentimentLabel.NEGATIVE,
                polarity,
                subjectivity,
                found.negative.source,
                _why(found.negative),
            )
        if scored and scored.label == "negative":
            return _TextVerdict(
                SentimentLabel.NEGATIVE, polarity, subjectivity, scored.source, scored.note
            )
        if found.positive:
            return _TextVerdict(
                SentimentLabel.POSITIVE,
                polarity,
                subjectivity,
                found.positive.source,
                _why(found.positive),
            )
        if scored:
            return _TextVerdict(scored.label, polarity, subjectivity, scored.source, scored.note)
        if neutral_hits and not _ALNUM.search(masked):
            hit = neutral_hits[0]
            return _TextVerdict(SentimentLabel.NEUTRAL, None, None, hit.source, _why(hit))
        if not found.ignored and self._plain_statement(masked, lang):
            why = "a plain statement: 20+ words, no complaint/trouble word, I/you, negator or !"
            return _TextVerdict(SentimentLabel.NEUTRAL, None, None, "statement", why)
        ignored = f"; ignored negated {_why(found.ignored[0])}" if found.ignored else ""
        return _TextVerdict(
            SentimentLabel.UNSCORED, None, None, "none", "no scorer or rule" + ignored
        )

    def _plain_statement(self, text: str, lang: DetectedLanguage) -> bool:
        """A news-length statement, surely in a language whose complaint phrases we know, with
        no "!", no negator, and none of the language's trouble or first/second-person words.
        Never with `plain_statements` off: a third-person complaint reads the same."""
        language = lang.code
        text = _LINK.sub(" ", text)
        trouble = self._trouble.get(language)
        if trouble is None or "!" in text:
            return False  # "!": worked up, one way or the other
        folded = fold(text)
        words = _STATEMENT_WORD.findall(folded)
        if len(words) < STATEMENT_MIN_WORDS:
            return False
        if any(word in NEGATORS[language] for word in words) or trouble.search(folded):
            return False
        return self._surely(lang)

    def _surely(self, lang: DetectedLanguage) -> bool:
        """Sure enough of the language to call a text with none of its complaint words
        neutral: the platform's tag (the text did not overrule it), or lingua at least 0.9
        sure (statements are too long for the common-words vote)."""
        if lang.confidence is None:
            return True
        return lang.method == "detector" and lang.confidence >= STATEMENT_MIN_CONFIDENCE


def _why(match: RuleMatch) -> str:
    return f'phrase "{match.phrase}"' + (" after a negation" if match.negated else "")


def _stars(rating: float | None, scale: float) -> float | None:
    if rating is None or scale <= 0 or math.isnan(rating):
        return None
    return round(float(rating) * 5.0 / scale, 2)


def explain(
    text: str,
    config: SentimentConfig | Config | None = None,
    *,
    language: str | None = None,
    rating: float | None = None,
    rating_scale: float = 5.0,
) -> str:
    """What `monitor sentiment "text"` prints: language, label, scores and what decided."""
    if config is not None and not isinstance(config, SentimentConfig):
        config = config.sentiment
    analyzer = SentimentAnalyzer(config)
    result, lang, verdict, why = analyzer._analyse(text, language, rating, rating_scale)
    given = normalise_code(language)
    if lang.method == "platform":
        lang_line = f"language: {lang.code} (given by the platform)"
        if lang.plausible:
            lang_line += f"; the text might be {', '.join(lang.plausible)}"
    elif lang.code == UNDETERMINED:
        lang_line = f"language unknown (confidence {lang.confidence}, {lang.method})"
    else:
        how = {"english-words": "English function words", "words": "common words"}
        lang_line = f"language: {lang.code} (confidence {lang.confidence}, "
        lang_line += how.get(lang.method, "detected") + ")"
    if given and given != lang.code:
        lang_line += f"; the platform said {given}, the text says otherwise"
    label_line = f"label: {result.label}"
    if result.label == SentimentLabel.UNSCORED:
        known = result.language and result.language != UNDETERMINED
        shown = f"language: {result.language}" if known else "language unknown"
        label_line += f" ({shown}, not scored)"
    lines = [
        lang_line,
        label_line,
        f"polarity: {_fmt(result.polarity)}  subjectivity: {_fmt(result.subjectivity)}",
        f"decided by: {result.source}" + (f" ({why})" if why else ""),
    ]
    if result.source == "rating" and verdict.label not in (SentimentLabel.UNSCORED, result.label):
        lines.append(f"text alone: {verdict.label} ({verdict.source}): the rating wins")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"
