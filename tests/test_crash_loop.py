"""Exactly once through crashes and a hostile Slack: SIGKILL at random moments, then count.

Slack fails about 40 % of calls (posts, updates and lookups alike) in every way: 500, 429 with
Retry-After, `ratelimited`, a reset before and a reset AFTER it did the work, slow and dripped
answers. Brand replies thread answered notes under the first messages. The long version is
`python bench/crash_loop.py` (figures in docs/delivery.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.support.crash_loop import run_crash_loop

pytestmark = pytest.mark.e2e


def test_sigkill_at_random_moments_while_slack_fails_every_way_loses_and_repeats_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    outcome = run_crash_loop(
        tmp_path, engine.url.render_as_string(hide_password=False), kills=5, alerts=60
    )
    print("\ncrash loop:", outcome.line())
    assert outcome.failed_calls > 0.2 * outcome.slack_calls  # Slack really was hostile
    assert outcome.duplicates == 0 and outcome.reply_duplicates == 0, outcome.line()
    assert outcome.lost == 0 and outcome.unsent == 0, outcome.line()
    assert outcome.replies > 0  # answered notes went out as thread replies
    assert outcome.out_of_order == []
    # never faster than one message a second per channel: single gaps carry the noise of a
    # loaded machine (a late arrival stamp shortens the next gap), the median carries the pace
    for channel, (median, shortest) in outcome.pace_gaps.items():
        assert median >= 0.95 and shortest >= 0.5, (channel, median, shortest)
