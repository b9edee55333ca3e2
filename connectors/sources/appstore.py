"""Apple App Store reviews: the public per-country RSS feed, or the App Store Connect API.

- Polls, `mode = "rss"` (default): GET https://itunes.apple.com/{country}/rss/customerreviews/
  page={n}/id={app_id}/sortby=mostrecent/json for each of `countries`, most recent first, pages
  1..`pages`. Apple serves at most 10 pages of 50 reviews per country and caches the feed for
  hours, so a review can appear several hours after it was written, and a busy app loses what
  falls beyond the 500 most recent between two polls.
- Polls, `mode = "connect"`: GET https://api.appstoreconnect.apple.com/v1/apps/{app_id}/
  customerReviews?include=response&sort=-createdDate&limit=200, all territories, following
  `links.next` (bounded by `pages`); `recheck` re-reads open reviews one by one
  (GET /v1/customerReviews/{id}?include=response) to find replies written later.
- Auth: rss none. connect: an ES256 JWT (iss, iat, exp 15 min, aud "appstoreconnect-v1", header
  kid + typ JWT) signed with the team's API key. The operator creates the key in App Store
  Connect > Users and Access > Integrations > App Store Connect API and names, by env var, the
  key id (`key_id_env`), the issuer id (`issuer_id_env`) and the path of the downloaded .p8 file
  (`private_key_path_env`). Needs PyJWT with cryptography (`pip install 'pyjwt[crypto]'`).
- Rate limit: rss undocumented; connect `X-Rate-Limit: user-hour-lim:3600;user-hour-rem:N` per
  key, 429 RATE_LIMIT_EXCEEDED when spent. Both: a 429 with Retry-After is honoured.
- Cursor: rss a JSON object {country: newest review id seen} (ids grow with time, and old feeds
  carry no dates); connect the newest `createdDate` seen (UTC ISO). First run: `backfill`.
- Brand reply: rss has no developer-reply field at all (use connect mode to measure TTFR).
  connect: the included `customerReviewResponses` resource with state PUBLISHED is the brand's
  reply; Apple gives only its `lastModifiedDate`, so it is a `seen_modified_only` BrandReply
  (missing date: the fetch time). PENDING_PUBLISH replies are not public and do not count.
- Quirks (rss): the first entry may be the app itself (no `im:rating`, skipped); payloads before
  about 2021 have no per-entry `updated`: such a review gets the fetch time, `extra.no_date`,
  and like every feed review `created_is_modified=True` (`updated` moves when a review is
  edited). The two modes give one review different ids: use one mode per app.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator

from connectors.apijson import decode_json, loads
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
from connectors.errors import AuthError, ConnectorUnavailable, MalformedResponse, NotFoundError
from connectors.http import fetch
from connectors.text import clean_text
from connectors.unreadable import Unreadable

RSS_BASE_URL = "https://itunes.apple.com"
CONNECT_BASE_URL = "https://api.appstoreconnect.apple.com"
AUDIENCE = "appstoreconnect-v1"
# Apple refuses tokens that live longer than 20 minutes; 15 leaves room for clock skew.
TOKEN_LIFETIME = 15 * 60
# Reviews per Connect page (the API maximum) and open reviews re-read per recheck call:
# the key's budget is ~3600 requests an hour, shared with every other tool using it.
CONNECT_PAGE_SIZE = 200
RECHECK_LIMIT = 10


class AppStoreOptions(ConnectorOptions):
    mode: Literal["rss", "connect"] = "rss"
    """\"rss\": the public per-storefront feed (no auth); \"connect\": the App Store Connect API"""
    app_id: str = Field(pattern=r"^\d+$")
    """the number in the App Store URL (.../id1404176564)"""
    countries: list[str] = Field(default_factory=lambda: ["us"], min_length=1)
    """two-letter storefront codes, rss mode"""
    pages: int = Field(default=10, ge=1, le=10)
    """pages per storefront and poll (50 reviews each in rss mode), at most 10"""
    backfill: Duration = 7 * 86400.0
    """first run: skip dated reviews older than this"""
    key_id_env: str = "ASC_KEY_ID"
    """env var holding the App Store Connect key id (connect mode)"""
    issuer_id_env: str = "ASC_ISSUER_ID"
    """env var holding the App Store Connect issuer id (connect mode)"""
    private_key_path_env: str = "ASC_PRIVATE_KEY_PATH"
    """env var holding the path of the .p8 private key (connect mode)"""

    @field_validator("countries")
    @classmethod
    def _country_codes(cls, value: list[str]) -> list[str]:
        codes = [c.strip().lower() for c in value]
        bad = [c for c in codes if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValueError(f"storefront codes are two letters (us, jp, de), not {bad}")
        return list(dict.fromkeys(codes))


def build_token(
    *,
    key_id: str,
    issuer_id: str,
    private_key: bytes,
    now: datetime,
    lifetime: int = TOKEN_LIFETIME,
) -> str:
    """The App Store Connect bearer token: ES256 over iss/iat/exp/aud, kid in the header."""
    jwt = _jwt_module()
    issued = int(now.timestamp())
    claims = {"iss": issuer_id, "iat": issued, "exp": issued + lifetime, "aud": AUDIENCE}
    try:
        token: str = jwt.encode(
            claims, private_key, algorithm="ES256", headers={"kid": key_id, "typ": "JWT"}
        )
        return token
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise AuthError(
            f"the App Store Connect private key is not a usable ES256 .p8 key ({exc}); "
            "download the key again from Users and Access > Integrations"
        ) from exc


def _jwt_module() -> Any:
    try:
        import jwt
        from jwt.algorithms import has_crypto
    except ImportError as exc:
        raise ConnectorUnavailable(
            "appstore mode 'connect' needs PyJWT with cryptography: pip install 'pyjwt[crypto]'"
        ) from exc
    if not has_crypto:
        raise ConnectorUnavailable(
            "appstore mode 'connect' needs the cryptography package for ES256: "
            "pip install 'pyjwt[crypto]'"
        )
    return jwt


def _label(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("label"), str):
        return str(node["label"])
    return None


def _parse_time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedResponse(f"{what} is not a date: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedResponse(f"{what} is not an ISO date: {value!r}") from exc
    if parsed.tzinfo is None:
        raise MalformedResponse(f"{what} has no time zone: {value!r}")
    return parsed.astimezone(UTC)


def _connect_api(what: str) -> str:
    """What an App Store Connect variable holds, and where the operator finds it."""
    return (
        f"the App Store Connect API {what} "
        "(App Store Connect > Users and Access > Integrations > App Store Connect API)"
    )


def rss_entries(body: bytes) -> list[dict[str, Any]]:
    """The review entries of one feed page; the app's own entry (no rating) is left out."""
    doc = decode_json(body, "App Store")
    feed = doc.get("feed") if isinstance(doc, dict) else None
    if not isinstance(feed, dict):
        raise MalformedResponse("not an App Store customer-reviews feed: no `feed` object")
    entries = feed.get("entry") or []
    if isinstance(entries, dict):  # XML-to-JSON: a single entry may come as an object
        entries = [entries]
    if not isinstance(entries, list):
        raise MalformedResponse("feed.entry is neither a list nor an object")
    return [e for e in entries if isinstance(e, dict) and _label(e.get("im:rating"))]


def _load_rss_cursor(cursor: str | None) -> dict[str, int]:
    """{country: newest review id}; anything unreadable counts as no cursor (first run)."""
    try:
        raw = loads(cursor or "{}")
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): int(v) for k, v in raw.items() if str(v).isdigit()}


class AppStoreConnector(Connector[AppStoreOptions]):
    """App Store reviews for one app: public RSS per storefront, or App Store Connect."""

    name = "appstore"
    platform = "appstore"
    default_interval = 3600
    default_base_url = RSS_BASE_URL

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if kwargs.get("base_url") is None and self.options.mode == "connect":
            self.base_url = CONNECT_BASE_URL
        self._token: tuple[str, datetime] | None = None

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        if self.options.mode == "connect":
            return self._poll_connect(client, state, now)
        return self._poll_rss(client, state, now)

    # --- public RSS feed -------------------------------------------------------------

    def _rss_url(self, country: str, page: int) -> str:
        app_id = self.options.app_id
        return (
            f"{self.base_url}/{country}/rss/customerreviews/page={page}/id={app_id}"
            "/sortby=mostrecent/json"
        )

    def _poll_rss(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        saved = _load_rss_cursor(state.cursor)
        newest = dict(saved)
        mentions: dict[str, MentionRecord] = {}
        received = 0
        answered = 0  # countries that sent a page rather than a 304
        # One ETag can only describe one URL: conditional requests for single-storefront feeds.
        conditional = len(options.countries) == 1
        etag, last_modified = state.etag, state.last_modified
        floor = now - timedelta(seconds=options.backfill)
        for country in options.countries:
            seen_id = saved.get(country)
            for page in range(1, options.pages + 1):
                headers: dict[str, str] = {}
                if conditional and page == 1:
                    if state.etag:
                        headers["If-None-Match"] = state.etag
                    if state.last_modified:
                        headers["If-Modified-Since"] = state.last_modified
                response, body = fetch(client, self._rss_url(country, page), headers=headers)
                if response.status_code == 304:
                    break
                if page == 1:
                    answered += 1
                    if conditional:
                        etag = response.headers.get("ETag")
                        last_modified = response.headers.get("Last-Modified")
                received += len(body)
                entries = rss_entries(body)
                fresh, reached = 0, False
                for entry in entries:
                    review_id = _label(entry.get("id")) or ""
                    if not review_id.isdigit():
                        raise MalformedResponse(f"review id {review_id!r} is not numeric")
                    number = int(review_id)
                    newest[country] = max(newest.get(country, 0), number)
                    if seen_id is not None and number <= seen_id:
                        reached = reached or number == seen_id
                        continue
                    mention = self._rss_mention(entry, review_id, country, now)
                    if mention is None or review_id in mentions:
                        continue
                    dated = "no_date" not in mention.extra
                    if seen_id is None and dated and mention.created_at < floor:
                        reached = True  # most recent first: the rest is older still
                        continue
                    mentions[review_id] = mention
                    fresh += 1
                if reached or fresh == 0 or len(entries) == 0:
                    break
        if answered == 0:
            return PollResult(state=state, not_modified=True)
        cursor = json.dumps({k: str(v) for k, v in sorted(newest.items())}) if newest else None
        return PollResult(
            mentions=list(mentions.values()),
            state=FeedCursor(cursor=cursor, etag=etag, last_modified=last_modified),
            bytes_received=received,
        )

    def _rss_mention(
        self, entry: dict[str, Any], review_id: str, country: str, now: datetime
    ) -> MentionRecord | None:
        author_node = entry.get("author") if isinstance(entry.get("author"), dict) else {}
        assert isinstance(author_node, dict)
        author = _label(author_node.get("name"))
        author_uri = _label(author_node.get("uri")) or ""
        author_id = author_uri.rstrip("/").rsplit("/id", 1)[-1] if "/id" in author_uri else None
        if self.brand_identity(author, author_id):
            return None  # the feed has no replies; a brand account reviewing itself is noise
        rating_text = _label(entry.get("im:rating")) or ""
        try:
            rating = float(rating_text)
        except ValueError as exc:
            raise MalformedResponse(f"im:rating {rating_text!r} is not a number") from exc
        updated = _label(entry.get("updated"))
        extra: dict[str, Any] = {"country": country}
        version = _label(entry.get("im:version"))
        if version:
            extra["app_version"] = version
        if updated:
            created = _parse_time(updated, "entry.updated")
        else:
            created = now  # pre-2021 payloads carry no date: the fetch time is all we have
            extra["no_date"] = True
        link = entry.get("link")
        href = None
        if isinstance(link, dict) and isinstance(link.get("attributes"), dict):
            href = link["attributes"].get("href")
        return MentionRecord(
            platform=self.platform,
            external_id=review_id,
            created_at=created,
            text=clean_text(_content(entry.get("content"))),
            url=href or f"https://apps.apple.com/{country}/app/id{self.options.app_id}",
            author=author,
            author_id=author_id,
            title=clean_text(_label(entry.get("title")) or "") or None,
            rating=rating,
            created_is_modified=True,
            extra=extra,
        )

    # --- App Store Connect API -------------------------------------------------------

    def bearer_token(self, now: datetime) -> str:
        """A cached JWT, renewed a minute before it expires."""
        if self._token and now < self._token[1] - timedelta(seconds=60):
            return self._token[0]
        options = self.options
        key_id = require_env(options.key_id_env, _connect_api("key id"))
        issuer_id = require_env(options.issuer_id_env, _connect_api("issuer id"))
        path = Path(
            require_env(options.private_key_path_env, _connect_api("private key (.p8) file path"))
        )
        if not path.is_absolute():
            path = self.config_dir / path
        try:
            private_key = path.read_bytes()
        except OSError as exc:
            raise AuthError(
                f"cannot read the App Store Connect private key {path} named by "
                f"{options.private_key_path_env}: {exc.strerror or exc}"
            ) from exc
        token = build_token(key_id=key_id, issuer_id=issuer_id, private_key=private_key, now=now)
        self._token = (token, now + timedelta(seconds=TOKEN_LIFETIME))
        return token

    def _connect_get(
        self, client: httpx.Client, url: str, params: dict[str, str] | None, now: datetime
    ) -> tuple[httpx.Response, bytes]:
        headers = {"Authorization": f"Bearer {self.bearer_token(now)}"}
        try:
            return fetch(client, url, params=params, headers=headers)
        except AuthError as exc:
            self._token = None
            options = self.options
            raise AuthError(
                f"App Store Connect rejected the API key ({exc}): check {options.key_id_env}, "
                f"{options.issuer_id_env} and the .p8 file in {options.private_key_path_env} "
                "belong to one active key, and that the key's role can read customer reviews"
            ) from exc

    def _rebase(self, link: str) -> str:
        """links.next on our base URL: a proxy or test server must also get the next page."""
        parts = urlsplit(link)
        return f"{self.base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def _poll_connect(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        try:
            saved = _parse_time(state.cursor, "cursor") if state.cursor else None
        except MalformedResponse:
            saved = None
        floor = saved or now - timedelta(seconds=options.backfill)
        url = f"{self.base_url}/v1/apps/{options.app_id}/customerReviews"
        params: dict[str, str] | None = {
            "include": "response",
            "sort": "-createdDate",
            "limit": str(CONNECT_PAGE_SIZE),
        }
        mentions: dict[str, MentionRecord] = {}
        replies: dict[str, BrandReply] = {}
        newest = saved
        received = 0
        for page in range(options.pages):
            response, body = self._connect_get(client, url, params, now)
            if response.status_code == 304:
                if page == 0:
                    return PollResult(state=state, not_modified=True)
                break
            received += len(body)
            doc = decode_json(body, "App Store")
            data = doc.get("data") if isinstance(doc, dict) else None
            if not isinstance(data, list):
                raise MalformedResponse("customerReviews response has no `data` list")
            responses = _included_responses(doc)
            older = False
            for review in data:
                mention = self._connect_mention(review)
                reply = self._connect_reply(review, responses, now)
                if reply:
                    replies[reply.external_id] = reply
                newest = max(newest or mention.created_at, mention.created_at)
                if mention.created_at < floor:
                    older = True  # sorted by -createdDate: the rest is older
                    continue
                mentions[mention.external_id] = mention
            links = doc.get("links") if isinstance(doc.get("links"), dict) else {}
            next_link = links.get("next") if isinstance(links, dict) else None
            if older or not isinstance(next_link, str) or not data:
                break
            url, params = self._rebase(next_link), None
        cursor = newest.isoformat() if newest else state.cursor
        return PollResult(
            mentions=list(mentions.values()),
            brand_replies=list(replies.values()),
            state=FeedCursor(cursor=cursor),
            bytes_received=received,
        )

    def _connect_mention(self, review: Any) -> MentionRecord:
        if not isinstance(review, dict) or not isinstance(review.get("attributes"), dict):
            raise MalformedResponse("a customerReviews item has no attributes")
        review_id = review.get("id")
        if not isinstance(review_id, str) or not review_id:
            raise MalformedResponse("a customerReviews item has no id")
        attributes = review["attributes"]
        rating = attributes.get("rating")
        extra: dict[str, Any] = {}
        if attributes.get("territory"):
            extra["territory"] = attributes["territory"]
        return MentionRecord(
            platform=self.platform,
            external_id=review_id,
            created_at=_parse_time(attributes.get("createdDate"), "createdDate"),
            text=clean_text(str(attributes.get("body") or "")),
            url=f"https://apps.apple.com/app/id{self.options.app_id}?see-all=reviews",
            author=attributes.get("reviewerNickname") or None,
            title=clean_text(str(attributes.get("title") or "")) or None,
            rating=float(rating) if isinstance(rating, int | float) else None,
            extra=extra,
        )

    def _connect_reply(
        self, review: dict[str, Any], responses: dict[str, dict[str, Any]], now: datetime
    ) -> BrandReply | None:
        relationships = review.get("relationships") or {}
        link = (relationships.get("response") or {}).get("data") or {}
        response = responses.get(str(link.get("id"))) if isinstance(link, dict) else None
        if response is None:
            return None
        attributes = response.get("attributes") or {}
        if attributes.get("state") != "PUBLISHED":
            return None  # PENDING_PUBLISH is not public yet: it must not stop the clock
        modified = attributes.get("lastModifiedDate")
        identity = self.identities[0] if self.identities else None
        return BrandReply(
            platform=self.platform,
            external_id=str(response["id"]),
            in_reply_to=str(review["id"]),
            # Apple gives only the last edit; none at all means "seen now" is the best bound.
            created_at=_parse_time(modified, "lastModifiedDate") if modified else now,
            author=identity.handle if identity else None,
            author_id=identity.account_id if identity else None,
            text=clean_text(str(attributes.get("responseBody") or "")) or None,
            bot=identity.bot if identity else False,
            seen_modified_only=True,
        )

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """Re-read open reviews: a reply written after the poll passed them is found here.

        A deleted review (404) is skipped; an unreadable one (a 4xx, a malformed answer) is
        skipped and counted (`Unreadable`: raised when none could be read)."""
        if self.options.mode != "connect":
            return []  # the public feed has no replies to find
        replies: list[BrandReply] = []
        todo = [m for m in mentions if m.platform == self.platform][:RECHECK_LIMIT]
        unreadable = Unreadable("appstore")
        for mention in todo:
            url = f"{self.base_url}/v1/customerReviews/{mention.external_id}"
            try:
                _, body = self._connect_get(client, url, {"include": "response"}, now)
                doc = decode_json(body, "App Store")
                review = doc.get("data") if isinstance(doc, dict) else None
                if not isinstance(review, dict):
                    raise MalformedResponse("customerReviews/{id} response has no `data` object")
                reply = self._connect_reply(review, _included_responses(doc), now)
            except NotFoundError:
                unreadable.answered()
                continue  # the review was deleted; nothing to answer
            except MalformedResponse as exc:
                unreadable.skip(mention.external_id, exc)
                continue
            unreadable.answered()
            if reply:
                replies.append(reply)
        unreadable.done()
        return replies


def _included_responses(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    included = doc.get("included") or []
    if not isinstance(included, list):
        raise MalformedResponse("`included` is not a list")
    return {
        str(item.get("id")): item
        for item in included
        if isinstance(item, dict) and item.get("type") == "customerReviewResponses"
    }


def _content(node: Any) -> str:
    """The review text; the XML-derived JSON may hold text and html variants in a list."""
    if isinstance(node, list):
        for item in node:
            if (item.get("attributes") or {}).get("type") == "text":
                return _label(item) or ""
        return _label(node[0]) or "" if node else ""
    return _label(node) or ""
