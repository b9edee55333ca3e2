"""The stored records: mentions, brand replies, feed state and the alert outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from monitor.states import AlertState, MentionStatus, SentimentLabel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite hands back naive values, so UTC is re-attached."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # One C call instead of SQLAlchemy's two Python steps (this, then SQLite DATETIME's
        # `%`-format of a dict): five datetimes per mention made them a tenth of ingest
        # (bench/ingest_bench.py). Same text as DATETIME stores: "2026-11-23 09:00:00.000000".
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime refused: store aware UTC datetimes only")
            return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]

        return process

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table of a table model, for statements built once (SQLModel leaves it untyped)."""
    return cast(sa.Table, model.__table__)  # type: ignore[attr-defined]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Mention(SQLModel, table=True):
    """A post, comment or review about the brand; unique by (platform, external_id)."""

    __tablename__ = "mention"
    __table_args__ = (
        sa.UniqueConstraint("platform", "external_id", name="uq_mention_platform_external_id"),
        sa.Index("ix_mention_status_created", "status", "created_at"),
        # Reports (monitor/reports/query.py): GROUP BY this prefix reads the index in order
        # instead of sorting every row, and every column a report reads is in it.
        sa.Index(
            "ix_mention_report",
            "status",
            "platform",
            "feed",
            "sentiment",
            "language",
            "created_at",
            "ttfr_seconds",
            "ttfr_business_seconds",
            "sla_met",
            "sla_due_at",
            "rating",
            "score",
            "sla_state",
            "ttfr_exact",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=40)
    feed: str = Field(max_length=100, index=True)
    external_id: str = Field(max_length=500)
    url: str | None = Field(default=None, max_length=2000)
    author: str | None = Field(default=None, max_length=200)
    author_id: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=500)
    text: str = Field(default="", sa_type=sa.Text)
    language: str | None = Field(default=None, max_length=16)
    language_confidence: float | None = None
    rating: float | None = None
    score: int | None = Field(default=None, description="0-10 survey score for NPS")
    created_at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    created_is_modified: bool = Field(
        default=False, description="the platform gives only a last-modified time"
    )
    fetched_at: datetime = Field(sa_column=_utc_column(nullable=False))
    parent_id: str | None = Field(default=None, max_length=500)
    thread_id: str | None = Field(default=None, max_length=500)
    polarity: float | None = None
    subjectivity: float | None = None
    sentiment: str = Field(default=SentimentLabel.UNSCORED, max_length=10)
    sentiment_source: str | None = Field(default=None, max_length=40)
    first_response_at: datetime | None = Field(default=None, sa_column=_utc_column())
    first_response_seen_at: datetime | None = Field(default=None, sa_column=_utc_column())
    first_response_by: str | None = Field(default=None, max_length=200)
    first_response_url: str | None = Field(default=None, max_length=2000)
    ttfr_seconds: float | None = None
    ttfr_business_seconds: float | None = None
    # False: the thread walk that found the first reply stopped early (a page bound, an
    # unexpanded stub), so the TTFR is an upper bound; None: unanswered, or answered before
    # migration 0007, when nobody knew.
    ttfr_exact: bool | None = Field(
        default=None, description="False: earlier brand replies may exist unseen (TTFR <=)"
    )
    sla_at_risk_at: datetime | None = Field(default=None, sa_column=_utc_column())
    sla_due_at: datetime | None = Field(default=None, sa_column=_utc_column())
    sla_state: str | None = Field(
        default=None, max_length=10, description="on_track | at_risk | breached | backfill"
    )
    sla_met: bool | None = Field(default=None, description="answered within the SLA target")
    status: str = Field(default=MentionStatus.OPEN, max_length=10)
    edited_after_reply: bool = False
    # Set from Slack buttons (monitor/slack/actions.py); the `action` table keeps every click.
    claimed_by: str | None = Field(default=None, max_length=200, description="Slack user name")
    claimed_at: datetime | None = Field(default=None, sa_column=_utc_column())
    snoozed_until: datetime | None = Field(
        default=None, sa_column=_utc_column(), description="SLA alerts wait until then"
    )
    snoozed_by: str | None = Field(default=None, max_length=200)
    resolved_by: str | None = Field(
        default=None, max_length=200, description="who marked it handled or dismissed"
    )
    resolved_at: datetime | None = Field(default=None, sa_column=_utc_column())


class BrandReplyRow(SQLModel, table=True):
    """A public reply by a brand identity; kept even when its mention has not arrived yet."""

    __tablename__ = "brand_reply"
    __table_args__ = (
        sa.UniqueConstraint("platform", "external_id", name="uq_brand_reply_platform_external_id"),
        sa.Index("ix_brand_reply_target", "platform", "in_reply_to"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=40)
    external_id: str = Field(max_length=500)
    in_reply_to: str = Field(max_length=500)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    seen_at: datetime = Field(sa_column=_utc_column(nullable=False))
    author: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2000)
    text: str | None = Field(default=None, sa_type=sa.Text)
    bot: bool = False
    seen_modified_only: bool = False
    # True: found by a walk that stopped early, earlier brand replies may exist unseen;
    # None: stored before migration 0007
    earlier_unseen: bool | None = Field(
        default=False, description="found by a walk that stopped early: earlier ones may exist"
    )


class FeedState(SQLModel, table=True):
    """One row per feed: where it stopped and how healthy it is."""

    __tablename__ = "feed_state"

    feed: str = Field(primary_key=True, max_length=100)
    cursor: str | None = Field(default=None, max_length=2000)
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    next_poll_after: datetime | None = Field(default=None, sa_column=_utc_column())
    last_poll_at: datetime | None = Field(default=None, sa_column=_utc_column())
    last_success_at: datetime | None = Field(default=None, sa_column=_utc_column())
    last_error: str | None = Field(default=None, max_length=2000)
    last_error_at: datetime | None = Field(default=None, sa_column=_utc_column())
    consecutive_failures: int = 0
    failing_since: datetime | None = Field(default=None, sa_column=_utc_column())
    last_item_at: datetime | None = Field(
        default=None, sa_column=_utc_column(), description="when a new item last arrived"
    )
    items_seen: int = 0
    items_checked: int = Field(default=0, description="new mentions its filters judged")
    items_filtered: int = Field(default=0, description="of those, dropped by the filters")
    last_warning: str | None = Field(
        default=None, max_length=2000, description="what a good poll warned about"
    )
    last_warning_at: datetime | None = Field(
        default=None, sa_column=_utc_column(), description="current while = last_success_at"
    )


class Alert(SQLModel, table=True):
    """The outbox: an alert is decided once (unique key), delivered at least once, shown once."""

    __tablename__ = "alert"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True)
    mention_id: int | None = Field(default=None, foreign_key="mention.id", index=True)
    feed: str | None = Field(default=None, max_length=100)
    kind: str = Field(max_length=20)
    channel: str = Field(max_length=100)
    route: str | None = Field(default=None, max_length=100)
    digest_id: int | None = Field(
        default=None, description="the digest message this alert was folded into (storms)"
    )
    state: str = Field(default=AlertState.PENDING, max_length=10)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column())
    last_error: str | None = Field(default=None, max_length=500)
    slack_ts: str | None = Field(default=None, max_length=40)
    thread_ts: str | None = Field(
        default=None, max_length=40, description="set when posted as a reply in a thread"
    )
    body: str | None = Field(
        default=None, sa_type=sa.Text, description="text of non-mention alerts"
    )


class Action(SQLModel, table=True):
    """One click on a Slack button; every attempt is kept, the one that took effect is `applied`."""

    __tablename__ = "action"

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int | None = Field(default=None, foreign_key="mention.id", index=True)
    action: str = Field(max_length=20)
    value: str | None = Field(default=None, max_length=100, description="e.g. the snooze choice")
    user_id: str = Field(max_length=40)
    user_name: str | None = Field(default=None, max_length=200)
    at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    outcome: str = Field(max_length=10)
    detail: str | None = Field(
        default=None, max_length=300, description="what the clicker was told"
    )
    source: str = Field(default="socket", max_length=10, description="socket | http")
    channel_id: str | None = Field(default=None, max_length=40)
    message_ts: str | None = Field(default=None, max_length=40)
    text: str | None = Field(default=None, sa_type=sa.Text, description="a reply: what was typed")


class SlackReply(SQLModel, table=True):
    """A mention answered from Slack: its latest attempt, which is also the lock that keeps a
    second click, a resubmission or a restart from posting twice (monitor/replying/)."""

    __tablename__ = "slack_reply"

    mention_id: int = Field(foreign_key="mention.id", primary_key=True)
    attempt: int = Field(default=1, description="a new attempt only after one that posted nothing")
    key: str = Field(max_length=100, description="this attempt's idempotency key")
    state: str = Field(max_length=10, description="posting | posted | failed | unknown")
    text: str = Field(sa_type=sa.Text)
    user_id: str = Field(max_length=40)
    user_name: str | None = Field(default=None, max_length=200)
    started_at: datetime = Field(
        sa_column=_utc_column(nullable=False), description="when this attempt began"
    )
    taken_at: datetime = Field(
        sa_column=_utc_column(nullable=False),
        description="when its holder took the row: stale after the holder's requests' deadline",
    )
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column())
    reply_id: str | None = Field(default=None, max_length=500, description="the platform's id")
    reply_at: datetime | None = Field(
        default=None, sa_column=_utc_column(), description="the platform's time of the reply"
    )
    reply_url: str | None = Field(default=None, max_length=2000)
    reply_author: str | None = Field(default=None, max_length=200)
    recorded: bool = Field(default=False, description="stored as the brand's reply")
    error: str | None = Field(default=None, max_length=500)
    channel_id: str | None = Field(default=None, max_length=40)
    message_ts: str | None = Field(default=None, max_length=40)


class SchedulerBeat(SQLModel, table=True):
    """One row: when `monitor run`'s minute sweep last ran, for `monitor status` elsewhere."""

    __tablename__ = "scheduler_beat"

    id: int = Field(default=1, primary_key=True)
    beat_at: datetime = Field(sa_column=_utc_column(nullable=False))
    host: str = Field(default="", max_length=255)
    pid: int = 0


class WorkerRow(SQLModel, table=True):
    """One row per `monitor worker` process: what `monitor status` shows of it.

    Written by the worker's own presence thread every second (monitor/leadership/presence.py);
    the job queue's own tables (procrastinate_*) say which jobs it holds."""

    __tablename__ = "monitor_worker"

    id: int | None = Field(default=None, primary_key=True)
    host: str = Field(default="", max_length=255)
    pid: int = 0
    concurrency: int = 0
    started_at: datetime = Field(sa_column=_utc_column(nullable=False))
    beat_at: datetime = Field(sa_column=_utc_column(nullable=False))
    stopped_at: datetime | None = Field(default=None, sa_column=_utc_column())
    queue_worker_id: int | None = Field(default=None, description="procrastinate's worker id")
    tag: str = Field(default="", max_length=60, description="HOST:PID:NONCE its sessions end with")
    stalled_after: float = Field(default=30.0, description="its [workers] stalled_after")
    jobs_done: int = 0
    failures: int = 0
    last_failure: str | None = Field(default=None, max_length=500)


class ChannelPace(SQLModel, table=True):
    """When a Slack channel was last posted to, by whichever worker: the pace holds across
    them (one message a second per channel)."""

    __tablename__ = "channel_pace"

    channel: str = Field(primary_key=True, max_length=200)
    last_post_at: datetime = Field(sa_column=_utc_column(nullable=False))


class LoginToken(SQLModel, table=True):
    """An access token shared by every worker that logs in as one account, so that ten
    workers log in once (monitor/leadership/shared_logins.py); a secret, like the row's
    database."""

    __tablename__ = "login_token"

    account: str = Field(
        sa_type=sa.Text, primary_key=True, description="names the account, never a secret"
    )
    token: str = Field(sa_type=sa.Text)
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))


class StreamState(SQLModel, table=True):
    """One row per stream feed: its connection and its pace, for `monitor status`.

    Written by the process reading the stream (monitor/ingest/stream.py) every few seconds
    and on each change of state; the cursor itself is the feed's (FeedState.cursor), stored
    with the events it follows in one transaction."""

    __tablename__ = "stream_state"

    feed: str = Field(primary_key=True, max_length=100)
    state: str = Field(max_length=20, description="connected | reconnecting | stopped")
    since: datetime = Field(sa_column=_utc_column(nullable=False), description="in this state")
    attempts: int = Field(default=0, description="failed connections in a row")
    last_error: str | None = Field(default=None, max_length=500)
    seen_per_second: float = 0.0
    matched_per_second: float = 0.0
    events_seen: int = 0
    events_matched: int = 0
    cursor_at: datetime | None = Field(
        default=None, sa_column=_utc_column(), description="the platform time of the cursor"
    )
    gap: str | None = Field(default=None, max_length=500, description="the last gap, and its fill")
    owner: str = Field(default="", max_length=60, description="the process reading it")
    updated_at: datetime = Field(sa_column=_utc_column(nullable=False))
