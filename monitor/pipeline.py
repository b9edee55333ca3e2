"""One poll of one feed: fetch, score, store, attach replies, decide alerts, in one transaction."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import httpx
from sqlalchemy import Select, and_, bindparam, or_
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from connectors import (
    BrandReply,
    Connector,
    ConnectorError,
    MentionRecord,
    PollResult,
    deadline,
)
from connectors.errors import RateLimited, TransientError
from connectors.logins import Logins
from connectors.text import storable
from monitor import feed_state, health
from monitor.alerting.roots import root_alert
from monitor.bulk import insert_returning, listed, one_of
from monitor.config import Config, FeedConfig
from monitor.db import reader
from monitor.db import session as open_session
from monitor.inserted import NewMention, QueuedAlert
from monitor.models import (
    Alert,
    BrandReplyRow,
    FeedState,
    Mention,
    table_of,
    utcnow,
)
from monitor.redaction import safe_error
from monitor.routing import Router
from monitor.sentiment import Request, Sentiment, SentimentAnalyzer
from monitor.sla import Clocks
from monitor.states import AlertKind, MentionStatus, SentimentLabel

log = logging.getLogger(__name__)

MAX_TEXT = 20_000  # characters of a mention kept; a 100 KB post is stored cut, not refused
MAX_BACKOFF = 3600.0
_CHUNK = 500  # ids per IN (...) query: below SQLite's and PostgreSQL's parameter limits
_T = TypeVar("_T")
# a re-check looks for the first reply of these; an expired mention answered late counts too
UNANSWERED = (MentionStatus.OPEN, MentionStatus.EXPIRED)


def worth_rechecking(unanswered: tuple[MentionStatus, ...] = UNANSWERED) -> Any:
    """Mentions a thread walk may still change: unanswered ones (of these statuses), and
    answered ones whose first reply came from a partial read (an earlier brand reply may sit
    in what was not read)."""
    return or_(
        col(Mention.status).in_(unanswered),
        and_(col(Mention.status) == MentionStatus.ANSWERED, col(Mention.ttfr_exact).is_(False)),
    )


@dataclass
class PollReport:
    """What one poll did; printed by `monitor poll`, logged by the scheduler."""

    feed: str
    ok: bool = True
    error: str | None = None
    not_modified: bool = False
    fetched: int = 0
    new_mentions: list[NewMention] = field(default_factory=list)
    brand_posts: int = 0
    replies_stored: int = 0
    answered: list[Mention] = field(default_factory=list)
    alerts: list[QueuedAlert] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


class PollFailed(Exception):
    """A poll, or the store of what it fetched, failed in a way no connector error names: a
    connector's bug, a recursion, a value the database refuses. It is the feed's reason."""

    @classmethod
    def of(cls, feed: FeedConfig, step: str, exc: Exception) -> PollFailed:
        if isinstance(exc, DBAPIError):
            # the driver's words, without the statement and its parameters (mention texts)
            cause: BaseException = exc.orig or exc
            what = "the database refused the poll's data"
        elif step == "store":
            cause, what = exc, "storing the poll failed"
        else:
            cause, what = exc, f"the {feed.type} connector failed unexpectedly"
        failure = cls(storable(f"{what}: {cause.__class__.__name__}: {cause}"[:1000]))
        failure.__cause__ = exc  # its traceback is logged once, when the feed starts failing
        return failure


def _chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class _Calling:
    """What a feed's calls share for the life of the pipeline."""

    connector: Connector[Any]
    lock: threading.Lock  # one call at a time on the connector
    host_slot: threading.BoundedSemaphore  # the platform's per_host limit


class Pipeline:
    """Joins connectors, the store and the outbox; the only place that knows all three."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        client: httpx.Client,
        *,
        analyzer: SentimentAnalyzer | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.engine = engine
        self._reader = reader(engine)
        self.client = client
        self.analyzer = analyzer or SentimentAnalyzer(config.sentiment)
        self.clock = clock
        self.identities = config.identities()
        self.clocks = Clocks(config)
        self.router = Router(config)
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._connectors: dict[str, _Calling] = {}
        self._registry_lock = threading.Lock()  # guards the two dicts above
        self.logins = Logins()  # one login per account, however many feeds use it
        # SQLite has one writer at a time and makes the others sleep-poll (its busy handler
        # backs off up to 100 ms a try); with 32 polls in flight that sleeping cost 3x the
        # cycle (bench/poll_bench.py). Our threads queue here instead and go at once.
        self._sqlite_turn = threading.Lock() if engine.dialect.name == "sqlite" else None

    def warm_up(self) -> None:
        """Start-up: load the language models now, not on the first mention, then leave what
        start-up loaded (models, lexicons, config) out of the cyclic GC's full collections.

        They live as long as the process, and every full collection walked them again: 3 %
        of a backfill's time (bench/ingest_bench.py). `gc.freeze` frees nothing and keeps
        nothing alive; objects created later are collected as before."""
        self.analyzer.warm_up()
        gc.freeze()

    def db_turn(self) -> AbstractContextManager[object]:
        """Hold while a session is open: this process's turn at the SQLite write lock."""
        return self._sqlite_turn or nullcontext()

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        """Polite to each platform: a bounded number of polls to one host at a time.

        Call with the registry lock held."""
        if host not in self._hosts:
            self._hosts[host] = threading.BoundedSemaphore(self.config.scheduler.per_host)
        return self._hosts[host]

    def connector(self, feed: FeedConfig) -> Connector[Any]:
        """The feed's connector, built once for the life of this pipeline.

        Connectors keep their login, access token and rate-limit hints between calls; one
        built per poll logged in again on every poll (Bluesky's createSession: 30 per 5
        minutes and 300 a day per handle; Reddit's and Google's token endpoints)."""
        return self._registered(feed).connector

    def _registered(self, feed: FeedConfig) -> _Calling:
        # the host is worked out once too: parsing the feed's URL on every poll was 3 % of
        # a cycle of 304s (bench/poll_bench.py)
        with self._registry_lock:
            built = self._connectors.get(feed.name)
            if built is None:
                connector = self.config.build_connector(feed, self.logins)
                slot = self._host_slot(connector.host())
                built = self._connectors[feed.name] = _Calling(connector, threading.Lock(), slot)
            return built

    @contextmanager
    def _calling(self, feed: FeedConfig) -> Iterator[Connector[Any]]:
        """One call at a time per connector (a poll and a re-check of one feed may overlap;
        connectors count bytes per call on themselves), within the platform's host limit."""
        built = self._registered(feed)
        with built.lock, built.host_slot:
            yield built.connector

    # -- polling ---------------------------------------------------------------------------

    def poll(
        self, feed_name: str, *, now: datetime | None = None, dry_run: bool = False
    ) -> PollReport:
        """Poll one feed once. A connector failure is recorded on the feed, never raised."""
        started = time.monotonic()
        now = now or self.clock()
        feed = self.config.feed(feed_name)
        return self._poll(feed, self._saved_state(feed.name), now, started, dry_run=dry_run)

    def poll_due(self, feed_name: str, *, now: datetime | None = None) -> PollReport | None:
        """A scheduled poll: None (nothing fetched) while the feed backs off after failures.

        The backoff and the cursor come from one read: this runs for every feed every cycle."""
        started = time.monotonic()
        now = now or self.clock()
        feed = self.config.feed(feed_name)
        saved = self._saved_state(feed.name)
        if saved.next_poll_after and now < saved.next_poll_after:
            return None
        return self._poll(feed, saved, now, started)

    def _saved_state(self, feed_name: str) -> feed_state.SavedState:
        # A read, so no write turn: on SQLite (WAL) it neither waits for the writer nor holds
        # it back. With the turn, a poll waited behind other polls' write transactions before
        # it could send its request, holding one of the `concurrency` slots meanwhile.
        with self._reader.connect() as conn:
            return feed_state.read(conn, feed_name)

    def _poll(
        self,
        feed: FeedConfig,
        saved: feed_state.SavedState,
        now: datetime,
        started: float,
        *,
        dry_run: bool = False,
    ) -> PollReport:
        try:
            with self._calling(feed) as connector:
                result = connector.poll(self.client, saved.cursor, now)
        except Exception as exc:
            return self._failed(feed, exc, "poll", now, started, dry_run=dry_run)
        try:
            if not dry_run and self._store_nothing(feed, result, now):
                report = PollReport(feed=feed.name, not_modified=result.not_modified)
                report.warnings.extend(result.warnings)
            else:
                report = self.store(feed, result, now=now, dry_run=dry_run)
            if result.warnings and not dry_run:
                with self.db_turn(), self.engine.begin() as conn:
                    health.note_warnings(conn, feed.name, result.warnings, now)
        except Exception as exc:
            # the transaction is rolled back whole: no half-written poll, no cursor moved
            return self._failed(feed, exc, "store", now, started, dry_run=dry_run)
        report.seconds = time.monotonic() - started
        return report

    def _failed(
        self,
        feed: FeedConfig,
        exc: Exception,
        step: str,
        now: datetime,
        started: float,
        *,
        dry_run: bool,
    ) -> PollReport:
        """Any failure of a poll (KeyboardInterrupt and SystemExit aside) is the feed's: it is
        marked failing with its reason and backs off, and the other feeds carry on."""
        if deadline.cancelled(exc):
            # the process is stopping (SIGTERM): not the feed's fault, nothing to record
            log.info("feed %s: poll cancelled, the monitor is stopping", feed.name)
            return PollReport(feed=feed.name, ok=False, error="cancelled: the monitor is stopping")
        failure = exc if isinstance(exc, ConnectorError) else PollFailed.of(feed, step, exc)
        report = PollReport(feed=feed.name, ok=False, error=safe_error(str(failure), feed))
        if not dry_run:
            self.record_failure(feed, failure, now)
        report.seconds = time.monotonic() - started
        return report

    def _store_nothing(self, feed: FeedConfig, result: PollResult, now: datetime) -> bool:
        """A 304 (or an empty page) on a healthy feed: one UPDATE of its state, no session.

        Same row as `store` would leave; False when `store` must run (a failing feed to
        reset and announce as recovered, a feed with no state row yet)."""
        if result.mentions or result.brand_replies:
            return False
        with self.db_turn(), self.engine.begin() as conn:
            return feed_state.record_success(conn, feed.name, result.state, now)

    def store(
        self, feed: FeedConfig, result: PollResult, *, now: datetime, dry_run: bool = False
    ) -> PollReport:
        """Write one poll's result in one transaction (rolled back for a dry run)."""
        for attempt in (1, 2):
            report = PollReport(feed=feed.name, not_modified=result.not_modified)
            report.warnings.extend(result.warnings)
            with self.db_turn(), open_session(self.engine) as session:
                try:
                    self._ingest(session, feed, result, now, report)
                    if dry_run:
                        # keep what the report shows: rows from INSERT ... RETURNING are
                        # persistent, and a rollback would expire them before they are read
                        session.expunge_all()
                        session.rollback()
                    else:
                        session.commit()
                    return report
                except IntegrityError:
                    # another instance or feed stored the same mention between our read and
                    # our write (PostgreSQL; SQLite serialises writers): read again, once.
                    session.rollback()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def record_failure(self, feed: FeedConfig, exc: Exception, now: datetime) -> None:
        with self.db_turn(), open_session(self.engine) as session:
            state = session.get(FeedState, feed.name) or FeedState(feed=feed.name)
            # stored, shown by `status` and sent to Slack: no secret of the feed, no URL query
            error = safe_error(f"{exc.__class__.__name__}: {exc}", feed)
            if state.consecutive_failures == 0:
                # once on the healthy -> failing transition; the state keeps the detail
                trace = exc if isinstance(exc, PollFailed) else None  # a bug's traceback
                log.warning("feed %s is failing: %s", feed.name, error, exc_info=trace)
            state.consecutive_failures += 1
            state.last_error = error[:2000]
            state.last_error_at = now
            state.last_poll_at = now
            wait = _backoff(feed, state.consecutive_failures)
            if isinstance(exc, TransientError) and exc.retry_after is not None:
                wait = max(min(exc.retry_after, MAX_BACKOFF), 0.0)
            elif not isinstance(exc, TransientError | RateLimited):
                wait = max(wait, feed.effective_interval)
            state.next_poll_after = now + timedelta(seconds=wait)
            health.after_failure(session, self.config, self.router, state, now)
            session.add(state)
            session.commit()

    def backfill(self, feed_name: str, *, max_polls: int = 10_000) -> Iterator[PollReport]:
        """Poll FEED again and again until a poll brings nothing new; one report per page.

        For history (`monitor backfill`, which draws a progress bar from the reports). Each
        page is stored in its own transaction, exactly as a scheduled poll. (Scoring pages in
        worker processes while storing the previous one measured slower on two cores than
        batch scoring in this process: bench/README.md.)"""
        for _ in range(max_polls):
            report = self.poll(feed_name)
            yield report
            nothing_new = not report.new_mentions and not report.replies_stored
            if not report.ok or report.not_modified or nothing_new:
                return

    # -- the transaction -------------------------------------------------------------------

    def _ingest(
        self,
        session: Session,
        feed: FeedConfig,
        result: PollResult,
        now: datetime,
        report: PollReport,
    ) -> None:
        records, replies = self._split_brand_posts(result, report)
        report.fetched = len(result.mentions)
        new_mentions = self._store_mentions(session, feed, records, now)
        report.replies_stored = self._store_replies(session, replies, now)
        session.flush()
        targets = self._mentions_answered_by(session, replies)
        targets += self._new_mentions_with_replies(session, new_mentions)
        report.answered = self._attach_replies(session, targets)
        status = {m.id: m.status for m in report.answered}
        if status:
            new_mentions = [replace(m, status=status.get(m.id, m.status)) for m in new_mentions]
        report.new_mentions = new_mentions
        report.alerts = self._decide_alerts(session, feed, new_mentions, now)
        report.alerts += self._answered_updates(session, report.answered, now)
        self._save_state(session, feed, result, now, len(new_mentions))
        session.flush()

    def _split_brand_posts(
        self, result: PollResult, report: PollReport
    ) -> tuple[list[MentionRecord], list[BrandReply]]:
        """The brand's own posts are not mentions; those that answer something are replies."""
        records: list[MentionRecord] = []
        replies = list(result.brand_replies)
        seen: set[tuple[str, str]] = set()
        for record in result.mentions:
            key = (record.platform, record.external_id)
            if key in seen:
                continue
            seen.add(key)
            identity = next(
                (
                    i
                    for i in self.identities
                    if i.platform == record.platform and i.matches(record.author, record.author_id)
                ),
                None,
            )
            if identity is None:
                records.append(record)
                continue
            report.brand_posts += 1
            answers = record.parent_id or record.thread_id
            if answers:
                replies.append(
                    BrandReply(
                        platform=record.platform,
                        external_id=record.external_id,
                        in_reply_to=answers,
                        created_at=record.created_at,
                        author=record.author,
                        author_id=record.author_id,
                        url=record.url,
                        text=record.text,
                        bot=identity.bot,
                    )
                )
        return records, replies

    def _store_mentions(
        self, session: Session, feed: FeedConfig, records: list[MentionRecord], now: datetime
    ) -> list[NewMention]:
        by_platform: dict[str, list[MentionRecord]] = {}
        for record in records:
            by_platform.setdefault(record.platform, []).append(record)
        fresh: list[MentionRecord] = []
        dialect = session.get_bind().dialect.name
        for platform, group in by_platform.items():
            existing: dict[str, tuple[int, bool]] = {}
            for ids in _chunks([r.external_id for r in group]):
                params = {"platform": platform, "ids": listed(dialect, ids)}
                rows = session.execute(_stored_ids(dialect), params)
                existing.update((external_id, (id_, edited)) for external_id, id_, edited in rows)
            for record in group:
                stored = existing.get(record.external_id)
                if stored is None:
                    fresh.append(record)
                elif record.edited_after_reply and not stored[1]:
                    mention = session.get_one(Mention, stored[0])
                    mention.edited_after_reply = True
                    session.add(mention)
                    self._note_edit(session, mention, record, now)
        if not fresh:
            return []
        # Performance (bench/ingest_bench.py): score the page in one batch (the language
        # detector runs on all cores), then one multi-row INSERT ... RETURNING from plain
        # dicts. One SQLModel object per row, flushed one by one, cost 3x TextBlob itself.
        sentiments = self.analyzer.analyse_many([scoring_request(r) for r in fresh])
        values = [
            self._mention_row(feed, r, s, now) for r, s in zip(fresh, sentiments, strict=True)
        ]
        # An INSERT returning the ids only: ORM bulk persistence and loading the rows back as
        # `Mention` objects cost 5x what sqlite3 spends on the INSERT (bench/README.md).
        # RETURNING order is not the VALUES order: the unique key gives each row its id.
        returned = insert_returning(session, _MENTION, values, ("id", "platform", "external_id"))
        id_of = {(platform, external_id): id_ for id_, platform, external_id in returned}
        return [
            NewMention(
                id=id_of[(v["platform"], v["external_id"])],
                platform=v["platform"],
                feed=v["feed"],
                external_id=v["external_id"],
                created_at=v["created_at"],
                text=v["text"],
                title=v["title"],
                url=v["url"],
                author=v["author"],
                language=v["language"],
                rating=v["rating"],
                sentiment=v["sentiment"],
                status=MentionStatus.OPEN,
            )
            for v in values
        ]

    def _mention_row(
        self, feed: FeedConfig, record: MentionRecord, sentiment: Sentiment, now: datetime
    ) -> dict[str, Any]:
        """The INSERT values of a new mention, SLA clock started (same keys for every row)."""
        row: dict[str, Any] = dict(
            platform=record.platform,
            feed=feed.name,
            external_id=record.external_id,
            url=(record.url or "")[:2000] or None,
            author=(record.author or "")[:200] or None,
            author_id=(record.author_id or "")[:200] or None,
            title=(record.title or "")[:500] or None,
            text=record.text[:MAX_TEXT],
            language=sentiment.language or record.language,
            language_confidence=sentiment.language_confidence,
            rating=record.rating,
            score=record.score,
            created_at=record.created_at,
            created_is_modified=record.created_is_modified,
            fetched_at=now,
            parent_id=record.parent_id,
            thread_id=record.thread_id,
            polarity=sentiment.polarity,
            subjectivity=sentiment.subjectivity,
            sentiment=sentiment.label,
            sentiment_source=sentiment.source,
            edited_after_reply=record.edited_after_reply,
        )
        row["sla_at_risk_at"], row["sla_due_at"], row["sla_state"] = self.clocks.start_times(
            feed.name, record.platform, record.created_at, now, self.config.alerts.max_age
        )
        return row

    def _store_replies(self, session: Session, replies: list[BrandReply], now: datetime) -> int:
        stored = 0
        for reply in replies:
            row = session.exec(
                select(BrandReplyRow).where(
                    BrandReplyRow.platform == reply.platform,
                    BrandReplyRow.external_id == reply.external_id,
                )
            ).first()
            if row is None:
                session.add(
                    BrandReplyRow(
                        platform=reply.platform,
                        external_id=reply.external_id,
                        in_reply_to=reply.in_reply_to,
                        created_at=reply.created_at,
                        seen_at=now,
                        author=reply.author,
                        url=reply.url,
                        text=(reply.text or "")[:MAX_TEXT] or None,
                        bot=reply.bot,
                        seen_modified_only=reply.seen_modified_only,
                        earlier_unseen=reply.earlier_unseen,
                    )
                )
                stored += 1
                continue
            if reply.created_at < row.created_at and not row.seen_modified_only:
                # an earlier timestamp for the same reply (a platform correcting itself) wins;
                # a last-modified time that moves on edit never overwrites the first one seen
                row.created_at = reply.created_at
                session.add(row)
            if row.earlier_unseen is None or (row.earlier_unseen and not reply.earlier_unseen):
                # a walk that read the whole thread proves no earlier reply hides; a later
                # partial walk never takes that back
                row.earlier_unseen = reply.earlier_unseen
                session.add(row)
        return stored

    def _mentions_answered_by(self, session: Session, replies: list[BrandReply]) -> list[Mention]:
        found: list[Mention] = []
        by_platform: dict[str, list[str]] = {}
        for reply in replies:
            by_platform.setdefault(reply.platform, []).append(reply.in_reply_to)
        for platform, targets in by_platform.items():
            for ids in _chunks(sorted(set(targets))):
                found.extend(
                    session.exec(
                        select(Mention).where(
                            Mention.platform == platform, col(Mention.external_id).in_(ids)
                        )
                    )
                )
        return found

    def _new_mentions_with_replies(
        self, session: Session, mentions: list[NewMention]
    ) -> list[Mention]:
        """The new mentions a stored non-bot brand reply answers (it may have arrived first,
        or in this poll), as ORM rows for `_attach_replies`; usually none."""
        # Ask the reply table first, by its (platform, in_reply_to) index, for the external ids
        # only: a correlated EXISTS per mention returning ORM rows cost 3 ms a page for the
        # usual answer, none (bench/ingest_bench.py).
        by_platform: dict[str, dict[str, int]] = {}
        for mention in mentions:
            by_platform.setdefault(mention.platform, {})[mention.external_id] = mention.id
        dialect = session.get_bind().dialect.name
        ids: list[int] = []
        for platform, id_of in by_platform.items():
            for external_ids in _chunks(sorted(id_of)):
                params = {"platform": platform, "ids": listed(dialect, external_ids)}
                answered = session.execute(_replied_to(dialect), params).scalars()
                ids.extend(id_of[external_id] for external_id in answered)
        found: list[Mention] = []
        for chunk in _chunks(sorted(ids)):
            found.extend(session.exec(select(Mention).where(col(Mention.id).in_(chunk))))
        return found

    def _attach_replies(self, session: Session, mentions: list[Mention]) -> list[Mention]:
        """Give each mention its earliest non-bot brand reply; an earlier one found later wins,
        even on an answered mention, and a walk that read the whole thread marks it exact."""
        answered: dict[int, Mention] = {}  # by object: one mention may change twice
        by_platform: dict[str, dict[str, Mention]] = {}
        for mention in mentions:
            by_platform.setdefault(mention.platform, {})[mention.external_id] = mention
        for platform, index in by_platform.items():
            for ids in _chunks(sorted(index)):
                rows = session.exec(
                    select(BrandReplyRow)
                    .where(
                        BrandReplyRow.platform == platform,
                        col(BrandReplyRow.in_reply_to).in_(ids),
                        col(BrandReplyRow.bot).is_(False),
                    )
                    .order_by(col(BrandReplyRow.created_at))
                )
                for reply in rows:
                    mention = index[reply.in_reply_to]
                    first = mention.first_response_at
                    if first is None or reply.created_at < first:
                        self.apply_first_response(mention, reply)
                    elif reply.created_at == first and _proves_exact(mention, reply):
                        mention.ttfr_exact = _exact(reply)
                    else:
                        continue
                    session.add(mention)
                    answered[id(mention)] = mention
        return list(answered.values())

    def apply_first_response(self, mention: Mention, reply: BrandReplyRow) -> None:
        mention.first_response_at = reply.created_at
        mention.first_response_seen_at = reply.seen_at
        mention.first_response_by = reply.author
        mention.first_response_url = reply.url
        mention.ttfr_exact = _exact(reply)
        # a reply stamped before its mention (clock skew, edited reviews) counts as instant
        self.clocks.answer(mention, reply.created_at)
        if mention.status in (MentionStatus.OPEN, MentionStatus.EXPIRED):
            mention.status = MentionStatus.ANSWERED

    def _note_edit(
        self, session: Session, mention: Mention, record: MentionRecord, now: datetime
    ) -> None:
        """A review edited after our reply gets a note in its Slack thread: the customer
        may have changed their mind, or their rating, because of (or despite) the answer."""
        root = root_alert(session, mention.id)
        if root is None:
            return
        key = f"review_edited:{mention.id}"
        if session.exec(select(Alert.id).where(Alert.key == key)).first() is not None:
            return
        rating = f"{record.rating:g} stars: " if record.rating is not None else ""
        session.add(
            Alert(
                key=key,
                mention_id=mention.id,
                feed=mention.feed,
                kind=AlertKind.REVIEW_EDITED,
                channel=root.channel,
                route=root.route,
                body=f"{rating}{record.text}"[:2000],
                next_attempt_at=now,
                created_at=now,
            )
        )

    def _answered_updates(
        self, session: Session, mentions: list[Mention], now: datetime
    ) -> list[QueuedAlert]:
        """A mention that was alerted gets its Slack message updated once it is answered.

        The key carries the reply time, so a late-found earlier reply updates it again."""
        alerts: list[QueuedAlert] = []
        for mention in mentions:
            root = root_alert(session, mention.id)
            if root is None or mention.first_response_at is None:
                continue
            key = f"answered_update:{mention.id}:{int(mention.first_response_at.timestamp())}"
            if mention.ttfr_exact is False:
                # an upper bound gets its own message: once a full walk proves the same reply
                # the first, the plain key updates the note again without the "<="
                key += ":upper"
            if session.exec(select(Alert.id).where(Alert.key == key)).first() is not None:
                continue
            alert = Alert(
                key=key,
                mention_id=mention.id,
                feed=mention.feed,
                kind=AlertKind.ANSWERED_UPDATE,
                channel=root.channel,
                next_attempt_at=now,
                created_at=now,
            )
            session.add(alert)
            alerts.append(QueuedAlert(key, mention.id, alert.kind, alert.channel, None))
        return alerts

    def needs_recheck(self, feed: FeedConfig) -> bool:
        """True for connectors that find some replies only by walking threads."""
        return feed.connector_cls.recheck is not Connector.recheck

    def recheck(self, feed_name: str, *, now: datetime | None = None) -> PollReport | None:
        """Ask the connector about the feed's open, recent mentions, and answered ones whose
        TTFR is an upper bound (bounded in count and age)."""
        now = now or self.clock()
        feed = self.config.feed(feed_name)
        if not self.needs_recheck(feed):
            return None
        sla = self.config.sla
        with self.db_turn(), open_session(self.engine) as session:
            rows = session.exec(
                select(Mention)
                .where(
                    Mention.feed == feed.name,
                    worth_rechecking((MentionStatus.OPEN,)),
                    Mention.created_at >= now - timedelta(seconds=sla.recheck_max_age),
                )
                # open mentions first: an answer to prove exact never crowds out a first answer
                .order_by(
                    (col(Mention.status) == MentionStatus.OPEN).desc(),
                    col(Mention.created_at).desc(),
                )
                .limit(sla.recheck_limit)
            ).all()
        if not rows:
            return PollReport(feed=feed.name)
        try:
            return self.recheck_mentions(feed, rows, now)
        except ConnectorError as exc:
            log.info("feed %s: re-check failed: %s", feed.name, exc)
            return PollReport(feed=feed.name, ok=False, error=str(exc))

    def recheck_mentions(
        self,
        feed: FeedConfig,
        mentions: Sequence[Mention],
        now: datetime,
        *,
        updates_since: datetime | None = None,
    ) -> PollReport:
        """One connector re-check of these stored mentions, its replies stored at once.

        A connector error is raised (the caller decides: log it, or wait out a rate limit).
        Mentions created before `updates_since` get no Slack "answered" update: history."""
        records = [
            MentionRecord(
                platform=m.platform,
                external_id=m.external_id,
                created_at=m.created_at,
                text=m.text,
                url=m.url,
                author=m.author,
                author_id=m.author_id,
                parent_id=m.parent_id,
                thread_id=m.thread_id,
            )
            for m in mentions
        ]
        with self._calling(feed) as connector:
            replies = connector.recheck(self.client, records, now)
        return self.store_replies(feed, replies, now, updates_since=updates_since)

    def recheck_candidates(
        self,
        feed_name: str,
        *,
        since: datetime,
        until: datetime,
        limit: int,
        before: tuple[datetime, int] | None = None,
    ) -> list[Mention]:
        """The feed's mentions a walk may still change (`worth_rechecking`) created in [since,
        until], newest first, strictly older than `before` (created_at, id): a history
        re-check's next batch.

        Read again for every batch, so a mention answered meanwhile (by this walk or by the
        running monitor) is not walked twice, and a long history never sits in memory."""
        query = select(Mention).where(
            Mention.feed == feed_name,
            worth_rechecking(),
            Mention.created_at >= since,
            Mention.created_at <= until,
        )
        if before is not None:
            created, mention_id = before
            query = query.where(
                or_(
                    col(Mention.created_at) < created,
                    and_(col(Mention.created_at) == created, col(Mention.id) < mention_id),
                )
            )
        query = query.order_by(col(Mention.created_at).desc(), col(Mention.id).desc())
        with Session(self._reader) as session:
            rows = list(session.exec(query.limit(limit)))
            session.expunge_all()  # plain objects for the connector's records, no session left
        return rows

    def store_replies(
        self,
        feed: FeedConfig,
        replies: list[BrandReply],
        now: datetime,
        *,
        updates_since: datetime | None = None,
    ) -> PollReport:
        """Replies found by a re-check: stored and attached without touching the feed's cursor."""
        report = PollReport(feed=feed.name)
        with self.db_turn(), open_session(self.engine) as session:
            self._store_replies(session, replies, now)
            session.flush()
            report.answered = self._attach_replies(
                session, self._mentions_answered_by(session, replies)
            )
            recent = [
                m for m in report.answered if updates_since is None or m.created_at >= updates_since
            ]
            report.alerts = self._answered_updates(session, recent, now)
            session.commit()
        return report

    def _decide_alerts(
        self, session: Session, feed: FeedConfig, mentions: list[NewMention], now: datetime
    ) -> list[QueuedAlert]:
        wanted = set(self.config.alerts.on)
        oldest = now - timedelta(seconds=self.config.alerts.max_age)
        rows: list[dict[str, Any]] = []
        for mention in mentions:
            if mention.status != MentionStatus.OPEN or mention.created_at < oldest:
                continue  # answered already, or history from a backfill: stored, not alerted
            if "all" in wanted or mention.sentiment in wanted:
                kind = (
                    AlertKind(mention.sentiment)
                    if mention.sentiment in (SentimentLabel.NEGATIVE, SentimentLabel.UNSCORED)
                    else AlertKind.MENTION
                )
                destination = self.router.route(
                    kind=kind,
                    feed=feed.name,
                    platform=mention.platform,
                    sentiment=mention.sentiment,
                    rating=mention.rating,
                    language=mention.language,
                )
                rows.append(
                    dict(
                        key=f"{kind}:{mention.id}",
                        mention_id=mention.id,
                        feed=feed.name,
                        kind=kind,
                        channel=destination.channel,
                        route=destination.route,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        if not rows:
            return []
        # one statement per page, the ids not needed (monitor/bulk.py, bench/ingest_bench.py)
        insert_returning(session, _ALERT, rows, ("id",))
        return [
            QueuedAlert(r["key"], r["mention_id"], r["kind"], r["channel"], r["route"])
            for r in rows
        ]

    def _save_state(
        self, session: Session, feed: FeedConfig, result: PollResult, now: datetime, new: int
    ) -> None:
        """The feed's row after a good poll, in Core: one UPDATE when nothing was new, else one
        SELECT and one UPDATE or INSERT.

        Through the ORM, this was 12 % of the CPU of a first poll cycle (py-spy on
        bench/poll_bench.py); it stays the path of a feed recovering from failures."""
        conn = session.connection()
        if not new and feed_state.record_success(conn, feed.name, result.state, now):
            # known items only (an API without ETags answers so every poll) on a healthy feed:
            # the 304's one UPDATE, which needs nothing read first
            return
        before = feed_state.read_health(conn, feed.name)
        if before is None:
            feed_state.record_first(conn, feed.name, result.state, now, new)
            return
        if not before.consecutive_failures:
            if new and before.last_item_at is not None:
                health.after_new_items(session, self.router, feed.name, before.last_item_at, now)
            if feed_state.record_success(conn, feed.name, result.state, now, new):
                return
        self._save_state_through_orm(session, feed, result, now, new)

    def _save_state_through_orm(
        self, session: Session, feed: FeedConfig, result: PollResult, now: datetime, new: int
    ) -> None:
        """Every case in one place, the feed's row as an object: what the Core path matches
        (tests/test_unchanged_poll.py), and the path of a recovering feed."""
        state = session.get(FeedState, feed.name) or FeedState(feed=feed.name)
        if state.consecutive_failures:
            log.info("feed %s recovered after %d failures", feed.name, state.consecutive_failures)
        health.after_success(session, self.router, state, new, now)
        state.cursor = result.state.cursor
        state.etag = result.state.etag
        state.last_modified = result.state.last_modified
        state.last_poll_at = now
        state.last_success_at = now
        state.consecutive_failures = 0
        state.next_poll_after = None
        state.items_seen += new
        session.add(state)


_MENTION = table_of(Mention)
_ALERT = table_of(Alert)
_REPLY = table_of(BrandReplyRow)


def _exact(reply: BrandReplyRow) -> bool | None:
    """Whether a TTFR measured to `reply` is exact; None for replies stored before 0007."""
    return None if reply.earlier_unseen is None else not reply.earlier_unseen


def _proves_exact(mention: Mention, reply: BrandReplyRow) -> bool:
    """A reply at the mention's first-response time settles an unknown or not-exact mark;
    nothing takes an exact one back (a later partial walk saw less, not more)."""
    exact = _exact(reply)
    return exact is not None and mention.ttfr_exact is not True and mention.ttfr_exact != exact


# The two lookups every page makes, built once per dialect: three columns, not ORM rows (a
# poll mostly brings new ids), and building the statement each time cost more than SQLite
# spends running it (bench/README.md).
@lru_cache(maxsize=4)
def _stored_ids(dialect: str) -> Select[tuple[str, int, bool]]:
    """(external_id, id, edited_after_reply) of the stored mentions among :ids on :platform."""
    table = _MENTION
    return sa_select(table.c.external_id, table.c.id, table.c.edited_after_reply).where(
        table.c.platform == bindparam("platform"), one_of(dialect, table.c.external_id, "ids")
    )


@lru_cache(maxsize=4)
def _replied_to(dialect: str) -> Select[tuple[str]]:
    """Which of :ids on :platform a stored non-bot brand reply answers."""
    table = _REPLY
    return (
        sa_select(table.c.in_reply_to)
        .distinct()
        .where(
            table.c.platform == bindparam("platform"),
            one_of(dialect, table.c.in_reply_to, "ids"),
            table.c.bot.is_(False),
        )
    )


def scoring_request(record: MentionRecord) -> Request:
    """What the analyser reads of a mention: title and text, the platform's language, stars."""
    text = "\n".join(p for p in (record.title, record.text[:MAX_TEXT]) if p)
    return text, record.language, record.rating


def _backoff(feed: FeedConfig, failures: int) -> float:
    """Exponential from the feed's interval, capped at an hour."""
    return float(min(feed.effective_interval * 2 ** (failures - 1), MAX_BACKOFF))
