"""Trustpilot service reviews of one business unit, with the company's public replies.

- Polls: `GET /v1/business-units/{business_unit_id}/reviews?orderBy=createdat.desc
  &perPage=100&page=N` (https://developers.trustpilot.com/business-units-api), newest first.
- Auth: the public API key of a Trustpilot Business application (Integrations -> Developers
  -> APIs), sent as the `apikey` header (the docs allow the header or an `apikey` query
  parameter; the header keeps the key out of logged URLs). The env var is named by `api_key_env`.
- Rate limit: Trustpilot asks for at most 833 calls per 5 minutes / 10,000 per hour and says
  "slow down" with a 429 (Retry-After honoured). One poll makes at most `max_pages` calls.
- Cursor: the newest review time seen (createdAt or updatedAt), as ISO 8601. Each poll pages
  back to the older of the cursor and `now - reply_lookback` (the first run: `now - backfill`),
  never more than `max_pages` pages. Reviews created or edited since the cursor are mentions;
  every review read in that window is checked for a company reply, so a reply written days
  after its review is still found.
- Brand reply: `companyReply {text, createdAt, updatedAt}` is the business's own answer, a
  BrandReply at `createdAt` (a real creation time, so not `seen_modified_only`). Its author is
  the business unit; a `trustpilot` identity matching that name marks it a bot reply if set so.
- Quirks: the documented sample gives companyReply times WITHOUT a zone ("2013-09-07T13:37:00")
  while the review's createdAt ends in Z; zoneless times are read as UTC. A reply without
  createdAt falls back to updatedAt (`seen_modified_only`); with neither, the poll time is used
  (`seen_modified_only`, and a warning). A review updated after the reply's last change is
  marked `edited_after_reply`. `stars` outside 1-5 (the sample has 0) is no rating.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import Field, field_validator

from connectors.apijson import loads
from connectors.base import (
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.durations import Duration
from connectors.env import require_env
from connectors.errors import AuthError, MalformedResponse
from connectors.http import fetch
from connectors.reviews import ReviewRead
from connectors.text import clean_text, html_to_text

PER_PAGE = 100
REVIEW_PAGE = "https://www.trustpilot.com/reviews/{id}"
EDIT_GRACE = timedelta(minutes=1)


class TrustpilotOptions(ConnectorOptions):
    business_unit_id: str = Field(min_length=1)
    """the business unit id"""
    api_key_env: str = "TRUSTPILOT_API_KEY"
    """env var holding the API key"""
    backfill: Duration = 30 * 86400
    """first run: how far back to read"""
    reply_lookback: Duration = 14 * 86400
    """each poll re-reads this window for replies written later"""
    max_pages: int = Field(default=10, ge=1, le=100)
    """pages of 100 reviews per poll, a hard bound"""

    @field_validator("business_unit_id")
    @classmethod
    def _plain_id(cls, value: str) -> str:
        if "/" in value or "." in value:
            raise ValueError(
                "must be the business unit id (24 hex characters), not a domain; "
                "find it with GET /v1/business-units/find?name=<your domain>"
            )
        return value


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 to aware UTC; a zoneless value (companyReply in the docs sample) is UTC."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _cursor_time(cursor: str | None) -> datetime | None:
    """The saved cursor, or None when there is none or it is not ours (start afresh)."""
    try:
        return parse_time(cursor)
    except ValueError:
        return None


class TrustpilotConnector(Connector[TrustpilotOptions]):
    """Service reviews of one Trustpilot business unit."""

    name = "trustpilot"
    platform = "trustpilot"
    default_interval = 900
    default_base_url = "https://api.trustpilot.com"

    def _api_key(self) -> str:
        return require_env(
            self.options.api_key_env,
            "the API key of your Trustpilot Business application "
            "(Integrations -> Developers -> APIs)",
        )

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        headers = {"apikey": self._api_key(), "Accept": "application/json"}
        saved = _cursor_time(state.cursor)
        if saved is None:
            boundary = now - timedelta(seconds=options.backfill)
        else:
            boundary = min(saved, now - timedelta(seconds=options.reply_lookback))
        url = f"{self.base_url}/v1/business-units/{options.business_unit_id}/reviews"
        result = PollResult(state=FeedCursor(cursor=state.cursor))
        seen: set[str] = set()
        newest = saved
        reached_boundary = False
        for page in range(1, options.max_pages + 1):
            params = {"orderBy": "createdat.desc", "perPage": str(PER_PAGE), "page": str(page)}
            try:
                response, body = fetch(client, url, params=params, headers=headers)
            except AuthError as exc:
                raise AuthError(
                    f"Trustpilot rejected the API key in {options.api_key_env} ({exc}); check "
                    "the key, that the application is enabled, and the business unit id"
                ) from exc
            if response.status_code == 304:
                return PollResult(state=state, not_modified=True)
            result.bytes_received += len(body)
            reviews = _reviews(body)
            for review in reviews:
                read = self._review(review, saved, boundary, now, seen)
                result.warnings.extend(read.warnings)
                if read.new_id is not None:
                    seen.add(read.new_id)
                result.add(read.mention)
                result.add(read.reply)
                created = read.order_time
                if created is None:
                    continue
                changed = max(created, parse_time(review.get("updatedAt")) or created)
                newest = changed if newest is None else max(newest, changed)
                if created < boundary:
                    reached_boundary = True
            if reached_boundary or len(reviews) < PER_PAGE:
                break
        else:
            result.warnings.append(
                f"stopped after {options.max_pages} pages (max_pages) before reaching "
                f"{boundary.isoformat()}; older reviews and replies were not read"
            )
        if newest is not None:
            result.state = FeedCursor(cursor=newest.isoformat())
        return result

    def _review(
        self,
        review: dict[str, Any],
        saved: datetime | None,
        boundary: datetime,
        now: datetime,
        seen: Collection[str],
    ) -> ReviewRead:
        """The review (if new or edited), its reply, and its createdAt."""
        review_id = str(review.get("id") or "")
        try:
            created = parse_time(review.get("createdAt"))
            updated = parse_time(review.get("updatedAt"))
        except ValueError as exc:
            return ReviewRead(warnings=[f"review {review_id or '?'}: bad time: {exc}"])
        if not review_id or created is None:
            return ReviewRead(
                warnings=[f"review {review_id or '?'} has no id or createdAt; skipped"]
            )
        changed = max(created, updated or created)
        if review_id in seen or (created < boundary and (saved is None or changed < saved)):
            # a repeat, or older than the window (the page crossing it)
            return ReviewRead(order_time=created)
        reply, warnings = self._reply(review, review_id, now)
        mention = None
        if saved is None or changed >= saved:
            mention = self._mention(review, review_id, created, updated, reply)
        return ReviewRead(review_id, created, mention, reply, warnings)

    def _mention(
        self,
        review: dict[str, Any],
        review_id: str,
        created: datetime,
        updated: datetime | None,
        reply: BrandReply | None,
    ) -> MentionRecord:
        consumer = review.get("consumer") or {}
        stars = review.get("stars")
        rating = float(stars) if isinstance(stars, int | float) and 1 <= stars <= 5 else None
        edited = False
        if reply is not None and updated is not None:
            reply_changed = parse_time((review.get("companyReply") or {}).get("updatedAt"))
            # a minute's grace: the review's updatedAt may be stamped with the reply itself
            edited = updated - (reply_changed or reply.created_at) > EDIT_GRACE
        language = review.get("language")
        return MentionRecord(
            platform=self.platform,
            external_id=review_id,
            created_at=created,
            text=html_to_text(review.get("text")),
            url=REVIEW_PAGE.format(id=review_id),
            author=consumer.get("displayName") or None,
            author_id=consumer.get("id") or None,
            title=clean_text(html_to_text(review.get("title"))) or None,
            language=language.lower() if isinstance(language, str) and language else None,
            rating=rating,
            edited_after_reply=edited,
            extra={k: review[k] for k in ("isVerified", "numberOfLikes") if k in review},
        )

    def _reply(
        self, review: dict[str, Any], review_id: str, now: datetime
    ) -> tuple[BrandReply | None, list[str]]:
        """The company's reply to a review, if any, and what was wrong with its time."""
        reply = review.get("companyReply")
        if not isinstance(reply, dict) or not (reply.get("text") or reply.get("createdAt")):
            return None, []
        warnings: list[str] = []
        try:
            created = parse_time(reply.get("createdAt"))
            updated = parse_time(reply.get("updatedAt"))
        except ValueError as exc:
            created = updated = None
            warnings.append(f"review {review_id}: bad companyReply time: {exc}")
        modified_only = created is None
        when = created or updated
        if when is None:
            when = now  # the reply exists; the poll time is the latest it can have been written
            warnings.append(
                f"review {review_id}: companyReply has no time; recorded at the poll time"
            )
        business = review.get("businessUnit") or {}
        author = business.get("displayName") or business.get("identifyingName") or None
        author_id = business.get("id") or None
        identity = self.brand_identity(author, author_id)
        return BrandReply(
            platform=self.platform,
            external_id=f"{review_id}:reply",
            in_reply_to=review_id,
            created_at=when,
            author=author,
            author_id=author_id,
            url=REVIEW_PAGE.format(id=review_id),
            text=html_to_text(reply.get("text")) or None,
            bot=identity.bot if identity else False,
            seen_modified_only=modified_only,
        ), warnings


def _reviews(body: bytes) -> list[dict[str, Any]]:
    try:
        data = loads(body)
    except ValueError as exc:
        raise MalformedResponse(
            f"Trustpilot answered with something that is not JSON: {exc}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("reviews", []), list):
        raise MalformedResponse("Trustpilot answered without a `reviews` list")
    return [r for r in data.get("reviews", []) if isinstance(r, dict)]
