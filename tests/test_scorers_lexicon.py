"""Our copy of TextBlob's pattern lexicon scores as TextBlob does; TextBlob's own is left alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_our_lexicon_copy_scores_like_textblob_and_textblobs_own_is_untouched() -> None:
    # A fresh process: which copy we get depends on whether textblob was imported first.
    code = textwrap.dedent(
        """
        import json
        from monitor import scorers
        scorers.TextBlobScorer()  # loads our copy of the lexicon
        from textblob import TextBlob
        import textblob.en
        assert scorers._OWN_COPY
        assert scorers.pattern_sentiment is not textblob.en.sentiment
        assert type(textblob.en.sentiment).__name__ == "Sentiment"  # still TextBlob's class
        assert type(scorers.pattern_sentiment).__name__ == "LoadedSentiment"
        lines = open("tools/data/labelled_mentions.jsonl", encoding="utf-8").read().splitlines()
        texts = [json.loads(line)["text"] for line in lines if line.strip()]
        texts += ["not good at all!!", "really not bad", "I am very very happy :-)", ""]
        differ = [t for t in texts if scorers.pattern_sentiment(t)[:2] != TextBlob(t).sentiment]
        assert not differ, differ[:3]
        assert sum(1 for t in texts if TextBlob(t).sentiment[0]) > 40  # the lexicon was used
        print("same", len(texts))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("same ")
