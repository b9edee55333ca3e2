"""`monitor demo`: the whole path offline on bundled sample mentions, printed to the console."""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections import Counter
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sqlmodel import select

from connectors.durations import format_duration
from connectors.http import make_client
from monitor.alerting.outbox import Dispatcher
from monitor.alerting.sinks import make_sink
from monitor.config import Config, load_config
from monitor.ingest.pipeline import Pipeline
from monitor.sentiment.language import UNDETERMINED
from monitor.states import MentionStatus, SentimentLabel
from monitor.store.db import open_store
from monitor.store.db import session as open_session
from monitor.store.models import Mention

DEMO_IDENTITIES: list[dict[str, Any]] = [
    {"platform": "reddit", "handle": "AcmeAutoBot", "bot": True},
    {"platform": "reddit", "handle": "AcmeSupport"},
]


def default_folder() -> Path:
    """The user's data directory (XDG on Linux), never the folder the user happens to stand in."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "social-response-monitor" / "demo"


def materialise(target: Path, now: datetime) -> Path:
    """Write the bundled sample with times relative to now, so ages and SLAs look real."""
    source = resources.files("monitor").joinpath("demo_data/mentions.jsonl").read_text("utf-8")
    lines = []
    for raw in source.splitlines():
        item: dict[str, Any] = json.loads(raw)
        minutes = item.pop("ago_minutes")
        item["created_at"] = (now - timedelta(minutes=minutes)).isoformat()
        lines.append(json.dumps(item, ensure_ascii=False))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


DEMO_TOML = """# Written by `monitor demo`: try `monitor --config {config} status` or `... report`.
[storage]
url = "sqlite:///{database}"

[brand]
name = "Acme"
{identities}
[alerts]
on = ["negative", "unscored"]

[[feeds]]
name = "demo"
type = "jsonl"
path = "mentions.jsonl"
"""


def demo_config(folder: Path) -> Config:
    """Written to demo.toml as well, so the other commands can look at the demo's data."""
    identities = "".join(
        f'[[brand.identities]]\nplatform = "{i["platform"]}"\nhandle = "{i["handle"]}"\n'
        + ("bot = true\n" if i.get("bot") else "")
        for i in DEMO_IDENTITIES
    )
    path = folder / "demo.toml"
    path.write_text(
        DEMO_TOML.format(config=path, database=folder / "demo.db", identities=identities),
        encoding="utf-8",
    )
    return load_config(path)


def run_demo(folder: Path, now: datetime) -> str:
    folder = folder.resolve()  # the feed's path is read relative to the config's folder
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("demo.db*"):
        stale.unlink()
    materialise(folder / "mentions.jsonl", now)
    config = demo_config(folder)
    engine = open_store(config.storage.resolved_url())
    with make_client() as client:
        pipeline = Pipeline(config, engine, client, clock=lambda: now)
        report = pipeline.poll("demo", now=now)
    sink = make_sink(config)
    delivered = Dispatcher(engine, sink, pace=0.0, clock=lambda: now).run_once(now)
    with open_session(engine) as session:
        mentions = list(session.exec(select(Mention)))
    engine.dispose()
    return summary(mentions, report.alerts.__len__(), delivered.sent, folder, sink.name)


def summary(mentions: list[Mention], decided: int, sent: int, folder: Path, sink: str) -> str:
    by_platform = Counter(m.platform for m in mentions)
    labels = Counter(m.sentiment for m in mentions)
    answered = [m for m in mentions if m.ttfr_seconds is not None]
    ttfr = sorted(m.ttfr_seconds for m in answered if m.ttfr_seconds is not None)
    open_negative = [
        m
        for m in mentions
        if m.status == MentionStatus.OPEN and m.sentiment == SentimentLabel.NEGATIVE
    ]
    unscored = Counter(
        "unknown" if m.language in (None, UNDETERMINED) else m.language
        for m in mentions
        if m.sentiment == SentimentLabel.UNSCORED
    )
    lines = [
        "",
        "=" * 72,
        f"Demo summary: {len(mentions)} mentions stored from {len(by_platform)} platforms",
        "  " + ", ".join(f"{p} {n}" for p, n in by_platform.most_common()),
        "Sentiment: "
        + ", ".join(
            f"{label} {labels[label]}"
            for label in (
                SentimentLabel.NEGATIVE,
                SentimentLabel.NEUTRAL,
                SentimentLabel.POSITIVE,
                SentimentLabel.UNSCORED,
            )
        ),
    ]
    if unscored:
        lines.append(
            "  not scored (no scorer for the language): "
            + ", ".join(f"{lang} {n}" for lang, n in unscored.most_common())
        )
    if ttfr:
        lines.append(
            f"Answered by the brand: {len(answered)}; time to first response "
            f"median {format_duration(statistics.median(ttfr))}, "
            f"slowest {format_duration(ttfr[-1])}"
        )
    lines.append(f"Open negative mentions waiting for an answer: {len(open_negative)}")
    lines.append(f"Alerts decided: {decided}; delivered to the {sink} sink: {sent}")
    lines.append(f"Demo files (sample, config, database): {folder}")
    lines.append(f"Database: {folder / 'demo.db'}")
    lines.append(f"Look around: monitor --config {folder / 'demo.toml'} status   (or report)")
    lines.append("=" * 72)
    return "\n".join(lines)
