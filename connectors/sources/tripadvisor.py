"""Tripadvisor reviews of one location (hotel, restaurant, attraction), with the owner's responses.

- Polls: `GET /api/v1/location/{location_id}/reviews?key=...&language=...` of the Content API
  (https://tripadvisor-content-api.readme.io/reference/overview), which returns only the
  most recent reviews of the location: at most 5 (the docs: "up to 5 reviews ... per
  location"), with no paging back. One call per poll.
- Auth: an API key from https://www.tripadvisor.com/developers (Content API), in the env var
  named by `api_key_env` (default TRIPADVISOR_API_KEY). The API takes it only as the `key`
  query parameter: connectors/redact.py hides every URL query in errors and logs, and the
  value itself is a known secret (its env var ends in `_env`). A key restricted to domains or
  IP addresses answers 401/403 from any other server: AuthError saying so.
- Rate limit: 50 calls per second, and a daily call budget the account sets
  (https://tripadvisor-content-api.readme.io/reference/rate-limits: a rolling 24-hour
  window from the first call). 429 -> RateLimited (Retry-After honoured; a used-up daily
  budget waits an hour and asks again).
- Cursor: the newest `published_date` seen, ISO 8601. Reviews published at or after it are
  mentions (the one at the cursor again: the store keeps one row per review).
- Brand reply: `owner_response {id, lang, text, title, author, published_date}` of a review,
  the listing owner's public answer (only a verified owner can post one). Every returned
  review's response is read on each poll, so an answer written after its review was first
  seen is found while the review is still among the 5 returned. A full `published_date` is
  an exact time; a date without a time is `seen_modified_only` at the end of that day (an
  upper bound, never before the review). A configured `tripadvisor` identity matching the
  response's `author` sets `bot`.
- Quirks: the 5-review window is the whole view. When more than 5 reviews arrive between
  two polls the older ones are never returned: `config_warnings` says how often to poll,
  and a poll warns when none of the returned reviews reaches back to the cursor (a possible
  gap). A response written after its review has left the window is never seen. `rating` is
  1-5 (anything else: no rating). Times may carry an offset without a colon (`-0500`).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
from pydantic import Field, field_validator

from connectors.apijson import json_object
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
from connectors.errors import AuthError, MalformedResponse, RateLimited
from connectors.http import MAX_RETRY_AFTER, check_response, fetch, parse_retry_after
from connectors.text import clean_text, html_to_text

REVIEWS_PER_CALL = 5  # the Content API's documented maximum per location
# An interval longer than this lets more than 5 reviews of a busy location arrive unseen.
MAX_SAFE_INTERVAL = 3600.0
# A used-up daily budget: the window is rolling 24 h from the first call, and the answer
# does not say when it frees up, so ask again in an hour.
BUDGET_WAIT = MAX_RETRY_AFTER
# Too many calls in a second: the next second is enough.
BURST_WAIT = 1.0
EXTRA_KEYS = ("trip_type", "travel_date", "helpful_votes", "is_machine_translated", "location_id")


class TripadvisorOptions(ConnectorOptions):
    location_id: str = Field(min_length=1)
    """the location id (the number after `-d` in the listing's URL)"""
    language: str = "en"
    """language of the reviews asked for (Tripadvisor's code, e.g. en, fr, es)"""
    api_key_env: str = "TRIPADVISOR_API_KEY"
    """env var holding the Content API key"""
    backfill: Duration = 30 * 86400
    """first run: reviews older than this are not mentions"""

    @field_validator("location_id")
    @classmethod
    def _digits(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("d") and value[1:].isdigit():
            value = value[1:]  # copied from a URL: "...-d1234567-Reviews-..."
        if not value.isdigit():
            raise ValueError(
                "must be the numeric location id, e.g. 1234567 from a listing URL "
                "https://www.tripadvisor.com/Hotel_Review-g60745-d1234567-Reviews-..."
            )
        return value


def parse_time(value: Any) -> tuple[datetime, bool] | None:
    """(aware UTC time, whether the text gave a time of day); None when absent or unreadable.

    Tripadvisor writes ISO 8601 with `Z`, with `-0500`, or (an owner response, per the docs'
    bare `string` type we cannot rule out) a date alone; zoneless times are read as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC), "T" in text or " " in text


def _cursor_time(cursor: str | None) -> datetime | None:
    found = parse_time(cursor)
    return found[0] if found else None


class TripadvisorConnector(Connector[TripadvisorOptions]):
    """Reviews of one Tripadvisor location, with the owner's responses."""

    name = "tripadvisor"
    platform = "tripadvisor"
    default_interval = 900  # 96 calls a day per location; 5 reviews per call
    default_base_url = "https://api.content.tripadvisor.com"

    @classmethod
    def config_warnings(cls, options: ConnectorOptions, interval: float) -> list[str]:
        """The 5-review window: a poll that comes too late loses reviews for good."""
        if interval > MAX_SAFE_INTERVAL:
            return [
                f"interval of {interval / 60:g} min: Tripadvisor returns only the 5 most "
                "recent reviews of a location, so when more than 5 arrive between two polls "
                "the older ones are never seen; poll at least hourly (15m for a busy location)"
            ]
        return []

    def _key(self) -> str:
        return require_env(
            self.options.api_key_env,
            "a Tripadvisor Content API key (https://www.tripadvisor.com/developers)",
        )

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        url = f"{self.base_url}/api/v1/location/{options.location_id}/reviews"
        params = {"key": self._key(), "language": options.language}
        response, body = fetch(client, url, params=params, check=None)
        if response.status_code == 304:
            return PollResult(state=state, not_modified=True)
        data = json_object(body, what="Tripadvisor /location/reviews")
        if response.status_code >= 400:
            raise self._refusal(response, data, params["key"])
        if data is None:
            raise MalformedResponse("Tripadvisor /location/reviews: not a JSON object")
        error = data.get("error")
        if isinstance(error, dict) and error:
            said = _error_text(error).replace(params["key"], "***")  # never the key
            raise MalformedResponse(f"Tripadvisor answered an error: {said}")
        reviews = data.get("data")
        if not isinstance(reviews, list):
            raise MalformedResponse("Tripadvisor /location/reviews: no `data` list")
        result = PollResult(state=FeedCursor(cursor=state.cursor), bytes_received=len(body))
        saved = _cursor_time(state.cursor)
        since = saved if saved is not None else now - timedelta(seconds=options.backfill)
        newest = saved
        reaches_cursor = False
        for review in reviews:
            if not isinstance(review, dict):
                continue
            raw_id = review.get("id")
            # an id is a number or a string of one; an object or a list is no id
            review_id = str(raw_id) if isinstance(raw_id, str | int) and raw_id else ""
            published = parse_time(review.get("published_date"))
            if not review_id or published is None:
                result.warnings.append(
                    f"review {review_id or '?'} has no id or readable published_date; skipped"
                )
                continue
            created = published[0]
            seen_at = min(created, now)  # a review dated ahead must not carry the cursor
            newest = seen_at if newest is None else max(newest, seen_at)
            if saved is not None and created <= saved:
                reaches_cursor = True
            if created >= since:
                result.add(self._mention(review, review_id, created))
            result.add(self._reply(review, review_id, created, now, result.warnings))
        if saved is not None and reviews and not reaches_cursor:
            result.warnings.append(
                f"possible gap: none of the {len(reviews)} reviews Tripadvisor returned is as "
                f"old as the last one seen ({saved.isoformat()}); reviews published in between "
                "were pushed out of the 5-review window and are lost; poll more often"
            )
        if newest is not None:
            result.state = FeedCursor(cursor=newest.isoformat())
        return result

    def _refusal(
        self, response: httpx.Response, data: dict[str, Any] | None, key: str
    ) -> Exception:
        """The error for a refused call: the status, and what the body says about it (never
        the key, should the body quote it)."""
        status = response.status_code
        said = ""
        if data is not None:
            error = data.get("error")
            said = _error_text(error) if isinstance(error, dict) else str(data.get("message") or "")
            said = said.replace(key, "***") if key else said
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            budget = "limit exceeded" in said.casefold() or "quota" in said.casefold()
            if retry_after is None:
                retry_after = BUDGET_WAIT if budget else BURST_WAIT
            what = "the daily call budget is used up" if budget else "too many calls per second"
            return RateLimited(f"Tripadvisor rate limited (429): {what}", retry_after=retry_after)
        if status in (401, 403):
            return AuthError(
                f"Tripadvisor refused the key in {self.options.api_key_env} ({status}"
                f"{': ' + said if said else ''}); check the key at "
                "https://www.tripadvisor.com/developers, that it is enabled for the Content "
                "API, and that its domain / IP restriction allows this server's address"
            )
        try:
            check_response(response)
        except MalformedResponse as exc:
            if said:
                return MalformedResponse(f"{exc} ({said})")
            return exc
        except Exception as exc:  # TransientError for 5xx, and the rest of the table
            return exc
        return MalformedResponse(f"Tripadvisor answered {status}")

    def _mention(self, review: dict[str, Any], review_id: str, created: datetime) -> MentionRecord:
        user = review.get("user") if isinstance(review.get("user"), dict) else {}
        rating = review.get("rating")
        stars: float | None = None
        if isinstance(rating, int | float) and not isinstance(rating, bool):  # True is no 1
            stars = float(rating) if 1 <= rating <= 5 else None
        language = review.get("lang")
        extra: dict[str, Any] = {k: review[k] for k in EXTRA_KEYS if review.get(k) is not None}
        subratings = _subratings(review.get("subratings"))
        if subratings:
            extra["subratings"] = subratings
        url = review.get("url")
        return MentionRecord(
            platform=self.platform,
            external_id=review_id,
            created_at=created,
            text=html_to_text(_str(review.get("text"))),
            url=url if isinstance(url, str) and url else None,
            author=_str((user or {}).get("username")),
            title=clean_text(html_to_text(_str(review.get("title")))) or None,
            language=language.lower() if isinstance(language, str) and language else None,
            rating=stars,
            extra=extra,
        )

    def _reply(
        self,
        review: dict[str, Any],
        review_id: str,
        review_time: datetime,
        now: datetime,
        warnings: list[str],
    ) -> BrandReply | None:
        """The owner's response to a review, if it has one."""
        response = review.get("owner_response")
        if not isinstance(response, dict) or not (response.get("text") or response.get("id")):
            return None
        published = parse_time(response.get("published_date"))
        modified_only = False
        if published is None:
            when = now  # it exists; the poll time is the latest it can have been written
            modified_only = True
            warnings.append(
                f"review {review_id}: owner_response has no readable published_date; "
                "recorded at the poll time"
            )
        elif not published[1]:
            # a date alone: the end of that day is the latest it can have been written
            end = datetime.combine(published[0].date(), time(23, 59, 59), tzinfo=UTC)
            when = max(min(end, now), review_time)
            modified_only = True
        else:
            when = published[0]
        author = response.get("author")
        author = author.strip() if isinstance(author, str) and author.strip() else None
        identity = self.brand_identity(author, None)
        url = review.get("url")
        return BrandReply(
            platform=self.platform,
            external_id=f"{review_id}:owner_response",
            in_reply_to=review_id,
            created_at=when,
            author=author,
            url=url if isinstance(url, str) and url else None,
            text=html_to_text(_str(response.get("text"))) or None,
            bot=identity.bot if identity else False,
            seen_modified_only=modified_only,
        )


def _str(value: Any) -> str | None:
    """A text field as text; a number, list or object where the docs say string is none
    (html_to_text and clean_text take strings only)."""
    return value if isinstance(value, str) and value else None


def _subratings(value: Any) -> dict[str, Any]:
    """{name: value} from the documented `{"0": {"name", "localized_name", "value"}}` map."""
    if not isinstance(value, dict):
        return {}
    found: dict[str, Any] = {}
    for item in value.values():
        if isinstance(item, dict) and item.get("name") and item.get("value") is not None:
            found[str(item["name"])] = item["value"]
    return found


def _error_text(error: dict[str, Any]) -> str:
    parts = [str(error.get(k)) for k in ("type", "code", "message") if error.get(k) is not None]
    return " ".join(parts)[:300]
