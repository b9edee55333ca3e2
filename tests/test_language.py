"""Language detection: offline, restricted to the configured languages, unsure means "und"."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from typing import NoReturn

import pytest
from lingua import ConfidenceValue

from monitor.config import SentimentConfig
from monitor.sentiment.language import LanguageDetector, _lingua_detector, normalise_code

LANGUAGES = SentimentConfig().languages


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(LANGUAGES, min_confidence=0.5)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Mijn pakket is al twee weken onderweg en niemand reageert op mijn mails.", "nl"),
        ("Rakendus jookseb pidevalt kokku, täiesti kasutu", "et"),
        ("El servicio es pésimo, nunca más compro aquí", "es"),
        ("Die App stürzt ständig ab, total nutzlos.", "de"),
        ("Baie teleurgesteld met julle diens, nooit weer nie", "af"),
        ("I was charged twice for the same subscription and can't get a refund", "en"),
    ],
)
def test_detects_the_language_of_a_customer_mention(
    detector: LanguageDetector, text: str, code: str | None
) -> None:
    found = detector.detect(text)
    assert found.code == code
    assert found.confidence is not None and found.confidence >= 0.5


def test_short_english_question_is_english_thanks_to_function_words(
    detector: LanguageDetector,
) -> None:
    # lingua's low-accuracy mode alone says French (0.95) for this one.
    found = detector.detect("Will the app be available on Android?")
    assert (found.code, found.method) == ("en", "english-words")


def test_plain_english_is_told_by_its_function_words_without_the_detector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # lingua costs as much CPU per text as TextBlob's scoring; English that says so in its
    # function words needs neither its models nor its time (bench/ingest_bench.py)
    texts = [
        "I was charged twice for the same subscription and I still have not been able to get "
        "a refund from your support team, which is why I am writing this here again.",
        "Mijn pakket is al twee weken onderweg en niemand reageert op mijn mails.",
        # Dutch with words English shares ("is", "in", "was", "so"): not two English-only ones
        "Het was zo slecht, de app is in een week twee keer gecrasht, so sad.",
    ]
    asked: list[str] = []
    real = _lingua_detector(tuple(sorted(set(LANGUAGES))))

    class Spy:
        def compute_language_confidence_values(self, text: str) -> list[ConfidenceValue]:
            asked.append(text)
            values: list[ConfidenceValue] = real.compute_language_confidence_values(text)
            return values

    monkeypatch.setattr("monitor.sentiment.language._lingua_detector", lambda codes: Spy())
    english, dutch, dutch_too = LanguageDetector(LANGUAGES).detect_many(texts)
    assert (english.code, english.method) == ("en", "english-words")
    assert english.confidence is not None and english.confidence >= 0.25
    assert (dutch.code, dutch.method) == ("nl", "detector")
    assert (dutch_too.code, dutch_too.method) == ("nl", "detector")
    assert asked == texts[1:]  # only the Dutch texts went to the detector


def test_no_english_shortcut_when_english_is_not_a_configured_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    real = _lingua_detector(("de", "nl"))

    class Spy:
        def compute_language_confidence_values(self, text: str) -> list[ConfidenceValue]:
            asked.append(text)
            values: list[ConfidenceValue] = real.compute_language_confidence_values(text)
            return values

    monkeypatch.setattr("monitor.sentiment.language._lingua_detector", lambda codes: Spy())
    text = "The app would not open and you never answered any of my emails about it."
    found = LanguageDetector(["de", "nl"]).detect(text)
    assert found.code != "en" and asked == [text]


@pytest.mark.parametrize("text", ["lol", "ok!", "👍👍", "https://t.co/abc @acme #fail"])
def test_too_short_to_tell_is_undetermined(detector: LanguageDetector, text: str) -> None:
    assert detector.detect(text).code == "und"


@pytest.mark.parametrize(
    ("text", "too_short"),
    [
        ("abc 123 ___ !!!", True),  # digits, underscores and marks are not letters
        ("abcd 123", False),
        ("ÄÖÜ 4", True),
        ("ÄÖÜß", False),  # letters outside ASCII count
        ("日本 @acme1234 https://x.y/abcdef", True),  # handles and links are dropped first
    ],
)
def test_only_letters_count_towards_the_minimum(
    detector: LanguageDetector, text: str, too_short: bool
) -> None:
    assert (detector.detect(text).method == "too-short") is too_short


def test_script_of_no_configured_language_is_undetermined(detector: LanguageDetector) -> None:
    found = detector.detect("Это просто ужасный сервис, верните деньги")
    assert found.code == "und"


def test_low_confidence_is_undetermined_but_keeps_the_confidence(
    detector: LanguageDetector,
) -> None:
    found = detector.detect("Normal, ni bien ni mal.")
    assert found.code == "und"
    assert found.confidence is not None and 0 < found.confidence < 0.5


def test_the_lingua_detector_is_built_once_per_language_list() -> None:
    first = LanguageDetector(["en", "nl"])
    second = LanguageDetector(["nl", "en"])
    assert _lingua_detector(first.languages) is _lingua_detector(second.languages)


@pytest.mark.parametrize(
    ("given", "code"),
    [("en-GB", "en"), ("pt_BR", "pt"), ("NL", "nl"), ("nld", "nl"), ("est", "et"),
     ("und", None), ("zxx", None), ("qme", None), ("", None), (None, None), ("x-klingon", None)],
)  # fmt: skip
def test_platform_language_codes_are_normalised_to_iso_639_1(
    given: str | None, code: str | None
) -> None:
    assert normalise_code(given) == code


def test_detection_works_with_networking_disabled_in_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    detector = LanguageDetector(["fi", "pl", "sv"])  # a list no other test built
    assert detector.detect("Dziękuję bardzo, wszystko działa świetnie").code == "pl"


def test_a_fresh_process_loads_the_models_with_networking_disabled() -> None:
    script = textwrap.dedent(
        """
        import json, socket
        def refuse(*args, **kwargs):
            raise OSError("network disabled by the test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from monitor.sentiment.analyzer import SentimentAnalyzer
        analyzer = SentimentAnalyzer()
        result = analyzer.analyse("Verschrikkelijke klantenservice, nooit meer")
        print(json.dumps([result.language, result.label, result.source]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["nl", "negative", "rule:builtin-nl-negative"]
