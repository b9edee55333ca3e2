"""The demo's own data read as a manager reads it: 1 answered of 5 is 20 %, never 100 %."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.demo import run_demo
from monitor.reports.command import render_report
from monitor.slack.commands import report_text
from monitor.store.db import open_store

# A Friday afternoon: reddit's mention of 11:30 is past its 4 business hours, the three of
# the last hour are not yet due (the clock stops at 17:00 and resumes on Monday).
NOW = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    run_demo(folder, NOW)
    return folder / "demo.toml"


def test_demo_reddit_reply_rate_and_sla_compliance_in_every_format(demo: Path) -> None:
    config = load_config(demo)
    engine = open_store(config.storage.resolved_url())
    try:

        def report(fmt: str) -> str:
            return render_report(
                config, engine, since="7d", until=None, by="platform", fmt=fmt, now=NOW
            )

        data = json.loads(report("json"))
        reddit = next(g for g in data["groups"] if g["group"] == "reddit")
        assert (reddit["mentions"], reddit["answered"], reddit["expecting_reply"]) == (5, 1, 5)
        assert reddit["reply_rate"] == 0.2
        assert (reddit["open_past_sla"], reddit["open_not_due"]) == (1, 3)
        # 1 answered within target of 1 answered + 1 open past due; not-yet-due stay out
        assert reddit["sla_rate"] == 0.5
        line = next(x for x in report("text").splitlines() if x.startswith("reddit "))
        # mentions, expect reply, answered, not exact, reply rate
        assert line.split()[:6] == ["reddit", "5", "5", "1", "0", "20%"]
        assert line.split()[-1] == "50%"
        csv_line = next(x for x in report("csv").splitlines() if ",reddit," in x)
        assert ",0.2," in csv_line and ",0.5," in csv_line
        # the Slack answer to `/monitor report 7d` reads the same numbers
        slack = report_text(config, engine, NOW, 7 * 86400.0, "7d")
        total = data["total"]
        assert f"• reply rate: {100 * total['reply_rate']:.0f} %" in slack
        assert f"({total['answered']} answered, {total['open']} open" in slack
        assert f"• SLA compliance: {100 * total['sla_rate']:.0f} %" in slack
    finally:
        engine.dispose()
