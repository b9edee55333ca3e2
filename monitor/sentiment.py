"""Sentiment: a star rating decides reviews, TextBlob scores English, the rest is `unscored`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from textblob import TextBlob

from monitor.config import SentimentConfig

# TextBlob's pattern analyser sees "isn't great" as "is" + "great": expand the contraction
# so its own negation rule ("not" flips the next adjective) applies.
_NEGATED_CONTRACTION = re.compile(r"\b(\w+)n['’]t\b", re.IGNORECASE)
_IRREGULAR = {"can't": "can not", "won't": "will not", "cannot": "can not", "ain't": "is not"}
_WORD = re.compile(r"[A-Za-z']+")
# The most frequent English words; a text with almost none of them is probably not English,
# and TextBlob's 0.0 for it would mean "no idea", not "neutral".
_ENGLISH_COMMON = frozenset(
    "the a an and or but is are was were be been it this that i you he she we they my your "
    "our their me us them not no to of in on at for with from by as so do does did have has "
    "had will would can could should just very too what why how when where who all any".split()
)
MAX_SCORED_CHARS = 5000


@dataclass(frozen=True)
class Sentiment:
    label: str  # negative | neutral | positive | unscored
    polarity: float | None
    subjectivity: float | None
    source: str  # textblob | rating | rule:<name> | none
    language: str | None = None
    language_confidence: float | None = None


def expand_negations(text: str) -> str:
    lowered = text
    for short, long in _IRREGULAR.items():
        lowered = re.sub(re.escape(short), long, lowered, flags=re.IGNORECASE)
    return _NEGATED_CONTRACTION.sub(lambda m: f"{m.group(1)} not", lowered)


def looks_english(text: str) -> bool:
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return False
    common = sum(1 for w in words if w in _ENGLISH_COMMON)
    return common / len(words) >= 0.2 or (len(words) <= 3 and common > 0)


class SentimentAnalyzer:
    """Labels a mention; never calls a foreign-language text "neutral"."""

    def __init__(self, config: SentimentConfig | None = None) -> None:
        self.config = config or SentimentConfig()

    def label_for(self, polarity: float) -> str:
        if polarity <= self.config.negative_below:
            return "negative"
        if polarity >= self.config.positive_above:
            return "positive"
        return "neutral"

    def analyse(
        self,
        text: str,
        *,
        language: str | None = None,
        rating: float | None = None,
        rating_scale: float = 5.0,
    ) -> Sentiment:
        text = text[:MAX_SCORED_CHARS]
        english = language.lower().startswith("en") if language else looks_english(text)
        textblob = self._textblob(text) if english else None
        if rating is not None:
            stars = rating * 5.0 / rating_scale
            if stars <= 2:
                return Sentiment("negative", *_scores(textblob), "rating", language)
            if stars >= 4:
                return Sentiment("positive", *_scores(textblob), "rating", language)
        if textblob is None:
            return Sentiment("unscored", None, None, "none", language)
        polarity, subjectivity = textblob
        return Sentiment(
            self.label_for(polarity), polarity, subjectivity, "textblob", language or "en"
        )

    @staticmethod
    def _textblob(text: str) -> tuple[float, float]:
        blob = TextBlob(expand_negations(text))
        polarity, subjectivity = blob.sentiment
        return round(float(polarity), 4), round(float(subjectivity), 4)


def _scores(pair: tuple[float, float] | None) -> tuple[float | None, float | None]:
    return (pair[0], pair[1]) if pair else (None, None)
