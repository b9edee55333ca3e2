"""Text scorers: TextBlob for English, emoji and social-media signals for any language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

from monitor.sentiment import textblob_pattern

Label = Literal["negative", "neutral", "positive"]

# Emoji carry the same feeling in every language. Variation selectors and skin tones are
# stripped before the lookup. 😂 and 🔥 are left out: they laugh *at* us as often as *with* us.
NEGATIVE_EMOJI = frozenset("😡😠🤬👎💩😤😞😢😭🙄😒🤮🤢💔😩😫☹🙁😖😣😑🖕😾😿🤡")
POSITIVE_EMOJI = frozenset("❤♥💕💖💗💙💚💛💜🧡😍🥰👍😊😀😃😄😁🙂🎉🙌👏💯⭐🌟😘🤩✨🥳👌🙏")
_EMOJI = re.compile("[" + "".join(sorted(NEGATIVE_EMOJI | POSITIVE_EMOJI)) + "]")
# Social-media shorthand TextBlob does not know, or knows wrongly: it scores "lol" +0.8, which
# turns "another outage lol" into praise; laughter says nothing about the brand, so drop it.
NEGATIVE_SLANG = frozenset({"smh", "ffs", "fml", "ugh", "wtf", "wth", "meh", "smdh", "fail"})
POSITIVE_SLANG = frozenset({"yay", "woohoo", "thx", "ty", "kudos"})
_SLANG = re.compile(
    r"(?<![\w#@])(" + "|".join(sorted(NEGATIVE_SLANG | POSITIVE_SLANG)) + r")(?!\w)", re.IGNORECASE
)
_LAUGHTER = re.compile(r"(?<![\w#@])(?:lol+|lmf?ao+|rofl|haha(?:ha)*|hehe(?:he)*|xd)(?!\w)", re.I)
_SHOUTED_WORD = re.compile(r"\b[A-Z]{3,}\b")
_WORD = re.compile(r"\b[^\W\d_]{3,}\b")
_REPEATED_MARKS = re.compile(r"[!?]{2,}")
# TextBlob's pattern analyser sees "isn't great" as "is" + "great": expand the contraction
# so its own negation rule ("not" flips the next adjective) applies.
_NEGATED_CONTRACTION = re.compile(r"\b(\w+)n['’]t\b", re.IGNORECASE)
_IRREGULAR = re.compile(r"\b(can['’]t|won['’]t|cannot|ain['’]t)\b", re.IGNORECASE)
_IRREGULAR_LONG = {"can": "can not", "won": "will not", "cannot": "can not", "ain": "is not"}
EMOJI_WEIGHT = 0.25  # one emoji moves a TextBlob polarity by this much, at most twice
SHOUT_FACTOR = 1.5


@dataclass(frozen=True)
class Score:
    label: Label
    polarity: float
    subjectivity: float | None
    source: str  # "textblob" | "emoji"
    note: str = ""  # why, for `monitor sentiment` output


@dataclass(frozen=True)
class Signals:
    positive: int  # emoji and slang pointing up
    negative: int
    shouting: bool  # mostly ALL CAPS words
    emphatic: bool  # "!!" or "???"

    @property
    def balance(self) -> int:
        return self.positive - self.negative


class Scorer(Protocol):
    """Scores one text in the language it is configured for; None means "cannot judge"."""

    name: str

    def score(self, text: str) -> Score | None: ...


def signals(text: str) -> Signals:
    """Counts emoji and shorthand, and notices shouting; cheap enough for every mention."""
    positive = negative = 0
    # every emoji is outside ASCII, and most texts are ASCII: isascii() is far cheaper
    for char in () if text.isascii() else _EMOJI.findall(text):
        if char in NEGATIVE_EMOJI:
            negative += 1
        else:
            positive += 1
    for word in _SLANG.findall(text):
        if word.lower() in NEGATIVE_SLANG:
            negative += 1
        else:
            positive += 1
    shouted = _SHOUTED_WORD.findall(text)
    # count the words only when it can matter: most texts have fewer than two shouted
    shouting = len(shouted) >= 2 and len(shouted) * 2 >= len(_WORD.findall(text))
    return Signals(positive, negative, shouting, bool(_REPEATED_MARKS.search(text)))


def expand_negations(text: str) -> str:
    """ "isn't" -> "is not", "won't" -> "will not", so TextBlob's negation rule sees a "not"."""
    text = _IRREGULAR.sub(lambda m: _IRREGULAR_LONG[re.split("['’]", m.group(1).lower())[0]], text)
    return _NEGATED_CONTRACTION.sub(lambda m: f"{m.group(1)} not", text)


def _label(polarity: float, negative_below: float, positive_above: float) -> Label:
    if polarity <= negative_below:
        return "negative"
    if polarity >= positive_above:
        return "positive"
    return "neutral"


def _clamp(value: float) -> float:
    return round(max(-1.0, min(1.0, value)), 4)


class EmojiScorer:
    """Any language: emoji and shorthand only; no signal means it cannot judge."""

    name = "emoji"

    def __init__(self, negative_below: float = -0.1, positive_above: float = 0.1) -> None:
        self.negative_below = negative_below
        self.positive_above = positive_above

    def score(self, text: str) -> Score | None:
        found = signals(text)
        if found.positive == found.negative == 0:
            return None
        polarity = _clamp(found.balance / (found.positive + found.negative))
        note = f"{found.positive} positive / {found.negative} negative emoji or shorthand"
        label = _label(polarity, self.negative_below, self.positive_above)
        return Score(label, polarity, None, "emoji", note)


class TextBlobScorer:
    """English: TextBlob's pattern lexicon, with negations expanded, emoji and shouting added."""

    name = "textblob"

    def __init__(self, negative_below: float = -0.1, positive_above: float = 0.1) -> None:
        self.negative_below = negative_below
        self.positive_above = positive_above
        # What TextBlob(text).sentiment computes, minus building a blob and a namedtuple class
        # per call (textblob.en.sentiments.PatternAnalyzer.analyze does both): ~30 % faster.
        self._pattern = textblob_pattern.analyser()

    def score(self, text: str) -> Score | None:
        found = signals(text)
        cleaned = _LAUGHTER.sub(" ", text if text.isascii() else _EMOJI.sub(" ", text))
        polarity, subjectivity = (float(v) for v in self._pattern(expand_negations(cleaned)))
        opinionated = bool(polarity or subjectivity)
        notes = []
        if found.balance:
            shift = EMOJI_WEIGHT * max(-2, min(2, found.balance))
            polarity += shift
            notes.append(f"emoji/shorthand {shift:+.2f}")
        if found.shouting or (found.emphatic and polarity):
            polarity *= SHOUT_FACTOR
            notes.append("shouting x1.5" if found.shouting else "!!/?? x1.5")
        if found.shouting and found.emphatic and not opinionated and not found.balance:
            # "WHERE IS MY ORDER???": no opinion word, but nobody shouts praise as a question.
            polarity = self.negative_below
            notes.append("shouted with no opinion words")
        polarity = _clamp(polarity)
        source = "textblob" if opinionated or not found.balance else "emoji"
        label = _label(polarity, self.negative_below, self.positive_above)
        return Score(label, polarity, round(subjectivity, 4), source, "; ".join(notes))
