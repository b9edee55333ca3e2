"""TextBlob's English pattern analyser without `textblob/__init__`: the one reader of its layout.

`textblob/__init__.py` imports nltk and numpy for the TextBlob class, which the monitor does not
use: 40 MB more RSS and 0.2-0.3 s more start-up in every process that scores English (58 MB
against 18.5 MB peak after one score, 5 December 2026, Python 3.11, textblob 0.20.1).
`textblob.en.sentiment` itself needs only the standard library, so `analyser()` imports that
module under a bare stand-in `textblob` package, and takes every `textblob*` entry out of
`sys.modules` again before it returns: same module, same lexicon, same numbers, and a later
`import textblob` (tools/eval_sentiment.py, bench/) gets the whole package in its usual order.
The monitor itself never imports textblob, so no other thread meets the stand-in meanwhile.

This reads textblob's private layout (`textblob/en/__init__.py` defining `sentiment`, a
`textblob._text.lazydict`): pyproject.toml bounds textblob to the versions read, and
tests/test_textblob_pattern.py fails when the layout moves. A changed layout raises
`TextBlobLayoutChanged` here instead of scoring differently.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

# text -> textblob._text.Score: a (polarity, subjectivity) tuple with .assessments
PatternAnalyser = Callable[[str], tuple[float, float]]

_lock = threading.Lock()
_loaded: PatternAnalyser | None = None


class TextBlobLayoutChanged(RuntimeError):
    """The installed textblob no longer has the layout this module was written against."""


def analyser() -> PatternAnalyser:
    """`textblob.en.sentiment`, loaded once (thread-safe) on the first call, not at import.

    If textblob was already imported whole, its own object is returned untouched; otherwise
    our private copy, with its lexicon loaded and read as a plain dict."""
    global _loaded
    with _lock:
        if _loaded is None:
            if "textblob" in sys.modules:
                from textblob.en import sentiment

                _loaded = sentiment
            else:
                _loaded = _loaded_as_dict(_private_copy())
        return _loaded


def _private_copy() -> Any:
    spec = importlib.util.find_spec("textblob")
    if spec is None or spec.submodule_search_locations is None:
        raise TextBlobLayoutChanged("textblob is not installed as a package")
    package = types.ModuleType("textblob")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["textblob"] = package
    try:
        from textblob.en import sentiment  # its absolute imports find the stand-in above
    except ImportError as exc:
        raise TextBlobLayoutChanged(f"textblob.en.sentiment cannot be imported: {exc}") from exc
    finally:
        for name in [n for n in sys.modules if n == "textblob" or n.startswith("textblob.")]:
            del sys.modules[name]
    return sentiment


def _loaded_as_dict(lexicon: Any) -> PatternAnalyser:
    """Load the lexicon now and look words up as the dict it is.

    textblob's lazydict checks "loaded yet?" in Python on every word lookup: a fifth of the
    analyser's time (bench/ingest_bench.py). Same entries, so the same numbers. Only done to
    our own copy: nobody else holds it."""
    if not isinstance(lexicon, dict) or not callable(lexicon):
        raise TextBlobLayoutChanged(f"textblob.en.sentiment is a {type(lexicon).__name__}")
    if len(lexicon) == 0:  # the lazy dict loads on its first use
        raise TextBlobLayoutChanged("textblob.en.sentiment loaded no words")
    lexicon.__class__ = type(
        "LoadedSentiment",
        (type(lexicon),),
        {
            "__contains__": dict.__contains__,
            "__getitem__": dict.__getitem__,
            "get": dict.get,
        },
    )
    analyse: PatternAnalyser = lexicon
    return analyse
