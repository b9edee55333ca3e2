"""The reply contract: what a writer is given, what it returns, and how a failure is told.

A writer posts one public reply, as the brand, through the platform's API. It never touches
the database or Slack: monitor/replying/ decides whether to post at all, keeps every attempt,
and records what was posted as the brand's reply so the TTFR stops at the platform's own time.

Exactly once rests on the two failures being told apart:
- `ReplyRefused`: the platform certainly did not post (a 4xx, a 429, no connection made).
  The agent may fix the text and try again; a new attempt gets a new key.
- `ReplyUnknown`: it may have posted (a timeout or a reset after the request went out, a
  5xx). Nothing is posted again until `find_own` has looked, or the platform deduplicates
  by the key (`takes_key`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from connectors import deadline
from connectors.base import ConnectorOptions, options_parameter
from connectors.env import require_env
from connectors.errors import AuthError
from connectors.http import parse_retry_after
from connectors.logins import Logins, TokenStore
from connectors.redact import redact_urls
from connectors.text import storable

# What a platform's answer may weigh: an error page or the created object, never more.
MAX_ANSWER_BYTES = 1024 * 1024
# The platform's own words in an error are quoted to the agent, cut to this.
MAX_QUOTE = 300


class ReplyOptions(BaseModel):
    """Base of every writer's `reply = { ... }` keys on a feed; unknown keys are errors.

    Each key's meaning is the docstring under it. Write credentials are separate from the
    feed's read credentials: the keys name environment variables, never the secrets."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


@dataclass(frozen=True)
class ReplyTarget:
    """The stored mention being answered, as the connector stored it."""

    platform: str
    feed: str
    external_id: str
    created_at: datetime
    text: str
    url: str | None = None
    author: str | None = None
    author_id: str | None = None
    title: str | None = None
    parent_id: str | None = None
    thread_id: str | None = None


@dataclass(frozen=True)
class PostedReply:
    """The reply as the platform created it.

    `external_id` is the id the feed's connector gives the same reply when a later poll
    reads it, so the poll finds it stored, not new. `created_at` is the platform's own
    time of the reply (UTC): the TTFR ends there, not when we asked."""

    external_id: str
    created_at: datetime
    url: str | None = None
    author: str | None = None
    author_id: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        # made storable when made, like every connector record (connectors/base._Storable):
        # a NUL or a lone surrogate in the platform's answer must not fail its recording
        for name in ("external_id", "url", "author", "author_id", "text"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, storable(value))


class ReplyError(Exception):
    """A reply that did not go as asked; the message is shown to the agent in the modal
    and kept in the `action` table, so it says what happened and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(storable(redact_urls(message)))

    @property
    def message(self) -> str:
        return str(self.args[0])


class ReplyRefused(ReplyError):
    """The platform did not post the reply: safe to try again with a new key.

    `kind`: "invalid" (the platform refused the text or the target), "auth" (the write
    credentials), "gone" (the post was deleted), "rate_limited" (with `retry_after`),
    "unreachable" (no connection could be made)."""

    def __init__(self, message: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class ReplyUnknown(ReplyError):
    """The request may have reached the platform and been posted: look before posting again."""


OptionsT = TypeVar("OptionsT", bound=ReplyOptions)


class Replier(ABC, Generic[OptionsT]):
    """One platform's way of answering: `class AcmeReplier(Replier[AcmeReplyOptions])`.

    Attributes:
        platform: the platform of the mentions it answers (as stored on them).
        max_length: the longest reply the platform takes, in `length_unit`s (the modal checks
            it before anything is posted).
        length_unit: what `length` counts ("characters", "graphemes", "weighted characters").
        takes_key: the platform deduplicates a request by our key (Mastodon's
            Idempotency-Key), or the write replaces a single reply (Google Play): a request
            whose outcome is unknown may then be sent again as it was.
        write_scopes: what the write credentials need, for the docs and for errors.
    """

    platform: ClassVar[str]
    max_length: ClassVar[int]
    length_unit: ClassVar[str] = "characters"
    takes_key: ClassVar[bool] = False
    write_scopes: ClassVar[str] = ""
    Options: ClassVar[type[ReplyOptions]] = ReplyOptions

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = options_parameter(cls, Replier, ReplyOptions)
        if found is not None:
            cls.Options = found

    def __init__(
        self,
        options: OptionsT,
        *,
        feed_options: ConnectorOptions,
        base_url: str,
        logins: TokenStore | None = None,
        config_dir: Path | None = None,
    ) -> None:
        """`feed_options` are the feed's read options (its repository, its page id...);
        `base_url` the feed's API root (the connector's default when the feed sets none);
        `config_dir` what a relative key file path is relative to, as for the feeds."""
        self.options = options
        self.config_dir = config_dir or Path.cwd()
        self.feed_options = feed_options
        self.base_url = base_url.rstrip("/")
        self.logins: TokenStore = logins if logins is not None else Logins()

    # -- before posting -------------------------------------------------------------------

    def missing(self) -> str | None:
        """What keeps this writer from posting (an unset env var), or None when ready.

        A feed whose writer is not ready shows no Reply button. The default checks every
        `*_env` option; a writer with optional ones overrides it."""
        for key, value in self.options:
            if key.endswith("_env") and isinstance(value, str) and value:
                try:
                    require_env(value, key)
                except AuthError:
                    return f"{value} is not set"
        return None

    def limit(self) -> int:
        """The longest reply this feed's platform takes (an instance may allow more)."""
        return self.max_length

    def length(self, text: str) -> int:
        """The text's length as the platform counts it (code points unless overridden)."""
        return len(text)

    def check(self, text: str) -> str | None:
        """Why the platform would refuse `text` before it is sent, or None."""
        if not text.strip():
            return "The reply is empty."
        size, limit = self.length(text), self.limit()
        if size > limit:
            return (
                f"{self.platform} takes at most {limit} {self.length_unit};"
                f" this reply has {size}. Shorten it by {size - limit}."
            )
        return None

    # -- posting --------------------------------------------------------------------------

    @abstractmethod
    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        """Post `text` as the brand's public reply to `target`; raise ReplyRefused or
        ReplyUnknown. `key` is unique to this attempt: writers of platforms that take one
        send it (`takes_key`), the others may use it to recognise their reply."""

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        """The brand's reply to `target` with this text posted at or after `since`, if the
        platform shows one: an attempt whose outcome was unknown is looked for here before
        anything is posted again. Raise ReplyUnknown when the platform cannot be asked.

        The default cannot look: the agent is then told to check the platform, and nothing
        is posted again from Slack for this mention."""
        raise ReplyUnknown(
            f"{self.platform} cannot be asked whether the earlier reply was posted;"
            " check the post on the platform"
        )


def same_words(shown: str, typed: str) -> bool:
    """A reply read back from the platform is the one typed: platforms fold blanks and line
    breaks when they render or store it, so the words are compared, not the spacing."""
    return shown.split() == typed.split()


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    source: str,
    refusal: Callable[[httpx.Response, bytes], str | None] | None = None,
    **request: Any,
) -> tuple[httpx.Response, bytes]:
    """One write request: a 2xx answer and its body (capped), or the right ReplyError.

    `refusal` turns a 4xx body into the platform's own words ("Validation failed: Text
    character limit of 500 exceeded"); the agent reads them in the modal. The rest of the
    request (`json=`, `data=`, `params=`, `headers=`) goes to httpx as is."""
    try:
        with client.stream(method, url, **request) as response:
            body = _body(response)
    except httpx.ConnectError as exc:
        raise ReplyRefused(
            f"could not connect to {source} ({exc.__class__.__name__}): nothing was posted;"
            " try again in a minute",
            kind="unreachable",
        ) from exc
    except httpx.ConnectTimeout as exc:
        raise ReplyRefused(
            f"{source} did not accept a connection in time: nothing was posted; try again",
            kind="unreachable",
        ) from exc
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        late = deadline.missed(exc) if isinstance(exc, httpx.TimeoutException) else None
        raise ReplyUnknown(
            f"{source} did not answer ({late or exc.__class__.__name__}) after the reply was"
            " sent: it may have been posted"
        ) from exc
    status = response.status_code
    if 200 <= status < 300:
        return response, body
    words = refusal(response, body) if refusal is not None else None
    said = f": {_quote(words)}" if words else ""
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        wait = f" (wait {int(retry_after)} s)" if retry_after else ""
        raise ReplyRefused(
            f"{source} is rate limiting the brand's account (429){said}: nothing was posted;"
            f" try again later{wait}",
            kind="rate_limited",
            retry_after=retry_after,
        )
    if status in (401, 403):
        raise ReplyRefused(
            f"{source} refused the write credentials ({status}){said}: nothing was posted;"
            " ask whoever runs the monitor to check the feed's reply token and its scopes",
            kind="auth",
        )
    if status in (404, 410):
        raise ReplyRefused(
            f"{source} no longer has this post ({status}){said}: it was probably deleted",
            kind="gone",
        )
    if status == 408 or status >= 500:
        raise ReplyUnknown(f"{source} failed ({status}){said}: the reply may have been posted")
    raise ReplyRefused(
        f"{source} refused the reply ({status}){said}: nothing was posted", kind="invalid"
    )


def _body(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            break  # an answer this big is not ours to read; what came is enough to quote
        chunks.append(chunk)
    return b"".join(chunks)


def _quote(words: str) -> str:
    flat = " ".join(words.split())
    return flat if len(flat) <= MAX_QUOTE else flat[: MAX_QUOTE - 1] + "…"
