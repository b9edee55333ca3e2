"""Recorded-shape mentions for the benchmarks: texts and markup taken from the recorded fixtures."""

from __future__ import annotations

import csv
import html
import json
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx

from connectors.base import Connector, ConnectorOptions, FeedCursor, MentionRecord, PollResult
from connectors.text import clean_text, html_to_text

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
LABELLED = ROOT / "tools" / "data" / "labelled_mentions.jsonl"
CACHE = ROOT / "bench" / ".cache"


@dataclass(frozen=True)
class RawItem:
    """One item as a platform sends it: markup (HTML or plain), maybe a language and a rating."""

    platform: str
    markup: str
    title: str | None = None
    language: str | None = None  # what the platform says; None where it says nothing
    rating: float | None = None


def _reddit() -> list[RawItem]:
    items = []
    comments = json.loads((FIXTURES / "reddit" / "r_kakapo_comments_limit100.json").read_text())
    for child in comments["data"]["children"]:
        items.append(RawItem("reddit", html.unescape(child["data"]["body_html"])))
    posts = json.loads((FIXTURES / "reddit" / "r_askreddit_new_limit100.json").read_text())
    for child in posts["data"]["children"]:
        data = child["data"]
        body = html.unescape(data.get("selftext_html") or "")
        items.append(RawItem("reddit", body, title=data["title"]))
    return items


def _rss() -> list[RawItem]:
    items = []
    for path in sorted((FIXTURES / "rss").iterdir()):
        if path.suffix not in (".atom", ".rss", ".xml"):
            continue
        for entry in feedparser.parse(path.read_bytes()).entries:
            markup = entry.get("summary") or ""
            for content in entry.get("content") or []:
                markup = content.get("value") or markup
            items.append(RawItem("rss", markup, title=entry.get("title")))
    return items


def _labelled() -> list[RawItem]:
    """Short social posts in several languages; half of them arrive with the platform's
    language (Mastodon, Bluesky give one), half without (Reddit, X give none)."""
    items = []
    lines = LABELLED.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(line for line in lines if line.strip()):
        row = json.loads(line)
        given = row.get("language") if index % 2 == 0 else None
        items.append(
            RawItem(
                "mastodon" if given else "bluesky",
                html.escape(row["text"]),
                language=given,
                rating=row.get("rating"),
            )
        )
    return items


def _reviews() -> list[RawItem]:
    items = []
    with (FIXTURES / "csv" / "yelp_export_from_recordings.csv").open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            if row["Rating"].isdigit():
                items.append(RawItem("yelp", row["Review"], rating=float(row["Rating"])))
    return items


def templates() -> list[RawItem]:
    """Every recorded item once, interleaved so any slice has every shape."""
    groups = [_labelled(), _reddit(), _rss(), _reviews()]
    out: list[RawItem] = []
    longest = max(len(g) for g in groups)
    for index in range(longest):
        for group in groups:
            if index < len(group):
                out.append(group[index])
    return out


def items(count: int) -> list[RawItem]:
    base = templates()
    return [base[i % len(base)] for i in range(count)]


def created(index: int, now: datetime) -> datetime:
    """Recent enough to be alerted (inside alerts.max_age), in arrival order."""
    return now - timedelta(seconds=(100_000 - index % 100_000) * 0.5)


def machine() -> str:
    """The machine line every benchmark prints (and the README records)."""
    cpus = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{cpus} CPUs (nproc), {mem}, Python {platform.python_version()}"
    )


# -- a connector that replays pages of raw items, normalising them as real connectors do -------


PAGES: dict[str, list[list[tuple[int, RawItem]]]] = {}


class ReplayOptions(ConnectorOptions):
    platform: str = "bench"


class ReplayConnector(Connector[ReplayOptions]):
    """Each poll takes the next queued page; the markup is normalised inside the poll."""

    name = "bench-replay"
    platform = "bench"
    default_interval = 60
    Options = ReplayOptions

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        queue = PAGES.get(self.feed_name) or []
        if not queue:
            return PollResult(state=state)
        page = queue.pop(0)
        mentions = [
            MentionRecord(
                platform=item.platform,
                external_id=f"{item.platform}-{index}",
                created_at=created(index, now),
                text=html_to_text(item.markup),
                title=clean_text(item.title) if item.title else None,
                author=f"user{index % 5000}",
                url=f"https://example.invalid/{item.platform}/{index}",
                language=item.language,
                rating=item.rating,
            )
            for index, item in page
        ]
        return PollResult(mentions=mentions, state=FeedCursor(cursor=str(page[-1][0])))


def register() -> None:
    from connectors import registry

    registry.REGISTRY["bench-replay"] = "bench._corpus:ReplayConnector"
