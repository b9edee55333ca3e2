"""TextBlob's pattern analyser loads on first use, without nltk, and scores as TextBlob does.

monitor/sentiment/textblob_pattern.py reads textblob's private layout; these tests fail when it
moves."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(code: str, *, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh process: which copy we get depends on what was imported first."""
    env = None
    if pythonpath is not None:
        import os

        env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_our_lexicon_copy_scores_like_textblob_and_textblobs_own_is_untouched() -> None:
    done = run(
        """
        import json
        from monitor.sentiment import scorers
        from monitor.sentiment import textblob_pattern
        scorers.TextBlobScorer()  # loads our copy of the lexicon
        ours = textblob_pattern.analyser()
        from textblob import TextBlob
        import textblob.en
        assert ours is not textblob.en.sentiment
        assert type(textblob.en.sentiment).__name__ == "Sentiment"  # still TextBlob's class
        assert type(ours).__name__ == "LoadedSentiment"
        lines = open("tools/data/labelled_mentions.jsonl", encoding="utf-8").read().splitlines()
        texts = [json.loads(line)["text"] for line in lines if line.strip()]
        texts += ["not good at all!!", "really not bad", "I am very very happy :-)", ""]
        differ = [t for t in texts if ours(t)[:2] != TextBlob(t).sentiment]
        assert not differ, differ[:3]
        assert sum(1 for t in texts if TextBlob(t).sentiment[0]) > 40  # the lexicon was used
        print("same", len(texts))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("same ")


def test_importing_the_scorers_loads_nothing_of_textblob_and_scoring_leaves_no_trace() -> None:
    done = run(
        """
        import sys
        imported = []
        sys.addaudithook(lambda event, args: event == "import" and imported.append(args[0]))
        from monitor.sentiment import analyzer as sentiment
        from monitor.sentiment import scorers
        assert not [m for m in imported if m.startswith("textblob")]
        before = set(sys.modules)
        score = scorers.TextBlobScorer().score("The app isn't great, support was terrible")
        assert score is not None and score.label == "negative", score
        assert "textblob.en" in imported  # loaded now, on first use
        added = set(sys.modules) - before
        heavy = ("textblob", "nltk", "numpy")
        assert not [m for m in added if m.split(".")[0] in heavy], sorted(added)
        print("clean")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clean"


def test_textblob_imported_first_is_used_as_it_is() -> None:
    done = run(
        """
        import textblob.en
        from monitor.sentiment import textblob_pattern
        assert textblob_pattern.analyser() is textblob.en.sentiment
        assert type(textblob.en.sentiment).__name__ == "Sentiment"
        print("theirs")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "theirs"


def test_a_changed_textblob_layout_fails_loudly_and_leaves_sys_modules_clean(
    tmp_path: Path,
) -> None:
    # A textblob whose en/ no longer defines `sentiment` (and whose __init__ must not run).
    package = tmp_path / "textblob"
    (package / "en").mkdir(parents=True)
    (package / "__init__.py").write_text("raise AssertionError('textblob/__init__ ran')\n")
    (package / "en" / "__init__.py").write_text("analyser = None\n")
    done = run(
        """
        import sys
        from monitor.sentiment import textblob_pattern
        try:
            textblob_pattern.analyser()
        except textblob_pattern.TextBlobLayoutChanged as exc:
            print("changed:", exc)
        assert not [m for m in sys.modules if m.startswith("textblob")]
        """,
        pythonpath=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("changed: textblob.en.sentiment cannot be imported")
