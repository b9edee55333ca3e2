"""Which new mentions a feed keeps: its `filter` and the global `[filters] exclude` queries.

A mention is kept when the feed's filter (if any) matches it and no exclude query does.
Filters that read the language or the sentiment (`lang:`, `sentiment:`) are judged after
scoring; the others before it, so a dropped mention costs no scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connectors import MentionRecord
from monitor.config import Config, FeedConfig
from monitor.mention_filter import MentionFilter, Subject
from monitor.sentiment.analyzer import Sentiment


def subject(record: MentionRecord, sentiment: Sentiment | None = None) -> Subject:
    """What a query judges of a mention: its texts, author, link, platform, stars, whether it
    replies to something, and (once scored) its detected language and label."""
    language = record.language
    if sentiment is not None and sentiment.language and sentiment.language != "und":
        language = sentiment.language
    return Subject(
        text=record.text,
        title=record.title,
        author=record.author,
        author_id=record.author_id,
        url=record.url,
        platform=record.platform,
        language=language,
        rating=record.rating,
        sentiment=sentiment.label if sentiment is not None else None,
        is_reply=record.parent_id is not None,
    )


@dataclass(frozen=True)
class FeedFilters:
    """One feed's filter and the excludes every feed shares."""

    keep: MentionFilter | None
    drop: tuple[MentionFilter, ...]

    @classmethod
    def of(cls, config: Config, feed: FeedConfig | None) -> FeedFilters:
        keep = feed.mention_filter if feed is not None else None
        return cls(keep, tuple(config.filters.excludes()))

    @property
    def active(self) -> bool:
        return self.keep is not None or bool(self.drop)

    @property
    def needs_scores(self) -> bool:
        return any(f.needs_scores for f in (self.keep, *self.drop) if f is not None)

    def keeps(self, about: Subject) -> bool:
        if self.keep is not None and not self.keep.matches(about):
            return False
        return not any(f.matches(about) for f in self.drop)

    def split(
        self, records: Sequence[MentionRecord], scores: Sequence[Sentiment] | None = None
    ) -> tuple[list[int], list[int]]:
        """The indexes of the records kept and of those dropped, in order."""
        kept: list[int] = []
        dropped: list[int] = []
        for index, record in enumerate(records):
            score = scores[index] if scores is not None else None
            (kept if self.keeps(subject(record, score)) else dropped).append(index)
        return kept, dropped
