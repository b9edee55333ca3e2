"""The connector contract: what a source returns from one poll, in the same shape for all."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict

from connectors.logins import Logins, TokenStore
from connectors.text import storable

_TEXT_FIELDS: dict[type, tuple[str, ...]] = {}


def _text_fields(cls: type) -> tuple[str, ...]:
    """The str fields of a record class (annotations are strings here: __future__)."""
    found = _TEXT_FIELDS.get(cls)
    if found is None:
        names = (f.name for f in fields(cls) if f.type in ("str", "str | None"))
        found = _TEXT_FIELDS[cls] = tuple(names)
    return found


class _Storable:
    """A record whose text is made storable when it is made, by whichever connector: a NUL or
    a lone surrogate from a hostile feed must not make its whole poll fail to store."""

    def __post_init__(self) -> None:
        for name in _text_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, str):
                clean = storable(value)
                if clean is not value:
                    setattr(self, name, clean)


@dataclass(frozen=True)
class BrandIdentity:
    """One account that speaks for the brand on a platform; bots do not stop the TTFR clock."""

    platform: str
    handle: str | None = None
    account_id: str | None = None
    bot: bool = False

    def matches(self, author: str | None, author_id: str | None) -> bool:
        if self.account_id and author_id and self.account_id == author_id:
            return True
        return bool(self.handle and author and self.handle.casefold() == author.casefold())


@dataclass
class MentionRecord(_Storable):
    """A post, comment or review about the brand, normalised from any platform.

    `created_at` is the platform's creation time in UTC. `created_is_modified` says the
    platform only gives a last-modified time (Google Play, the App Store feed).
    `parent_id` / `thread_id` are platform ids of what this item answers, if anything.
    """

    platform: str
    external_id: str
    created_at: datetime
    text: str
    url: str | None = None
    author: str | None = None
    author_id: str | None = None
    title: str | None = None
    language: str | None = None
    rating: float | None = None
    parent_id: str | None = None
    thread_id: str | None = None
    created_is_modified: bool = False
    edited_after_reply: bool = False
    score: int | None = None  # a 0-10 survey score (NPS), where the source carries one
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BrandReply(_Storable):
    """The brand's public answer to a mention, found by the connector.

    `in_reply_to` is the external id of the mention it answers. `seen_modified_only` is set
    where the platform gives only a last-modified time for the reply (review sites).
    `earlier_unseen` says the walk that found it stopped before the whole thread was read
    (a page bound, an unexpanded stub, a truncated context): an earlier brand reply to the
    same mention may exist unseen, so a TTFR measured to this one is an upper bound.
    """

    platform: str
    external_id: str
    in_reply_to: str
    created_at: datetime
    author: str | None = None
    author_id: str | None = None
    url: str | None = None
    text: str | None = None
    bot: bool = False
    seen_modified_only: bool = False
    earlier_unseen: bool = False

    @classmethod
    def answering(cls, post: MentionRecord, identity: BrandIdentity) -> BrandReply:
        """The brand's own post that answers another (`post.parent_id`), as its reply: on
        social platforms the brand replies in the same stream the mentions come from."""
        assert post.parent_id is not None
        return cls(
            platform=post.platform,
            external_id=post.external_id,
            in_reply_to=post.parent_id,
            created_at=post.created_at,
            author=post.author,
            author_id=post.author_id,
            url=post.url,
            text=post.text,
            bot=identity.bot,
        )


@dataclass
class FeedCursor(_Storable):
    """The small state a connector needs to continue where it stopped."""

    cursor: str | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class PollResult:
    """What one poll found. `not_modified` is a 304: nothing was downloaded or parsed."""

    mentions: list[MentionRecord] = field(default_factory=list)
    brand_replies: list[BrandReply] = field(default_factory=list)
    state: FeedCursor = field(default_factory=FeedCursor)
    not_modified: bool = False
    bytes_received: int = 0
    warnings: list[str] = field(default_factory=list)

    def add(self, found: MentionRecord | BrandReply | None) -> None:
        """Keep what a connector's helper made of one item: a mention, a brand reply, or
        nothing (an item that is neither)."""
        if isinstance(found, BrandReply):
            self.brand_replies.append(found)
        elif found is not None:
            self.mentions.append(found)


@dataclass(frozen=True)
class Narrowing:
    """What the monitor's own filter demands of every mention anyway, for a search to ask of
    the platform first, so that less is fetched: posts by one of `authors` (empty: anyone)
    and by none of `not_authors`. Accounts are named as the platform does (a handle or an
    id, lower case).

    The monitor builds it only from what the platform's own operator matches exactly as its
    filter does (monitor/ingest/pushdown.py); it knows nothing of the filter language. A
    connector that searches sends what its platform can express and says what it sent in
    `sent_narrowing`; the others ignore it. The filter still judges every mention."""

    authors: tuple[str, ...] = ()
    not_authors: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.authors or self.not_authors)


class ConnectorOptions(BaseModel):
    """Base of every connector's own config keys; unknown keys are errors.

    Each key's meaning is the docstring under it (the README's config reference shows it)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


OptionsT = TypeVar("OptionsT", bound=ConnectorOptions)
ModelT = TypeVar("ModelT", bound=BaseModel)


def options_parameter(cls: type, generic: type, model: type[ModelT]) -> type[ModelT] | None:
    """The options model `cls` names as its parameter (`Connector[AcmeOptions]`, or of a
    generic subclass: `StreamConnector[...]`), or None: none named, or `cls` sets `Options`
    itself. Shared by the feeds' `Connector` and the writers' `Replier`."""
    if "Options" in cls.__dict__:
        return None
    found: type[ModelT] | None = None
    for base in getattr(cls, "__orig_bases__", ()):
        origin = get_origin(base)
        if isinstance(origin, type) and issubclass(origin, generic):
            (options,) = get_args(base)
            if isinstance(options, type) and issubclass(options, model):
                found = options
    return found


class Connector(ABC, Generic[OptionsT]):
    """A source: `class AcmeConnector(Connector[AcmeOptions])` sets the class attributes and
    implements `poll`; `self.options` is then an AcmeOptions, validated from the config.

    Attributes:
        name: the registry key and the `type = "..."` value in the config.
        platform: the platform name stored on mentions (natural key with external_id).
        default_interval: seconds between polls when the feed does not say.
        default_base_url: the API root; every connector lets the config override it.
        Options: the pydantic model of the feed's type-specific keys; taken from the class's
            parameter (`Connector[AcmeOptions]`) unless the class sets it.

    Adding a source is one module in connectors/ (its options, its connector, a docstring
    saying what it polls, its auth, rate limit, cursor, brand reply and quirks), one line in
    `registry.REGISTRY`, a conformance case in tests/connectors/conformance_cases/ with a
    recorded payload in tests/fixtures/<source>/, its tests, and docs/sources/<source>.md.
    The shared parts: `connectors.http.fetch` (the one GET: deadline, body cap, status table,
    redaction), `connectors.apijson.decode_json` (JSON with errors naming the source),
    `connectors.env.require_env` (a secret from the environment) and the errors of
    `connectors.errors` (NotFoundError for a deleted item, RateLimited with retry_after).
    """

    name: ClassVar[str]
    platform: ClassVar[str]
    default_interval: ClassVar[int] = 300
    default_base_url: ClassVar[str | None] = None
    Options: ClassVar[type[ConnectorOptions]] = ConnectorOptions

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = options_parameter(cls, Connector, ConnectorOptions)
        if found is not None:
            cls.Options = found

    def __init__(
        self,
        options: OptionsT,
        *,
        feed_name: str,
        identities: Sequence[BrandIdentity] = (),
        base_url: str | None = None,
        config_dir: Path | None = None,
        logins: TokenStore | None = None,
        narrowing: Narrowing | None = None,
    ) -> None:
        self.options = options
        # what the feed's filters let the platform's search leave out (see Narrowing)
        self.narrowing = narrowing or Narrowing()
        # tokens shared with the pipeline's other connectors (one login per account)
        self.logins: TokenStore = logins if logins is not None else Logins()
        self.config_dir = config_dir or Path.cwd()
        self.feed_name = feed_name
        # a connector with a `platform` option (rss, csv, jsonl) answers for that platform
        platform = getattr(options, "platform", None) or self.platform
        self.identities = [i for i in identities if i.platform == platform]
        self.base_url = (base_url or self.default_base_url or "").rstrip("/")

    @abstractmethod
    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        """Fetch what is new since `state`; never touches the database or Slack."""

    def sent_narrowing(self) -> str:
        """What this feed's narrowing adds to the platform's search, as sent (for `monitor
        poll --dry-run`); "" when nothing is sent. The default sends nothing."""
        return ""

    def host(self) -> str:
        """The host this feed talks to, for per-host politeness limits."""
        return urlsplit(self.base_url).netloc or self.name

    def not_before(self, now: datetime) -> datetime | None:
        """When this connector may be called again, if a good answer asked it to wait (a
        rate-limit window used up, a backoff); None when it may be called at any time.

        The pipeline asks after each good poll and keeps the time with the feed's state, so
        that a poll of the feed by another process waits too. A wait that comes with a
        failure travels in the error instead (`RateLimited.retry_after`)."""
        return None

    @classmethod
    def config_warnings(cls, options: ConnectorOptions, interval: float) -> list[str]:
        """Valid but risky settings, printed by `monitor check-config` (e.g. data loss)."""
        return []

    def pushed(self, change: dict[str, Any], sent_at: datetime | None) -> list[MentionRecord]:
        """The mentions in one change a platform pushed (an item of a Meta webhook's
        `entry[].changes`); `sent_at` is the notification's time, None when it has none.

        Only others' posts: which mention a brand post answers is the poll's to say, from
        the whole thread. The default finds none: most sources are only polled."""
        return []

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """Look for brand replies to open mentions where only a thread walk finds them.

        One item must not fail the others: a deleted one (NotFoundError) is skipped, one that
        cannot be read (MalformedResponse) is skipped and counted with
        `connectors.unreadable.Unreadable`, which raises only when no item could be read.
        The default finds nothing: most connectors see replies in their normal poll.
        """
        return []

    def brand_identity(self, author: str | None, author_id: str | None) -> BrandIdentity | None:
        for identity in self.identities:
            if identity.matches(author, author_id):
                return identity
        return None
