"""Bluesky live: posts matching keywords, hashtags or accounts as they are made (Jetstream).

- Reads Bluesky's Jetstream, the firehose as JSON over a websocket
  (https://github.com/bluesky-social/jetstream, docs/README.md section 5.1, the v1 wire):
  GET {base_url}/subscribe?wantedCollections=app.bsky.feed.post[&wantedDids=...]
  [&cursor=<time_us>]&maxMessageSizeBytes=..., default base_url
  wss://jetstream2.us-east.bsky.network. Messages: `kind` commit (`commit.operation` create,
  update, delete of a record), identity or account, each with `did` and `time_us` (unix
  microseconds, Jetstream's own time of the event).
- Auth: none; the public instances are open. Rate limit: none documented for the v1 socket;
  one connection per feed.
- Cursor: the event's `time_us` as text. On reconnect the socket is asked to replay from the
  cursor less REWIND (Jetstream's README: exact-boundary replay is not gapless, events are
  not strictly in `time_us` order); replayed events this connector already yielded up to
  that cursor are dropped, so a resume in one process repeats nothing (after a restart the
  store dedupes the few repeats). Jetstream keeps about 36 hours and SILENTLY starts from its
  oldest event for a cursor older than that, so a cursor older than `resume_window` raises
  StreamGap before connecting: the runner fills the gap with `fill_feed`.
- Brand reply: a post by a brand identity's DID (`id = "did:plc:..."`) that replies to
  something: BrandReply(in_reply_to = record.reply.parent.uri). Its posts that reply to
  nothing are neither mentions nor replies.
- Quirks: the event carries the author's DID, not the handle: `author` is None and the web
  link is https://bsky.app/profile/{did}/post/{rkey}; external ids are at:// URIs exactly as
  the `bluesky` feed builds them, so a post found by both is stored once. Compression
  (Jetstream's zstd with a custom dictionary) is not used: see docs/sources/bluesky_stream.md.
"""

from __future__ import annotations

import json
import re
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from pydantic import field_validator, model_validator
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    WebSocketException,
)
from websockets.sync.client import ClientConnection, connect

from connectors.base import BrandReply, ConnectorOptions, MentionRecord
from connectors.durations import Duration
from connectors.errors import MalformedResponse, RateLimited, TransientError
from connectors.http import parse_retry_after
from connectors.sources.bluesky import POST_COLLECTION, post_record
from connectors.streams import StreamConnector, StreamEvent, StreamGap
from connectors.text import storable

# replay a little before the cursor: events arrive up to tens of ms out of time_us order
REWIND_US = 5_000_000
# the server drops messages larger than this (maxMessageSizeBytes); a server that does not
# is cut off at HARD_MAX_MESSAGE (the websocket's max_size), and a message in between skipped
MAX_MESSAGE = 1_000_000
HARD_MAX_MESSAGE = 4 * MAX_MESSAGE
MAX_WANTED_DIDS = 10_000  # Jetstream's cap on wantedDids
RECV_SLICE = 0.25  # seconds one recv waits: how soon `stop` is seen on a silent socket
# yielded events remembered for dropping the replay after a resume (see `_Seen`): minutes
# of the post stream, far more than the REWIND a resume replays
SEEN_LIMIT = 20_000

_HASHTAG = re.compile(r"(?<![\w#])[#＃]([^\s#＃.,;:!?()\[\]{}\"'`]+)")
# scripts written without spaces between words: a keyword there is matched as it stands
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


class BlueskyStreamOptions(ConnectorOptions):
    keywords: list[str] = []
    """words or phrases a post's text must contain (whole words, any case, any language)"""
    hashtags: list[str] = []
    """hashtags (without #) a post must carry, as a tag or as a #word in its text"""
    dids: list[str] = []
    """accounts (DIDs, did:plc:...) whose every post is a mention"""
    mentions: bool = False
    """also posts that @mention, reply to or quote a brand identity (by its DID)"""
    fill_feed: str | None = None
    """the `bluesky` feed (a search over the same words) that fills a gap after an outage"""
    resume_window: Duration = 20 * 3600.0
    """a saved cursor older than this is not resumed (Jetstream keeps about 36 h): a gap"""

    @field_validator("dids")
    @classmethod
    def _dids(cls, value: list[str]) -> list[str]:
        bad = [did for did in value if not did.startswith("did:")]
        if bad:
            raise ValueError(f"not a DID (did:plc:... or did:web:...): {', '.join(bad)}")
        if len(value) > MAX_WANTED_DIDS:
            raise ValueError(f"at most {MAX_WANTED_DIDS} DIDs (Jetstream's wantedDids cap)")
        return value

    @field_validator("keywords", "hashtags")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        words = [word.strip().lstrip("#＃") for word in value]
        if any(not word for word in words):
            raise ValueError("an empty word matches nothing")
        return words

    @model_validator(mode="after")
    def _something(self) -> BlueskyStreamOptions:
        if not (self.keywords or self.hashtags or self.dids or self.mentions):
            raise ValueError("give `keywords`, `hashtags`, `dids` or `mentions = true`")
        return self


def _fold(text: str) -> str:
    """One form for matching: full-width and compatibility letters unified, case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _unspaced(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_UNSPACED)


def keyword_pattern(keywords: list[str]) -> re.Pattern[str] | None:
    """One regex for all keywords, on folded text: whole words where the script spaces its
    words (a letter or digit may not touch the keyword), as written in CJK, Thai and the
    like; spaces in a phrase match any run of spaces."""
    parts = []
    for keyword in sorted({_fold(k) for k in keywords}, key=len, reverse=True):
        body = r"\s+".join(re.escape(piece) for piece in keyword.split())
        head = "" if _unspaced(keyword[0]) or not keyword[0].isalnum() else r"(?<!\w)"
        tail = "" if _unspaced(keyword[-1]) or not keyword[-1].isalnum() else r"(?!\w)"
        parts.append(f"{head}{body}{tail}")
    return re.compile("|".join(parts)) if parts else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _uri_did(uri: Any) -> str | None:
    if isinstance(uri, str) and uri.startswith("at://did:"):
        return uri[5:].split("/", 1)[0]
    return None


def post_tags(record: dict[str, Any], text: str) -> set[str]:
    """The post's hashtags, folded: tag facets, the record's `tags`, and #words in the text."""
    tags = {_fold(m.group(1)) for m in _HASHTAG.finditer(text)} if "#" in text else set()
    for tag in record.get("tags") or ():
        if isinstance(tag, str):
            tags.add(_fold(tag.lstrip("#")))
    for facet in record.get("facets") or ():
        for feature in _dict(facet).get("features") or ():
            tag = _dict(feature).get("tag")
            if isinstance(tag, str):
                tags.add(_fold(tag.lstrip("#")))
    return tags


def _talks_to(record: dict[str, Any], dids: set[str]) -> bool:
    """The post @mentions, quotes, or replies to one of `dids` or in a thread one started
    (as Bluesky notifies: `reply` notifications include replies below the account's posts)."""
    reply = _dict(record.get("reply"))
    for end in ("parent", "root"):
        if _uri_did(_dict(reply.get(end)).get("uri")) in dids:
            return True
    embed = _dict(record.get("embed"))
    quoted = _dict(embed.get("record"))
    quoted = _dict(quoted.get("record")) if "record" in quoted else quoted  # recordWithMedia
    if _uri_did(quoted.get("uri")) in dids:
        return True
    for facet in record.get("facets") or ():
        for feature in _dict(facet).get("features") or ():
            if _dict(feature).get("did") in dids:
                return True
    return False


class _Seen:
    """What this connector yielded lately, in order: each event's time and a hash of it.

    A resume replays from REWIND before the cursor: the events yielded up to the cursor the
    runner resumes from are dropped from the replay, the ones after it (yielded but not
    stored by the runner) are yielded again. Bounded: SEEN_LIMIT events, a few MB."""

    def __init__(self) -> None:
        self.log: deque[tuple[int, int]] = deque(maxlen=SEEN_LIMIT)

    def add(self, time_us: int, key: tuple[Any, ...]) -> None:
        self.log.append((time_us, hash(key)))

    def upto(self, cursor: str) -> set[int]:
        """The hashes yielded up to the last event at this cursor; empty if none was."""
        try:
            until = int(cursor)
        except ValueError:
            return set()
        keys: set[int] = set()
        found = False
        for time_us, key in reversed(self.log):
            found = found or time_us == until
            if found:
                keys.add(key)
                if time_us < until - 2 * REWIND_US:
                    break
        return keys


class BlueskyStreamConnector(StreamConnector[BlueskyStreamOptions]):
    """Bluesky posts read live from Jetstream."""

    name = "bluesky_stream"
    platform = "bluesky"
    default_interval = 60  # not polled on an interval; `poll` is a dry-run sample
    default_base_url = "wss://jetstream2.us-east.bsky.network"
    Options = BlueskyStreamOptions
    idle_timeout: ClassVar[float] = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = self.options
        self._keywords = keyword_pattern(opts.keywords)
        self._hashtags = {_fold(tag) for tag in opts.hashtags}
        self._dids = set(opts.dids)
        self._brand_dids = {i.account_id for i in self.identities if i.account_id}
        self._seen = _Seen()
        # the wall clock a saved cursor is compared with (tests set the recording's time)
        self.clock: Callable[[], float] = time.time

    # --- connecting -----------------------------------------------------------------------

    def subscribe_url(self, cursor: int | None) -> str:
        """The /subscribe URL: posts only; only the wanted accounts' when nothing else is
        matched (keywords need everyone's posts), the brand's DIDs added for its replies."""
        params: list[tuple[str, str]] = [("wantedCollections", POST_COLLECTION)]
        opts = self.options
        if self._dids and not (opts.keywords or opts.hashtags or opts.mentions):
            wanted = sorted(self._dids | self._brand_dids)[:MAX_WANTED_DIDS]
            params += [("wantedDids", did) for did in wanted]
        params.append(("maxMessageSizeBytes", str(MAX_MESSAGE)))
        if cursor is not None:
            params.append(("cursor", str(max(cursor - REWIND_US, 0))))
        return f"{self.base_url}/subscribe?{urlencode(params)}"

    def _filtered(self) -> bool:
        return "wantedDids=" in self.subscribe_url(None)

    def _connect(self, url: str) -> ClientConnection:
        where = urlsplit(url).netloc
        try:
            return connect(
                url,
                max_size=HARD_MAX_MESSAGE,
                open_timeout=10,
                close_timeout=0.5,
                compression=None,  # Jetstream does not negotiate permessage-deflate
                user_agent_header="social-response-monitor (bluesky_stream)",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = exc.response.body.decode("utf-8", "replace")[:200] if exc.response.body else ""
            if status == 429:
                wait = parse_retry_after(exc.response.headers.get("Retry-After"))
                raise RateLimited(f"Jetstream at {where} answered 429", retry_after=wait) from exc
            if status >= 500:
                raise TransientError(f"Jetstream at {where} answered {status}") from exc
            raise MalformedResponse(
                f"Jetstream at {where} refused the subscription ({status}): {body}"
            ) from exc
        except (InvalidHandshake, WebSocketException) as exc:
            raise TransientError(f"no websocket at {where}: {exc}") from exc
        except TimeoutError as exc:
            raise TransientError(f"timed out connecting to Jetstream at {where}") from exc
        except OSError as exc:
            raise TransientError(f"cannot reach Jetstream at {where}: {exc}") from exc

    def _connect_unless_stopped(self, url: str, stop: threading.Event) -> ClientConnection | None:
        """`_connect`, given up (None) within RECV_SLICE of `stop`: a host that takes the TCP
        connection and never answers the handshake held a stopping reader for open_timeout
        (10 s). The attempt goes on in its thread and closes what it gets."""
        outcome: list[ClientConnection | Exception] = []
        lock = threading.Lock()
        done = threading.Event()
        abandoned = False

        def attempt() -> None:
            try:
                got: ClientConnection | Exception = self._connect(url)
            except Exception as exc:
                got = exc
            with lock:
                outcome.append(got)
                done.set()
                if abandoned and isinstance(got, ClientConnection):
                    got.close()  # nobody waits for it any more

        threading.Thread(target=attempt, name="jetstream-connect", daemon=True).start()
        while not done.wait(RECV_SLICE):
            if stop.is_set():
                with lock:
                    if not done.is_set():
                        abandoned = True
                        return None
        got = outcome[0]
        if stop.is_set():
            if isinstance(got, ClientConnection):
                got.close()
            return None
        if isinstance(got, Exception):
            raise got
        return got

    # --- the stream -----------------------------------------------------------------------

    def stream(self, cursor: str | None, stop: threading.Event) -> Iterator[StreamEvent]:
        resume = self._resume_point(cursor)
        replayed = self._seen.upto(cursor) if cursor is not None else set()
        url = self.subscribe_url(resume)
        where = urlsplit(url).netloc
        connection = self._connect_unless_stopped(url, stop)
        if connection is None:
            return
        filtered = self._filtered()
        skipped = 0
        try:
            # connected: shown so at once, though a filtered stream may be quiet for hours
            yield StreamEvent(cursor=None, at=None, alive=True)
            last_heard = time.monotonic()
            pong: threading.Event | None = None
            while not stop.is_set():
                try:
                    # bytes: a text frame of bad UTF-8 is skipped as garbage by json.loads,
                    # where decoding it in recv would fail the connection for good
                    message = connection.recv(timeout=RECV_SLICE, decode=False)
                except TimeoutError:
                    now = time.monotonic()
                    if pong is not None and pong.is_set():
                        # a filtered stream is quiet by nature: a pong says it is alive
                        last_heard, pong = now, None
                    silent = now - last_heard
                    if silent > self.idle_timeout:
                        raise TransientError(
                            f"Jetstream at {where} sent nothing for {silent:.0f}s"
                        ) from None
                    if filtered and pong is None and silent > self.idle_timeout / 2:
                        pong = connection.ping()
                    continue
                last_heard, pong = time.monotonic(), None
                try:
                    event, key = self._event(message)
                except (TypeError, ValueError, AttributeError, LookupError):
                    # a field of another type than the lexicon says, deep in a record: this
                    # event is garbage. Raised, it ended the connection, and the resume
                    # replayed the same event: the stream reconnected for good
                    event, key = None, ()
                if event is None:
                    skipped += 1
                    continue
                if replayed and hash(key) in replayed:
                    continue
                event.skipped, skipped = skipped, 0
                self._seen.add(key[0], key)
                yield event
        except ConnectionClosed as exc:  # from recv or ping
            raise TransientError(f"Jetstream at {where} closed the stream: {exc}") from exc
        finally:
            connection.close()

    def _resume_point(self, cursor: str | None) -> int | None:
        if cursor is None:
            return None
        try:
            time_us = int(cursor)
        except ValueError:
            raise StreamGap(f"the saved cursor {cursor!r} is not a Jetstream time") from None
        age = self.clock() - time_us / 1e6
        if age > self.options.resume_window:
            raise StreamGap(
                f"the saved cursor is {age / 3600:.1f} h old, beyond resume_window "
                f"({self.options.resume_window / 3600:g} h): Jetstream would silently start "
                "from its oldest event"
            )
        return time_us

    def _event(self, message: str | bytes) -> tuple[StreamEvent | None, tuple[Any, ...]]:
        """The StreamEvent of one message and its identity; None for garbage."""
        if len(message) > MAX_MESSAGE:
            return None, ()
        try:
            data = json.loads(message)  # zstd we did not ask for is not JSON either
        except ValueError:
            return None, ()
        if not isinstance(data, dict):
            return None, ()
        time_us, did, kind = data.get("time_us"), data.get("did"), data.get("kind")
        if not isinstance(time_us, int) or isinstance(time_us, bool) or time_us <= 0:
            return None, ()
        if not isinstance(did, str) or not isinstance(kind, str):
            return None, ()
        try:
            at = datetime.fromtimestamp(time_us / 1e6, tz=UTC)
        except (OverflowError, ValueError, OSError):
            return None, ()
        event = StreamEvent(cursor=str(time_us), at=at)
        if kind != "commit":
            return event, (time_us, did, kind)
        commit = data.get("commit")
        if not isinstance(commit, dict):
            return None, ()
        operation, collection, rkey = (
            commit.get("operation"),
            commit.get("collection"),
            commit.get("rkey"),
        )
        if not isinstance(rkey, str) or not isinstance(operation, str):
            return None, ()
        key = (time_us, did, str(collection), rkey, operation, str(commit.get("rev")))
        if collection != POST_COLLECTION:
            return event, key
        uri = f"at://{did}/{POST_COLLECTION}/{rkey}"
        if operation == "delete":
            event.deleted = uri
        elif operation in ("create", "update"):
            record = commit.get("record")
            if not isinstance(record, dict):
                return None, ()
            if isinstance(record.get("text"), str):
                # a lone surrogate JSON may escape cannot be encoded for the facets' byte
                # offsets (nor stored): U+FFFD, as records get it
                record = {**record, "text": storable(record["text"])}
            event.found = self._found(uri, did, record)
        return event, key

    # --- matching -------------------------------------------------------------------------

    def _found(
        self, uri: str, did: str, record: dict[str, Any]
    ) -> MentionRecord | BrandReply | None:
        identity = self.brand_identity(None, did) if did in self._brand_dids else None
        if identity is None and not self._matches(did, record):
            return None
        # the post as the `bluesky` feed makes it, less what the event lacks (the handle)
        post = post_record(self.platform, uri, None, did, record)
        if post is None or identity is None:
            return post
        return BrandReply.answering(post, identity) if post.parent_id else None

    def _matches(self, did: str, record: dict[str, Any]) -> bool:
        if did in self._dids:
            return True
        text = record.get("text")
        text = text if isinstance(text, str) else ""
        if self._keywords is not None and text and self._keywords.search(_fold(text)):
            return True
        if self._hashtags and not self._hashtags.isdisjoint(post_tags(record, text)):
            return True
        return self.options.mentions and _talks_to(record, self._brand_dids)
