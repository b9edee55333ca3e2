"""What one poll just inserted, as plain values: read by the alert rules and the poll report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class NewMention:
    """A mention this poll stored. Not an ORM object: loading 500 `Mention` objects back from
    a page's INSERT cost more than the INSERT itself (bench/ingest_bench.py)."""

    id: int
    platform: str
    feed: str
    external_id: str
    created_at: datetime
    text: str
    title: str | None
    url: str | None
    author: str | None
    language: str | None
    rating: float | None
    sentiment: str
    status: str  # "open", or "answered" when a reply stored already answers it
    author_id: str | None = None
    parent_id: str | None = None  # what it replies to: `is:reply` in a route's `match`
