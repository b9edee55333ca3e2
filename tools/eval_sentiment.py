"""Run the sentiment analyser over a labelled JSONL file; print confusion matrices and rates.

Usage: python tools/eval_sentiment.py [FILE] [--config config.toml] [--trust-language] [--speed]
       [--save RESULTS.jsonl] [--compare RESULTS.jsonl] [--show-errors]

Each line: {"text": ..., "language": "nl", "label": "negative|neutral|positive", "rating": 4?,
"set": "short"?, "platform_language": "en"?}. By default the language is detected (as for
platforms that give none), except that a row's "platform_language" is passed as the platform's
tag: a Mastodon post tagged with the author's UI language rather than the post's. With
--trust-language the file's own (true) language is passed instead. Rows are reported per
language and per "set" (original, short 1-8 word social texts, news). --save writes each row's
result; --compare reads such a file from an earlier run and lists every row whose label changed,
failing (exit 1) when a negative got worse. --speed also times TextBlob alone against the full
analyser over the same texts.
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
from monitor.sentiment.analyzer import SentimentAnalyzer

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
        "unscored": len(pairs) - len(scored),
    }


def pct(part: int | float, whole: int | float) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "n/a"


def summary(name: str, f: dict[str, float | int]) -> str:
    return (
        f"{name}: negatives found {f['negatives_found']}/{f['negatives']} "
        f"({pct(f['negatives_found'], f['negatives'])}); negative->positive "
        f"{f['negative_as_positive']}; negative->neutral {f['negative_as_neutral']}; "
        f"negative->unscored {f['negative_unscored']}; scored {f['scored']}/{f['mentions']} "
        f"({pct(f['scored'], f['mentions'])}; unscored {pct(f['unscored'], f['mentions'])}); "
        "accuracy when scored "
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


# How bad a label is for a true negative: missing a complaint is worst, unscored at least says so.
_NEGATIVE_RANK = {"negative": 0, "unscored": 1, "neutral": 2, "positive": 3}


def load_results(path: Path) -> dict[str, dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {r["text"]: r for r in (json.loads(line) for line in lines if line.strip())}


def compare(before: dict[str, dict], after: list[dict]) -> int:
    """Print every row whose label changed; return how many true negatives got worse."""
    worse = 0
    print("\nchanged since the earlier run:")
    for row in after:
        old = before.get(row["text"])
        if old is None or old["predicted"] == row["predicted"]:
            continue
        mark = "  "
        rank_now, rank_before = _NEGATIVE_RANK[row["predicted"]], _NEGATIVE_RANK[old["predicted"]]
        if row["label"] == "negative" and rank_now > rank_before:
            mark, worse = "!!", worse + 1
        print(
            f"{mark} {row['language']} {row['label']}: {old['predicted']} -> {row['predicted']} "
            f"(detected {old['detected']} -> {row['detected']}): {row['text']}"
        )
    print(f"negatives that got worse: {worse}")
    return worse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--config", type=Path, help="a monitor config.toml ([sentiment] used)")
    parser.add_argument("--trust-language", action="store_true")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--show-errors", action="store_true", help="list every miss")
    parser.add_argument("--save", type=Path, help="write each row's result (JSONL)")
    parser.add_argument("--compare", type=Path, help="a --save file from an earlier run")
    args = parser.parse_args(argv)

    config = load_config(args.config).sentiment if args.config else SentimentConfig()
    if not config.brand_names:  # the labelled set's customers write to "acme"
        config = config.model_copy(update={"brand_names": ["acme"]})
    analyzer = SentimentAnalyzer(config)
    rows = load(args.file)
    by_language: dict[str, list[tuple[str, str]]] = defaultdict(list)
    by_set: dict[str, list[tuple[str, str]]] = defaultdict(list)
    language_right: Counter[str] = Counter()
    misses = []
    results = []
    for row in rows:
        given = row["language"] if args.trust_language else row.get("platform_language")
        result = analyzer.analyse(row["text"], language=given, rating=row.get("rating"))
        subset = row.get("set", "original")
        language_right["all"] += result.language == row["language"]
        language_right[subset] += result.language == row["language"]
        by_language[row["language"]].append((row["label"], result.label))
        by_set[subset].append((row["label"], result.label))
        results.append(
            {
                "text": row["text"],
                "label": row["label"],
                "predicted": result.label,
                "language": row["language"],
                "detected": result.language,
            }
        )
        if result.label != row["label"]:
            misses.append((row, result))

    everything = [pair for pairs in by_language.values() for pair in pairs]
    for language in sorted(by_language):
        print(matrix(by_language[language], f"[{language}]"))
        print(summary(language, figures(by_language[language])))
        print()
    for subset in sorted(by_set):
        print(matrix(by_set[subset], f"[set {subset}]"))
        print(summary(f"set {subset}", figures(by_set[subset])))
        right, total = language_right[subset], len(by_set[subset])
        print(f"set {subset}: language right for {right}/{total} ({pct(right, total)})")
        print()
    print(matrix(everything, "[all]"))
    print(summary("all", figures(everything)))
    mode = "given" if args.trust_language else "detected"
    right = language_right["all"]
    print(f"language {mode}: right for {right}/{len(rows)} ({pct(right, len(rows))})")
    if args.show_errors:
        print("\nmisses:")
        for row, result in misses:
            note = f" [{row['note']}]" if row.get("note") else ""
            print(
                f"  {row['language']} {row['label']} -> {result.label} via {result.source} "
                f"(detected {result.language}){note}: {row['text']}"
            )
    if args.save:
        lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in results)
        args.save.write_text("".join(lines), encoding="utf-8")
    worse = compare(load_results(args.compare), results) if args.compare else 0
    if args.speed:
        print(speed(analyzer, [row["text"] for row in rows]))
    return 1 if worse else 0


if __name__ == "__main__":
    raise SystemExit(main())
