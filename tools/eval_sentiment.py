"""Run the sentiment analyser over a labelled JSONL file; print confusion matrices and rates.

Usage: python tools/eval_sentiment.py [FILE] [--config config.toml] [--trust-language] [--speed]

Each line: {"text": ..., "language": "nl", "label": "negative|neutral|positive", "rating": 4?}.
By default the language is detected (as for platforms that give none); --trust-language passes
the file's language as if the platform had given it. --speed also times TextBlob alone against
the full analyser over the same texts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.config import SentimentConfig, load_config
from monitor.sentiment import SentimentAnalyzer

DEFAULT_FILE = Path(__file__).parent / "data" / "labelled_mentions.jsonl"
TRUE = ("negative", "neutral", "positive")
PREDICTED = ("negative", "neutral", "positive", "unscored")


def load(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            if row.get("label") not in TRUE:
                raise SystemExit(f"{path}:{number}: label must be one of {', '.join(TRUE)}")
            rows.append(row)
    return rows


def matrix(pairs: list[tuple[str, str]], title: str) -> str:
    counts = Counter(pairs)
    width = 10
    lines = [f"{title} ({len(pairs)} mentions): rows = true label, columns = predicted"]
    lines.append(" " * width + "".join(p[:9].rjust(width) for p in PREDICTED))
    for truth in TRUE:
        cells = "".join(str(counts[(truth, p)]).rjust(width) for p in PREDICTED)
        lines.append(truth.ljust(width) + cells)
    return "\n".join(lines)


def figures(pairs: list[tuple[str, str]]) -> dict[str, float | int]:
    negatives = [p for t, p in pairs if t == "negative"]
    scored = [(t, p) for t, p in pairs if p != "unscored"]
    return {
        "mentions": len(pairs),
        "negatives": len(negatives),
        "negatives_found": sum(p == "negative" for p in negatives),
        "negative_as_positive": sum(p == "positive" for p in negatives),
        "negative_as_neutral": sum(p == "neutral" for p in negatives),
        "negative_unscored": sum(p == "unscored" for p in negatives),
        "scored": len(scored),
        "correct_when_scored": sum(t == p for t, p in scored),
    }


def pct(part: int | float, whole: int | float) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "n/a"


def summary(name: str, f: dict[str, float | int]) -> str:
    return (
        f"{name}: negatives found {f['negatives_found']}/{f['negatives']} "
        f"({pct(f['negatives_found'], f['negatives'])}); negative->positive "
        f"{f['negative_as_positive']}; negative->neutral {f['negative_as_neutral']}; "
        f"negative->unscored {f['negative_unscored']}; scored {f['scored']}/{f['mentions']} "
        f"({pct(f['scored'], f['mentions'])}); accuracy when scored "
        f"{pct(f['correct_when_scored'], f['scored'])}"
    )


def speed(analyzer: SentimentAnalyzer, texts: list[str], rounds: int = 7) -> str:
    """CPU time, best of `rounds` alternating passes: other processes on a shared machine
    distort wall-clock rates by 2x either way."""
    from textblob import TextBlob

    def textblob_alone(text: str) -> None:
        TextBlob(text).sentiment  # noqa: B018

    analyzer.warm_up()
    best = {"textblob": 0.0, "analyse": 0.0}
    for _ in range(rounds):
        for name, run in (("textblob", textblob_alone), ("analyse", analyzer.analyse)):
            start = time.process_time()
            for text in texts:
                run(text)
            best[name] = max(best[name], len(texts) / max(time.process_time() - start, 1e-9))
    return (
        f"speed (CPU time, best of {rounds} passes): TextBlob(text).sentiment alone "
        f"{best['textblob']:,.0f} texts/s; full analyse() {best['analyse']:,.0f} texts/s "
        f"({pct(best['analyse'], best['textblob'])} of TextBlob alone)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--config", type=Path, help="a monitor config.toml ([sentiment] used)")
    parser.add_argument("--trust-language", action="store_true")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--show-errors", action="store_true", help="list every miss")
    args = parser.parse_args(argv)

    config = load_config(args.config).sentiment if args.config else SentimentConfig()
    analyzer = SentimentAnalyzer(config)
    rows = load(args.file)
    by_language: dict[str, list[tuple[str, str]]] = defaultdict(list)
    detected_right = 0
    misses = []
    for row in rows:
        result = analyzer.analyse(
            row["text"],
            language=row["language"] if args.trust_language else None,
            rating=row.get("rating"),
        )
        detected_right += result.language == row["language"]
        by_language[row["language"]].append((row["label"], result.label))
        if result.label != row["label"]:
            misses.append((row, result))

    everything = [pair for pairs in by_language.values() for pair in pairs]
    for language in sorted(by_language):
        print(matrix(by_language[language], f"[{language}]"))
        print(summary(language, figures(by_language[language])))
        print()
    print(matrix(everything, "[all]"))
    print(summary("all", figures(everything)))
    mode = "given" if args.trust_language else "detected"
    right = pct(detected_right, len(rows))
    print(f"language {mode}: right for {detected_right}/{len(rows)} ({right})")
    if args.show_errors:
        print("\nmisses:")
        for row, result in misses:
            note = f" [{row['note']}]" if row.get("note") else ""
            print(
                f"  {row['language']} {row['label']} -> {result.label} via {result.source} "
                f"(detected {result.language}){note}: {row['text']}"
            )
    if args.speed:
        print(speed(analyzer, [row["text"] for row in rows]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
