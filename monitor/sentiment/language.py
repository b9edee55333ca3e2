"""Offline language detection: lingua's bundled models, restricted to the configured languages."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from monitor.sentiment.language_words import vote
from monitor.sentiment.rules import fold

UNDETERMINED = "und"
# Below this many letters even a confident guess is a coin toss ("lol", "ok!", "Hallo").
MIN_LETTERS = 4

# What a connector may hand us that is not a language: Twitter/X's "und", "zxx" (no linguistic
# content), "qme"/"qht" (media or hashtags only), "mul" (several).
_NOT_A_LANGUAGE = frozenset({"", "und", "zxx", "mul", "mis", "qme", "qht", "qam", "qct", "qst"})
# Links, @handles and the "#" of hashtags are not words of any language; they skew n-grams.
_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|\S+@\S+\.\w+")
_NOT_LETTERS = re.compile(r"[\W\d_]+")  # what is left is the letters

_lock = threading.Lock()
_detectors: dict[tuple[str, ...], Any] = {}


# Words common in English and rare as words elsewhere ("is", "in", "my", "die", "on", "to", "of"
# are Dutch, Afrikaans, Estonian or Polish words too). Lingua's low-accuracy mode mistakes short
# English for French or Norwegian ("Will the app be available on Android?" -> fr 0.95).
_ENGLISH_WORDS = frozenset(
    "the and you your you're it it's this that with not have has been are be would can can't "
    "could should what why how where when who from very they their our don't doesn't didn't "
    "i'm i've any anyone does did there about again still".split()
)
# Common English words that are words elsewhere too ("is", "in", "was", "of", "so", "a"): they
# count towards the share of English words, never towards the two distinct words asked for.
_ENGLISH_SHARED_WORDS = frozenset(
    "a an at but for get got i if in is just me my no of on or so to was we will".split()
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
PLAUSIBLE = 0.05  # a runner-up at least this confident may be the real language
# Up to this many words a text is "short": n-grams are too few for lingua's low-accuracy mode,
# so the words it shares with each language's common words decide
# (monitor/sentiment/language_words.py).
SHORT_WORDS = 8
# The vote is decisive when the winner knows at least half a word more than the runner-up
# (a word that two languages share counts half for each).
VOTE_MARGIN = 0.5
# A platform's language tag is a hint: Mastodon tags posts with the author's interface
# language. Lingua overrules it when at least this sure of a language the tag is not even a
# runner-up to; the common-words vote overrules it whenever the tag's language is no runner-up.
OVERRULE_PLATFORM = 0.8
TAG_CHECK_WORDS = 40  # words of a tagged text the word vote looks at before lingua is asked
DETECT_CHARS = 500
PARALLEL_MIN = 8  # texts in a batch before lingua's own thread pool is worth starting


@dataclass(frozen=True)
class DetectedLanguage:
    code: str  # ISO 639-1, or "und"
    confidence: float | None  # None: the platform said so, nothing was measured
    method: str = "detector"  # detector | english-words | words | platform | too-short
    # Runner-up languages the detector found plausible: short Spanish often scores as
    # Portuguese ("El servicio es pésimo": pt 0.92, es 0.07), so their complaint rules apply too.
    plausible: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def normalise_code(code: str | None) -> str | None:
    """ "en-GB", "pt_BR", "NLD" -> ISO 639-1; None when the platform did not really say."""
    if not code:
        return None
    base = re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()
    if base in _NOT_A_LANGUAGE:
        return None
    if len(base) == 2 and base.isalpha():
        return base
    if len(base) == 3 and base.isalpha():
        return _from_639_3(base)
    return None


@lru_cache(maxsize=256)
def _from_639_3(code: str) -> str | None:
    from lingua import IsoCode639_3, Language

    try:
        language = Language.from_iso_code_639_3(IsoCode639_3.from_str(code))
    except ValueError:
        return None
    return str(language.iso_code_639_1.name.lower())


def _lingua_detector(codes: tuple[str, ...]) -> Any:
    """One detector per language list per process: building it loads the models."""
    with _lock:
        detector = _detectors.get(codes)
        if detector is None:
            from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

            languages = [Language.from_iso_code_639_1(IsoCode639_1.from_str(c)) for c in codes]
            # Low-accuracy mode uses the trigram models only: ~35 MB RSS for 14 languages
            # instead of ~370 MB with all n-gram sizes (measured, see docs/sentiment.md).
            builder = LanguageDetectorBuilder.from_languages(*languages)
            detector = builder.with_low_accuracy_mode().with_preloaded_language_models().build()
            _detectors[codes] = detector
        return detector


class LanguageDetector:
    """Guesses the language of a text among `languages`; unsure or too short -> "und"."""

    def __init__(
        self,
        languages: Iterable[str],
        *,
        min_confidence: float = 0.5,
        ignore_words: Iterable[str] = (),
    ) -> None:
        self.languages = tuple(sorted(set(languages)))
        self.min_confidence = min_confidence
        self._english = "en" in self.languages
        # Brand and product names are no language's words: "thanks acme!" is Afrikaans to
        # lingua with "acme" and English without it.
        names = sorted({w.strip() for w in ignore_words if w.strip()}, key=len, reverse=True)
        self._ignore = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)", re.I)
            if names
            else None
        )

    def detect(self, text: str, hint: str | None = None) -> DetectedLanguage:
        return self.detect_many([text], [hint])[0]

    def detect_many(
        self, texts: Sequence[str], hints: Sequence[str | None] | None = None
    ) -> list[DetectedLanguage]:
        """`detect` for a batch: lingua scores the batch on all cores in its own threads (half
        the wall time on two cores; it holds the GIL meanwhile: bench/README.md). `hints` are
        the platforms' language tags (ISO 639-1 or None), one per text."""
        results: list[DetectedLanguage | None] = []
        pending: list[tuple[int, str]] = []
        for number, text in enumerate(texts):
            # The first few hundred characters tell the language; lingua's cost grows with length.
            cleaned = _NOISE.sub(" ", text[:DETECT_CHARS])
            if self._ignore is not None:
                cleaned = self._ignore.sub(" ", cleaned)
            hint = hints[number] if hints is not None else None
            others = self._tag_fits(cleaned, hint) if hint else None
            if hint and others is not None:
                # The text's common words agree with the tag: lingua is not asked (it costs as
                # much CPU as TextBlob's scoring; bench/ingest_bench.py).
                results.append(DetectedLanguage(hint, None, "platform", others))
                continue
            letters = len(_NOT_LETTERS.sub("", cleaned))  # cheaper than a list of letters
            if letters < MIN_LETTERS:
                results.append(DetectedLanguage(UNDETERMINED, 0.0, "too-short"))
            elif self._english and (share := english_share(cleaned)) is not None:
                # Plainly English by its function words: lingua would agree and costs as much
                # CPU per text as TextBlob's scoring; two in three English texts skip it.
                results.append(DetectedLanguage("en", share, "english-words"))
            elif (voted := self._vote(cleaned)) is not None:
                results.append(voted)
            else:
                pending.append((len(results), cleaned))
                results.append(None)
        if pending:
            detector = _lingua_detector(self.languages)
            batch = [cleaned for _, cleaned in pending]
            if len(batch) < PARALLEL_MIN:  # starting the worker threads costs more
                ranked_all = [detector.compute_language_confidence_values(t) for t in batch]
            else:
                ranked_all = detector.compute_language_confidence_values_in_parallel(batch)
            for (index, _), ranked in zip(pending, ranked_all, strict=True):
                results[index] = self._decide(ranked)
        found = [r for r in results if r is not None]
        if hints is None:
            return found
        return [self._with_hint(r, hint) for r, hint in zip(found, hints, strict=True)]

    def _tag_fits(self, cleaned: str, hint: str) -> tuple[str, ...] | None:
        """The close runner-ups when the tagged language has at least half the top score of
        the word vote over the first words, else None: a mislabelled post (German tagged
        "en") shares few words with the tag's language."""
        if hint not in self.languages:
            return None  # a language we do not detect: only the detector can contradict it
        ranked, _ = vote(_WORD.findall(fold(cleaned))[:TAG_CHECK_WORDS], self.languages)
        if not ranked or dict(ranked).get(hint, 0.0) * 2 < ranked[0][1]:
            return None  # no word we know, or the words say otherwise: the detector looks
        top = ranked[0][1]
        return tuple(code for code, score in ranked[:4] if code != hint and score * 2 >= top)

    def _vote(self, cleaned: str) -> DetectedLanguage | None:
        """A short text's language by its common words, when one language clearly leads."""
        words = _WORD.findall(fold(cleaned))
        if not words or len(words) > SHORT_WORDS:
            return None
        ranked, known = vote(words, self.languages)
        if not ranked or known * 2 < len(set(words)):
            return None  # mostly words no list knows (names, rarer words): lingua reads those
        best, score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if score - runner_up < VOTE_MARGIN:
            return None
        total = sum(s for _, s in ranked)
        plausible = tuple(code for code, s in ranked[1:4] if s >= 0.5)
        return DetectedLanguage(best, round(score / total, 3), "words", plausible)

    def _with_hint(self, found: DetectedLanguage, hint: str | None) -> DetectedLanguage:
        """The platform's tag, unless the text plainly says otherwise (see OVERRULE_PLATFORM)."""
        if not hint:
            return found
        if hint == found.code:  # confirmed (or not measured): the runner-ups still count
            return DetectedLanguage(hint, None, "platform", found.plausible)
        if found.code == UNDETERMINED:
            return DetectedLanguage(hint, None, "platform")  # nothing measured against the tag
        # A close call (nl/af, da/nb, es/pt: the tag is a runner-up) goes to the tag.
        close_call = hint in found.plausible and found.method != "english-words"
        sure = found.method in ("english-words", "words") or (
            (found.confidence or 0.0) >= OVERRULE_PLATFORM
        )
        if sure and not close_call:
            return found  # the text plainly is another language
        # The tag wins; the detector's guess stays plausible, so its complaint phrases count.
        others = (found.code, *(c for c in found.plausible if c != hint))
        return DetectedLanguage(hint, None, "platform", others)

    def _decide(self, ranked: Any) -> DetectedLanguage:
        best_code, confidence = UNDETERMINED, 0.0
        if ranked and ranked[0].value > 0.0:  # all zero: a script none of the languages use
            best_code = ranked[0].language.iso_code_639_1.name.lower()
            confidence = round(float(ranked[0].value), 3)
        plausible = tuple(
            c.language.iso_code_639_1.name.lower() for c in ranked[:4] if c.value >= PLAUSIBLE
        )
        if best_code == UNDETERMINED or confidence < self.min_confidence:
            return DetectedLanguage(UNDETERMINED, confidence)
        return DetectedLanguage(best_code, confidence, plausible=plausible[1:])

    def warm_up(self) -> None:
        """Build the detector now (start-up) rather than on the first mention."""
        _lingua_detector(self.languages)


def english_share(text: str) -> float | None:
    """Share of English function words, when at least two distinct ones are English only and
    the share is at least 25 %."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    own = {w for w in words if w in _ENGLISH_WORDS}
    if len(own) < 2:
        return None
    hits = sum(1 for w in words if w in _ENGLISH_WORDS or w in _ENGLISH_SHARED_WORDS)
    if hits * 4 < len(words):
        return None
    return round(hits / len(words), 3)
