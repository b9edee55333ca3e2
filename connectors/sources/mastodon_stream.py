"""Mastodon live: the brand account's mentions, a hashtag, or matching public posts, in seconds.

- Reads Mastodon's streaming API as server-sent events over one long HTTP GET:
  `stream = "user"`: /api/v1/streaming/user (the token's account: its notifications and home
  timeline; a `mention` or `quote` notification is a mention whatever the words);
  `"hashtag"` / `"hashtag:local"`: /api/v1/streaming/hashtag[/local]?tag= (every status is a
  mention: the server sends only those with the tag); `"public"` / `"public:local"`:
  /api/v1/streaming/public[/local] (every public status the instance knows: only those
  matching `keywords`, `hashtags` or `accounts` are mentions; for small instances).
  Keywords, hashtags and accounts also match `update`s of the user stream (the home timeline).
- Auth: an access token in the env var named by `token_env` (Preferences > Development on the
  instance; scope `read`), sent as `Authorization: Bearer`. Needed for `user`; most instances
  ask for one on the public and hashtag streams too.
- Events: `update` (a new status), `status.update` (an edit: the edited status, handled as an
  update; a mention already stored keeps its first text, as with the poller), `notification`,
  `delete` (payload: the bare status id -> `deleted`). Others (`conversation`,
  `filters_changed`, announcements) match nothing. Comment lines (`:)`, `:thump` every 15 s)
  are heartbeats. Boosts are not mentions.
- Records: built by the `mastodon` poller's own code (connectors/sources/mastodon.py), so a
  status has the same external id (its local id), url, author (acct), text, language and
  parent whether the stream or the gap-filling poll saw it. The brand's own status (`acct` or
  account id of a brand identity) with `in_reply_to_id` is a BrandReply to that id.
- Resume: none. Mastodon sends no SSE `id:` field and ignores Last-Event-ID, so a reconnect
  cannot replay what was missed: `stream()` given a cursor raises StreamGap at once and the
  runner polls the feed named in `fill_feed` (a `mastodon` feed) over the gap. The cursor is the
  id of the last status seen (before any: the time the connection was made).
- Limits: one connection per feed; the streaming server's own limits are per instance (no
  documented number). A message over 1 MiB, undecodable or of an unknown shape is skipped.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import field_validator, model_validator

from connectors.base import BrandReply, ConnectorOptions, FeedCursor, MentionRecord, PollResult
from connectors.env import require_env
from connectors.errors import AuthError, MalformedResponse, NotFoundError, TransientError
from connectors.http import check_response, make_client
from connectors.sources.mastodon import MastodonConnector, MastodonOptions, id_key, parse_time
from connectors.streams import StreamConnector, StreamEvent, StreamGap

Stream = Literal["user", "hashtag", "hashtag:local", "public", "public:local"]

# one SSE message (an event's data, or a line) larger than this is skipped: a status with
# its account, media and card is a few kB; 1 MiB is far beyond any real one
MAX_EVENT_BYTES = 1024 * 1024
# the HTTP request of a stream lasts as long as the stream: its total deadline is far away,
# and silence is caught per read (`idle_timeout`) instead
STREAM_DEADLINE = 365 * 86400.0
# notifications that carry a status about the brand's account
MENTION_NOTIFICATIONS = frozenset({"mention", "quote"})
# events of the streaming API that carry nothing to match (documented, not garbage)
QUIET_EVENTS = frozenset(
    {
        "conversation",  # the `direct` stream's view of a DM, also sent as `update`
        "filters_changed",
        "announcement",
        "announcement.reaction",
        "announcement.delete",
        "notifications_merged",
        "encrypted_message",
    }
)
# scripts written without spaces between words: a keyword there matches inside a run of
# letters (whole-word boundaries would never match "ソニー" in "ソニーの")
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR")


class MastodonStreamOptions(ConnectorOptions):
    stream: Stream = "user"
    """`user` (the token's account), `hashtag`, `hashtag:local`, `public` or `public:local`"""
    tag: str | None = None
    """the hashtag of a `hashtag` stream, with or without '#'"""
    keywords: list[str] = []
    """words matched in a status's text and content warning (case-insensitive, whole words)"""
    hashtags: list[str] = []
    """a status carrying one of these hashtags matches (with or without '#')"""
    accounts: list[str] = []
    """a status by or mentioning one of these accounts matches (`name`, `name@host` or id)"""
    token_env: str | None = None
    """env var holding an access token (needed for `user`; most instances want one anyway)"""
    streaming_url: str | None = None
    """the streaming server's root if not on the instance's host (`urls.streaming`)"""
    fill_feed: str | None = None
    """the `mastodon` feed that polls what a reconnect missed (the stream cannot resume)"""

    @field_validator("tag")
    @classmethod
    def _bare_tag(cls, value: str | None) -> str | None:
        return value.strip().lstrip("#") or None if value is not None else None

    @field_validator("keywords", "hashtags", "accounts")
    @classmethod
    def _no_blanks(cls, values: list[str]) -> list[str]:
        return [v.strip() for v in values if v.strip()]

    @model_validator(mode="after")
    def _stream_needs(self) -> MastodonStreamOptions:
        if self.stream.startswith("hashtag") and not self.tag:
            raise ValueError("a `hashtag` stream needs `tag`")
        if self.stream == "user" and not self.token_env:
            raise ValueError("the `user` stream needs `token_env` (the brand account's token)")
        if self.stream.startswith("public") and not (
            self.keywords or self.hashtags or self.accounts
        ):
            raise ValueError(
                "a `public` stream needs `keywords`, `hashtags` or `accounts`: "
                "every public post is not a mention"
            )
        return self


class _Skip(Exception):
    """A message that is not what the streaming API sends: skipped and counted."""


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _unspaced(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_UNSPACED)


def keyword_pattern(keywords: list[str]) -> re.Pattern[str] | None:
    """One regex for all keywords, over NFKC-casefolded text: whole words where the script
    separates words, anywhere in a run of letters where it does not (Japanese, Thai...)."""
    parts = []
    for keyword in sorted({fold(k) for k in keywords}, key=len, reverse=True):
        before = r"(?<!\w)" if keyword[0].isalnum() and not _unspaced(keyword[0]) else ""
        after = r"(?!\w)" if keyword[-1].isalnum() and not _unspaced(keyword[-1]) else ""
        parts.append(f"{before}{re.escape(keyword)}{after}")
    return re.compile("|".join(parts)) if parts else None


class MastodonStreamConnector(StreamConnector[MastodonStreamOptions]):
    """Statuses from one Mastodon stream as they arrive; the brand's replies from the same."""

    name = "mastodon_stream"
    # Connector takes Options from a `Connector[...]` base only, not from StreamConnector[...]
    Options = MastodonStreamOptions
    platform = "mastodon"
    default_interval = 300  # unused: a stream is read continuously, never on an interval
    default_base_url = "https://mastodon.social"
    # Mastodon sends a heartbeat every 15 s: three missed is a dead connection
    idle_timeout: ClassVar[float] = 45.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = self.options
        # the poller builds records and recognises the brand: the same code, the same ids
        self._polled = MastodonConnector(
            MastodonOptions(tag=opts.tag or "stream"),
            feed_name=self.feed_name,
            identities=self.identities,
            base_url=self.base_url,
        )
        self._keywords = keyword_pattern(opts.keywords)
        self._hashtags = {fold(t.lstrip("#")) for t in opts.hashtags}
        self._accounts = {fold(a.lstrip("@")) for a in opts.accounts}

    # --- connection -----------------------------------------------------------------------

    def url(self) -> tuple[str, dict[str, str]]:
        """The stream's URL and query."""
        opts = self.options
        root = (opts.streaming_url or self.base_url).rstrip("/")
        path = "/api/v1/streaming/" + opts.stream.replace(":", "/")
        return root + path, ({"tag": opts.tag} if opts.tag else {})

    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "text/event-stream",
            "Accept-Encoding": "identity",  # line by line as sent: nothing to inflate
            "Cache-Control": "no-cache",
        }
        env = self.options.token_env
        if env:
            token = require_env(
                env,
                f"the access token of an application created on {self.base_url} "
                "(Preferences > Development, scope read)",
            )
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def stream(self, cursor: str | None, stop: threading.Event) -> Iterator[StreamEvent]:
        if cursor is not None:
            raise StreamGap(
                "Mastodon's streaming API cannot resume after a disconnect (no event ids): "
                "what was posted meanwhile is polled by the `fill_feed` feed"
            )
        url, params = self.url()
        headers = self._headers()
        # a per-read timeout of idle_timeout; the client's `cancel` ends a read within a second
        timeout = httpx.Timeout(self.idle_timeout, connect=min(self.idle_timeout, 10.0))
        with make_client(timeout=STREAM_DEADLINE, max_connections=1, cancel=stop) as client:
            try:
                with client.stream(
                    "GET", url, params=params, headers=headers, timeout=timeout
                ) as response:
                    self._check(response)
                    # connected: shown so at once, however long before the first status; the
                    # connection's time is the cursor until a status gives one
                    connected = datetime.now(UTC).isoformat(timespec="seconds")
                    yield StreamEvent(cursor=connected, at=None, alive=True)
                    yield from self._events(response.iter_bytes(), stop, connected)
            except httpx.TimeoutException as exc:
                if stop.is_set():
                    return
                if isinstance(exc, httpx.ConnectTimeout):
                    raise TransientError(f"could not connect to {url} in time") from exc
                raise TransientError(
                    f"the stream was silent for {self.idle_timeout:g} s (no heartbeat)"
                ) from exc
            except httpx.TransportError as exc:
                if stop.is_set():
                    return
                name = exc.__class__.__name__
                raise TransientError(f"the stream's connection was lost ({name})") from exc

    def _check(self, response: httpx.Response) -> None:
        if response.history and response.status_code in (401, 403):
            url = response.url
            root = f"{url.scheme}://{url.netloc.decode('ascii')}"
            raise AuthError(
                f"the instance redirected its stream to {root}, where the token is not sent "
                f'(another host): set `streaming_url = "{root}"` in the feed'
            )
        try:
            check_response(response)
        except AuthError as exc:
            env = self.options.token_env
            hint = (
                f"check the token in {env} (scope read) and that its account is not suspended"
                if env
                else "this instance requires a token for its streams: set `token_env`"
            )
            raise AuthError(f"{exc}; {hint}") from exc
        except NotFoundError as exc:
            raise NotFoundError(
                f"{exc}; if the instance streams from another host, set `streaming_url`"
            ) from exc
        kind = response.headers.get("Content-Type", "")
        if not kind.lower().startswith("text/event-stream"):
            raise MalformedResponse(f"not an event stream (Content-Type {kind or 'missing'!r})")

    # --- server-sent events ---------------------------------------------------------------

    def _lines(self, chunks: Iterator[bytes], stop: threading.Event) -> Iterator[bytes | _Long]:
        """Complete lines (without their LF or CRLF), `_Long` for one too large to keep. Each
        chunk is searched once: a huge line sent in small pieces costs linear time."""
        pending = bytearray()
        dropping = False  # inside a line too large: dropped up to its newline
        idle = _Deadline(self.idle_timeout)
        for chunk in chunks:
            if stop.is_set():
                return
            start, complete = 0, False
            while (end := chunk.find(b"\n", start)) >= 0:
                complete = True
                if dropping:
                    dropping = False
                else:
                    pending += chunk[start:end]
                    line = bytes(pending).removesuffix(b"\r")
                    pending.clear()
                    yield line if len(line) <= MAX_EVENT_BYTES else _Long(line[:1] == b":")
                start = end + 1
            if not dropping:
                pending += chunk[start:]
                if len(pending) > MAX_EVENT_BYTES:
                    dropping = True
                    yield _Long(pending[:1] == b":")
                    pending.clear()
            if complete:
                idle.reset()
            elif idle.passed():  # bytes, but no complete line: a drip, or junk without end
                raise TransientError(
                    f"no complete line for {self.idle_timeout:g} s: the stream is stuck"
                )
        if stop.is_set():
            return
        raise _Ended(bool(pending.strip()) and pending[:1] != b":")

    def _events(
        self, chunks: Iterator[bytes], stop: threading.Event, connected: str | None = None
    ) -> Iterator[StreamEvent]:
        """SSE lines into events (WHATWG "event stream" rules: `event:`, `data:` lines,
        a blank line dispatches, a line starting with ':' is a comment)."""
        # the cursor before any status: when the connection was made
        connected = connected or datetime.now(UTC).isoformat(timespec="seconds")
        newest: str | None = None
        skipped = 0
        name = b""
        data: list[bytes] = []
        size = 0
        oversize = False  # the event has a line or data too large: skipped at its end
        try:
            for line in self._lines(chunks, stop):
                if isinstance(line, _Long):
                    if line.comment:
                        skipped += 1  # a comment: nothing of an event is lost
                    else:
                        oversize = True
                    continue
                if line:
                    if line.startswith(b":"):
                        continue  # a heartbeat
                    field, _, value = line.partition(b":")
                    value = value.removeprefix(b" ")
                    if field == b"data":
                        size += len(value)
                        if size > MAX_EVENT_BYTES:
                            oversize = True
                        elif not oversize:
                            data.append(value)
                    elif field == b"event":
                        name = value
                    continue  # `id` and `retry` say nothing Mastodon uses
                # a blank line ends an event
                if oversize:
                    skipped += 1
                elif data:
                    try:
                        event = self._event(name, b"\n".join(data))
                    except (_Skip, TypeError, ValueError, AttributeError, LookupError):
                        skipped += 1  # a field of an unexpected type (a list for a dict...)
                    else:
                        seen = event.cursor  # the event's status id, if it has one
                        if seen is not None and (newest is None or id_key(seen) > id_key(newest)):
                            newest = seen
                        event.cursor = newest or connected
                        event.skipped, skipped = skipped, 0
                        yield event
                        if stop.is_set():
                            return
                name, data, size, oversize = b"", [], 0, False
        except _Ended as end:
            # inside an event: a line was cut, or the event's blank line never came
            cut = " in the middle of an event" if end.cut or data or name else ""
            raise TransientError(f"the streaming server ended the stream{cut}") from None

    def _event(self, name: bytes, raw: bytes) -> StreamEvent:
        """One dispatched event; `_Skip` for one that is not what Mastodon sends."""
        if b"\x00" in raw:
            raise _Skip("a NUL byte")
        try:
            kind = name.decode("ascii") or "message"
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Skip("not UTF-8") from exc
        if kind == "delete":
            deleted = text.strip()
            if not deleted or len(deleted) > 64 or not deleted.isprintable() or " " in deleted:
                raise _Skip("not a status id")
            return StreamEvent(cursor=None, at=None, deleted=deleted)
        if kind in QUIET_EVENTS:
            return StreamEvent(cursor=None, at=None)
        if kind not in ("update", "status.update", "notification"):
            raise _Skip(f"unknown event {kind!r}")
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise _Skip("not JSON") from exc
        if not isinstance(payload, dict) or payload.get("id") is None:
            raise _Skip("not an object with an id")
        if kind == "notification":
            return self._notification(payload)
        event = self._status_event(payload, notified=False)
        if kind == "status.update":
            with contextlib.suppress(ValueError):  # the edit is the event, not the post
                event.at = parse_time(payload.get("edited_at"))
        return event

    def _notification(self, note: dict[str, Any]) -> StreamEvent:
        status = note.get("status")
        if note.get("type") in MENTION_NOTIFICATIONS and isinstance(status, dict):
            return self._status_event(status, notified=True)
        try:
            at = parse_time(note.get("created_at"))
        except ValueError:
            at = None
        return StreamEvent(cursor=None, at=at)  # a like, a follow, a boost: nothing to match

    def _status_event(self, status: dict[str, Any], *, notified: bool) -> StreamEvent:
        if not isinstance(status.get("id"), str | int):
            raise _Skip("a status without an id")
        record = self._polled._record(status)
        if record is None:
            raise _Skip("a status without a usable created_at")
        event = StreamEvent(cursor=record.external_id, at=record.created_at)
        if status.get("reblog"):
            return event  # a boost repeats someone else's post; it is not a new mention
        event.found = self._classify(status, record, notified)
        return event

    # --- matching -------------------------------------------------------------------------

    def _classify(
        self, status: dict[str, Any], record: MentionRecord, notified: bool
    ) -> MentionRecord | BrandReply | None:
        identity = self._polled._brand(status.get("account"))
        if identity is not None:
            # the brand's own post: its reply to something, or its own news (not a mention)
            return BrandReply.answering(record, identity) if record.parent_id else None
        if notified or self.options.stream.startswith("hashtag") or self.matches(status, record):
            return record
        return None

    def matches(self, status: dict[str, Any], record: MentionRecord) -> bool:
        """Keywords in the text, a listed hashtag, or a listed account as author or mention
        (or as the author of the quoted post)."""
        if self._keywords is not None and self._keywords.search(fold(record.text)):
            return True
        if self._hashtags:
            for tag in status.get("tags") or ():
                if isinstance(tag, dict) and fold(str(tag.get("name", ""))) in self._hashtags:
                    return True
        if self._accounts:
            accounts = [status.get("account")]
            accounts += list(status.get("mentions") or ())
            quote = status.get("quote")
            if isinstance(quote, dict) and isinstance(quote.get("quoted_status"), dict):
                accounts.append(quote["quoted_status"].get("account"))
            for account in accounts:
                if isinstance(account, dict) and self._account_listed(account):
                    return True
        return False

    def _account_listed(self, account: dict[str, Any]) -> bool:
        acct = fold(str(account.get("acct") or ""))
        names = {acct, str(account.get("id") or "")}
        if acct and "@" not in acct:
            host = httpx.URL(str(account.get("url") or self.base_url)).host
            names.add(f"{acct}@{host}")
        return not names.isdisjoint(self._accounts)

    # --- a look at the stream -------------------------------------------------------------

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        """`sample_seconds` of the stream from now: it cannot resume from a stored cursor."""
        result = super().poll(client, FeedCursor(), now)
        if result.state.cursor is None:
            result.state = state
        return result


class _Ended(Exception):
    """The server closed the stream; `cut` if it did so inside a line."""

    def __init__(self, cut: bool) -> None:
        super().__init__()
        self.cut = cut


class _Long:
    """A line longer than MAX_EVENT_BYTES, dropped; `comment` if it was a comment line."""

    def __init__(self, comment: bool) -> None:
        self.comment = comment


class _Deadline:
    """When a stream that sends bytes but no complete line counts as stuck."""

    def __init__(self, seconds: float) -> None:
        self._clock = time.monotonic
        self._seconds = seconds
        self._end = self._clock() + seconds

    def reset(self) -> None:
        self._end = self._clock() + self._seconds

    def passed(self) -> bool:
        return self._clock() >= self._end
