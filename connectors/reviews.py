"""What one review of a review site's page gives: shared by the review-site connectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import BrandReply, MentionRecord


@dataclass
class ReviewRead:
    """One review read from a page.

    `new_id` is the review's id when it was read for the first time in this poll (the caller
    remembers it, to warn about a second copy). `order_time` is the time the site orders its pages
    by (None when the review's times were unreadable). `mention` is None for a review older than the
    saved position, `reply` None when the brand has not answered.
    """

    new_id: str | None = None
    order_time: datetime | None = None
    mention: MentionRecord | None = None
    reply: BrandReply | None = None
    warnings: list[str] = field(default_factory=list)
