"""tools/eval_sentiment.py: per-set figures, wrong platform tags, and a per-row before/after."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "eval_sentiment.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


ROWS = [
    {"text": "Paket immer noch nicht da", "language": "de", "label": "negative",
     "set": "short", "platform_language": "en"},
    {"text": "Verschrikkelijke klantenservice, nooit meer", "language": "nl", "label": "negative"},
]  # fmt: skip


def test_rows_are_reported_per_set_with_the_unscored_share(tmp_path: Path) -> None:
    done = run(str(write(tmp_path / "rows.jsonl", ROWS)))
    assert done.returncode == 0, done.stderr
    assert "set short: negatives found 1/1" in done.stdout
    assert "set original: negatives found 1/1" in done.stdout
    assert "unscored 0.0 %" in done.stdout
    assert "language detected: right for 2/2" in done.stdout  # the "en" tag was overruled


def test_compare_fails_when_a_negative_got_worse(tmp_path: Path) -> None:
    rows = write(tmp_path / "rows.jsonl", ROWS)
    saved = tmp_path / "before.jsonl"
    assert run(str(rows), "--save", str(saved)).returncode == 0
    same = run(str(rows), "--compare", str(saved))
    assert same.returncode == 0 and "negatives that got worse: 0" in same.stdout
    # an earlier run that had found the first complaint and labelled the second "negative"
    # too is matched; one that found it where we now say unscored would be flagged
    before = [json.loads(line) for line in saved.read_text("utf-8").splitlines()]
    worse_rows = [dict(ROWS[0], text="Paket ist da"), ROWS[1]]
    before[0] = dict(before[0], text="Paket ist da", predicted="negative")
    write(saved, before)
    worse = run(str(write(tmp_path / "worse.jsonl", worse_rows)), "--compare", str(saved))
    assert worse.returncode == 1
    assert "!! de negative: negative -> " in worse.stdout
    assert "negatives that got worse: 1" in worse.stdout
