"""One poll of one feed: its connector called within its limits, the result ingested at once."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, or_
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
from connectors.errors import TransientError
from connectors.logins import Logins, TokenStore
from connectors.text import storable
from monitor.alerting.queue import QueuedAlert
from monitor.alerting.routing import Router
from monitor.alerting.sla import Clocks
from monitor.config import Config, FeedConfig
from monitor.ingest import feed_state, read
from monitor.ingest.decide import (
    MAX_TEXT,
    Answer,
    Page,
    Plan,
    Rules,
    decide,
    scoring_request,
    speaks_for_brand,
)
from monitor.ingest.filtering import FeedFilters
from monitor.ingest.inserted import NewMention
from monitor.ingest.pushdown import feed_narrowing
from monitor.ingest.write import Written, write
from monitor.leadership.host_slots import HostSlots, LocalHostSlots
from monitor.redaction import safe_error
from monitor.sentiment.analyzer import Sentiment, SentimentAnalyzer
from monitor.states import MentionStatus
from monitor.store.db import reader
from monitor.store.db import session as open_session
from monitor.store.models import Mention, StreamState, utcnow

__all__ = [
    "MAX_TEXT",
    "NotActing",
    "Pipeline",
    "PollFailed",
    "PollReport",
    "scoring_request",
    "worth_rechecking",
]

log = logging.getLogger(__name__)

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
    filtered: int = 0  # new mentions the feed's filters dropped (not stored)
    new_mentions: list[NewMention] = field(default_factory=list)
    brand_posts: int = 0
    replies_stored: int = 0
    answered: list[Answer] = field(default_factory=list)  # first responses set or corrected
    alerts: list[QueuedAlert] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


# who closed a mention its author deleted (Mention.resolved_by; Slack names shown there)
DELETED_BY_AUTHOR = "deleted by its author"


class NotActing(Exception):
    """This process may not call platforms now (a worker that cannot prove its jobs are still
    its own: monitor/leadership/presence.py). Nothing is fetched and nothing recorded."""


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


@dataclass(frozen=True)
class _Calling:
    """What a feed's calls share for the life of the pipeline."""

    connector: Connector[Any]
    lock: threading.Lock  # one call at a time on the connector
    host: str  # the platform's host, for its per_host limit


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
        host_slots: HostSlots | None = None,
        logins: TokenStore | None = None,
        may_act: Callable[[], bool] | None = None,
    ) -> None:
        """`host_slots` and `logins` default to this process's own (one process polls); the
        workers of a cluster pass the database-backed ones of monitor/leadership/ so that
        `per_host` and each account's login hold across all of them."""
        self.config = config
        self.engine = engine
        # asked right before each platform call, after the host's slot is taken: a worker
        # whose statements hung on a cut network must not poll when they return
        self.may_act = may_act
        self._reader = reader(engine)
        self.client = client
        self.analyzer = analyzer or SentimentAnalyzer(config.sentiment)
        self.clock = clock
        self.identities = config.identities()
        self.clocks = Clocks(config)
        self.router = Router(config)
        self.rules = Rules(self.clocks, frozenset(config.alerts.on), config.alerts.max_age)
        # polite to each platform: a bounded number of calls to one host at a time
        self.host_slots = host_slots or LocalHostSlots(config.scheduler.per_host)
        self._connectors: dict[str, _Calling] = {}
        self._filters: dict[str, FeedFilters] = {}  # per feed, built on its first page
        self._registry_lock = threading.Lock()  # guards the dict above
        # one login per account, however many feeds use it
        self.logins: TokenStore = logins if logins is not None else Logins()
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
                # the filters still judge every mention; the platform only sends fewer
                narrowing = feed_narrowing(self.config, feed)
                connector = self.config.build_connector(feed, self.logins, narrowing)
                built = _Calling(connector, threading.Lock(), connector.host())
                self._connectors[feed.name] = built
            return built

    @contextmanager
    def _calling(self, feed: FeedConfig) -> Iterator[Connector[Any]]:
        """One call at a time per connector (a poll and a re-check of one feed may overlap;
        connectors count bytes per call on themselves), within the platform's host limit."""
        built = self._registered(feed)
        with built.lock, self.host_slots.slot(built.host):
            if self.may_act is not None and not self.may_act():
                raise NotActing("this worker cannot prove its jobs are its own: not calling")
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

    def saved_cursor(self, feed_name: str) -> str | None:
        """Where the feed stopped (a stream resumes from it)."""
        return self._saved_state(feed_name).cursor.cursor

    def save_stream_state(self, row: StreamState) -> None:
        """A stream feed's connection and pace, for `monitor status` (one row a feed)."""
        with self.db_turn(), open_session(self.engine) as session:
            session.merge(row)
            session.commit()

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
                hold = connector.not_before(now)
        except Exception as exc:
            return self._failed(feed, exc, "poll", now, started, dry_run=dry_run)
        try:
            if not dry_run and self._store_nothing(feed, result, now):
                report = PollReport(
                    feed=feed.name,
                    not_modified=result.not_modified,
                    warnings=list(result.warnings),
                )
            else:
                report = self.store(feed, result, now=now, dry_run=dry_run)
            if result.warnings and not dry_run:
                with self.db_turn(), self.engine.begin() as conn:
                    feed_state.record_warnings(conn, feed.name, result.warnings, now)
            if hold is not None and not dry_run:
                self._hold(feed, hold)
        except Exception as exc:
            # the transaction is rolled back whole: no half-written poll, no cursor moved
            return self._failed(feed, exc, "store", now, started, dry_run=dry_run)
        report.seconds = time.monotonic() - started
        return report

    def _hold(self, feed: FeedConfig, until: datetime) -> None:
        """A good answer asked the connector to wait (a used-up rate limit, a backoff): the
        feed's next poll waits too, in whichever process it runs (`poll_due`)."""
        with self.db_turn(), self.engine.begin() as conn:
            feed_state.record_hold(conn, feed.name, until)

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
        if isinstance(exc, NotActing):
            log.info("feed %s: %s", feed.name, exc)
            return PollReport(feed=feed.name, ok=False, error=str(exc))
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
            return feed_state.record_healthy(conn, feed.name, result.state, now)

    def store(
        self, feed: FeedConfig, result: PollResult, *, now: datetime, dry_run: bool = False
    ) -> PollReport:
        """Write one poll's result in one transaction (rolled back for a dry run)."""
        page = Page.of(feed.name, result, self.identities)
        plan, written = self._ingest(page, now, dry_run=dry_run)
        return PollReport(
            feed=feed.name,
            not_modified=result.not_modified,
            fetched=plan.fetched,
            filtered=plan.filtered,
            new_mentions=written.new_mentions,
            brand_posts=plan.brand_posts,
            replies_stored=len(plan.reply_inserts),
            answered=list(plan.answers),
            alerts=written.alerts,
            warnings=list(result.warnings),
        )

    def _ingest(
        self, page: Page, now: datetime, *, dry_run: bool = False, attempts: int = 2
    ) -> tuple[Plan, Written]:
        """Read what is stored, decide, write: one transaction."""
        for attempt in range(1, attempts + 1):
            with self.db_turn(), open_session(self.engine) as session:
                try:
                    ids = read.stored_ids(session, page.records)
                    page, fresh, scores = self._judged(page, page.fresh(ids))
                    stored = read.stored(session, page, ids, fresh)
                    plan = decide(page, scores, stored, self.rules, now)
                    written = write(session, plan, self.router, now)
                    if dry_run:
                        # keep what the report shows: rows from INSERT ... RETURNING are
                        # persistent, and a rollback would expire them before they are read
                        session.expunge_all()
                        session.rollback()
                    else:
                        session.commit()
                    return plan, written
                except IntegrityError:
                    # another instance or feed stored the same mention between our read and
                    # our write (PostgreSQL; SQLite serialises writers): read again, once.
                    session.rollback()
                    if attempt == attempts:
                        raise
        raise AssertionError("unreachable")

    def _judged(
        self, page: Page, fresh: list[MentionRecord]
    ) -> tuple[Page, list[MentionRecord], list[Sentiment]]:
        """The new mentions scored, those the feed's filters drop taken out of the page (not
        stored, not alerted; counted). Filters that read no score judge before scoring."""
        filters = self._filters.get(page.feed)
        if filters is None:
            filters = self._filters[page.feed] = FeedFilters.of(
                self.config, self.config.find_feed(page.feed)
            )
        scores: list[Sentiment] | None = None
        if filters.active and fresh and not filters.needs_scores:
            kept, _ = filters.split(fresh)
            fresh_kept = [fresh[i] for i in kept]
        else:
            fresh_kept = fresh
        # Performance (bench/ingest_bench.py): score the page in one batch (the language
        # detector runs on all cores)
        if fresh_kept:
            scores = self.analyzer.analyse_many([scoring_request(r) for r in fresh_kept])
        if filters.active and fresh_kept and filters.needs_scores:
            kept, _ = filters.split(fresh_kept, scores)
            scores = [scores[i] for i in kept] if scores is not None else None
            fresh_kept = [fresh_kept[i] for i in kept]
        if not filters.active or not fresh:
            return page, fresh_kept, scores or []
        gone = {(r.platform, r.external_id) for r in fresh} - {
            (r.platform, r.external_id) for r in fresh_kept
        }
        page = replace(
            page,
            records=[r for r in page.records if (r.platform, r.external_id) not in gone],
            checked=len(fresh),
            filtered=len(gone),
        )
        return page, fresh_kept, scores or []

    def record_failure(self, feed: FeedConfig, exc: Exception, now: datetime) -> None:
        # stored, shown by `status` and sent to Slack: no secret of the feed, no URL query
        error = safe_error(f"{exc.__class__.__name__}: {exc}", feed)
        with self.db_turn(), open_session(self.engine) as session:
            state = feed_state.record_failure(
                session, self.config, self.router, feed, exc, error, now
            )
            if state.consecutive_failures == 1:
                # once on the healthy -> failing transition; the state keeps the detail
                trace = exc if isinstance(exc, PollFailed) else None  # a bug's traceback
                log.warning("feed %s is failing: %s", feed.name, error, exc_info=trace)
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

    # -- re-checks -------------------------------------------------------------------------

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
            if isinstance(exc, TransientError) and exc.retry_after is not None:
                # the platform's wait holds for the feed's polls too, in every process, as
                # a wait a poll meets does (a feed's re-check and poll share its limits)
                wait = min(max(exc.retry_after, 0.0), feed_state.MAX_BACKOFF)
                self._hold(feed, now + timedelta(seconds=wait))
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
            hold = connector.not_before(now)
        report = self.store_replies(feed, replies, now, updates_since=updates_since)
        if hold is not None:
            self._hold(feed, hold)
        return report

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

    def store_pushed(
        self, feed: FeedConfig, mentions: Sequence[MentionRecord], now: datetime
    ) -> PollReport:
        """Mentions a platform pushed (a webhook), stored, scored and alerted as a poll's are,
        without touching the feed's cursor or health: the next poll finds them stored.

        The brand's own posts are left out: which mention a brand comment answers is the
        poll's to say, from the whole thread (connectors/sources/facebook.py)."""
        others: dict[tuple[str, str], MentionRecord] = {}
        for m in mentions:
            if speaks_for_brand(self.identities, m) is None:
                others.setdefault((m.platform, m.external_id), m)  # Meta may send one twice
        page = Page(feed.name, records=list(others.values()), fetched=len(mentions))
        plan, written = self._ingest(page, now)
        return PollReport(
            feed=feed.name,
            fetched=plan.fetched,
            new_mentions=written.new_mentions,
            alerts=written.alerts,
        )

    def close_deleted(
        self, feed: FeedConfig, platform: str, external_ids: Sequence[str], now: datetime
    ) -> int:
        """Open mentions their authors deleted (a stream's delete event) are closed as
        dismissed, so no SLA alert asks the team to answer a post that is gone."""
        if not external_ids:
            return 0
        table = Mention.__table__  # type: ignore[attr-defined]
        stmt = (
            table.update()
            .where(
                table.c.platform == platform,
                table.c.external_id.in_(list(external_ids)),
                table.c.status == MentionStatus.OPEN,
            )
            .values(status=MentionStatus.DISMISSED, resolved_by=DELETED_BY_AUTHOR, resolved_at=now)
        )
        with self.db_turn(), self.engine.begin() as conn:
            closed = conn.execute(stmt).rowcount or 0
        if closed:
            log.info("feed %s: %d open mention(s) deleted by their authors", feed.name, closed)
        return closed

    def store_replies(
        self,
        feed: FeedConfig,
        replies: list[BrandReply],
        now: datetime,
        *,
        updates_since: datetime | None = None,
    ) -> PollReport:
        """Replies found by a re-check: stored and attached without touching the feed's cursor."""
        page = Page(feed.name, replies=replies, updates_since=updates_since)
        plan, written = self._ingest(page, now, attempts=1)
        return PollReport(feed=feed.name, answered=list(plan.answers), alerts=written.alerts)
