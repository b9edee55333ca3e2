"""`monitor demo` runs offline on the bundled data and tells the truth about it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa


def test_demo_runs_offline_and_prints_alerts_and_a_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SLACK_BOT_TOKEN"}
    # as the README runs it: the default folder, relative to where the user stands
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--dir", "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    out = result.stdout
    assert "Demo summary: 44 mentions stored from 18 platforms" in out
    assert out.count("ALERT #brand-alerts") >= 10
    assert "Sentiment: negative " in out
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'demo' / 'demo.db'}")
    with engine.connect() as conn:
        answered = conn.execute(
            sa.text("select count(*) from mention where status='answered'")
        ).scalar()
        alerts = conn.execute(sa.text("select count(*), sum(state='sent') from alert")).one()
        dutch = conn.execute(sa.text("select sentiment from mention where external_id='109003'"))
        dutch_label = dutch.scalar()
    engine.dispose()
    assert answered == 12
    assert dutch_label in ("negative", "unscored"), "a Dutch complaint is never neutral"
    assert alerts[0] == alerts[1] and f"Alerts decided: {alerts[0]};" in out
    # the bot's instant auto-reply to t3_dm01 did not count as an answer
    assert "frustrated_fran" in out


def test_demo_writes_to_the_user_data_directory_not_the_current_one(tmp_path: Path) -> None:
    here = tmp_path / "checkout"
    here.mkdir()
    data = tmp_path / "xdg-data"
    env = {k: v for k, v in os.environ.items() if k != "SLACK_BOT_TOKEN"}
    env["XDG_DATA_HOME"] = str(data)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=here,
        check=True,
        timeout=120,
    )
    folder = data / "social-response-monitor" / "demo"
    assert list(here.iterdir()) == [], "nothing is written where the user stands"
    assert (folder / "demo.db").is_file() and (folder / "demo.toml").is_file()
    assert result.stdout.startswith(f"demo files go to {folder}\n")
    assert f"Demo files (sample, config, database): {folder}" in result.stdout
    assert f"monitor --config {folder / 'demo.toml'} status" in result.stdout
