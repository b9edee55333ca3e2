"""The named states stored as strings: mention status, alert kind and state, sentiment, SLA."""

from __future__ import annotations

from enum import StrEnum

# A StrEnum member is a str equal to its value: columns stay `str`, stored values are unchanged,
# and f-strings, JSON and CSV write the value ("open"), never "MentionStatus.OPEN".


class MentionStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"  # a brand reply was seen on the platform
    HANDLED = "handled"  # marked in Slack: answered outside the monitored platforms
    DISMISSED = "dismissed"  # marked in Slack: not relevant
    EXPIRED = "expired"  # left open longer than [sla] expire_after


class AlertKind(StrEnum):
    # a new mention's alert: its sentiment, or "mention" when it alerts on every label
    NEGATIVE = "negative"
    UNSCORED = "unscored"
    MENTION = "mention"
    UNANSWERED = "unanswered"
    # posted in the mention's Slack thread
    SLA_AT_RISK = "sla_at_risk"
    SLA_BREACHED = "sla_breached"
    ANSWERED_UPDATE = "answered_update"
    REVIEW_EDITED = "review_edited"
    REPLY_NOTE = "reply_note"  # a reply sent from Slack: who, what, the platform's answer
    # about the monitor, not one mention
    DIGEST = "digest"
    FEED_HEALTH = "feed_health"
    FEED_RECOVERED = "feed_recovered"
    SPIKE = "spike"


class AlertState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # a permanent error: only `monitor alerts retry` tries it again


class SentimentLabel(StrEnum):
    # not `Sentiment`: monitor/sentiment/analyzer.py has a result class of that name
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"
    UNSCORED = "unscored"  # no scorer could read it: never guessed as neutral


class SlaState(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    BACKFILL = "backfill"  # older than the backfill age when first seen: no clock runs


class ClickAction(StrEnum):
    # a Slack button press (monitor/slack/actions.py); each is kept in the `action` table
    CLAIM = "claim"
    HANDLED = "handled"
    SNOOZE = "snooze"
    DISMISS = "dismiss"
    REPLY = "reply"  # an answer posted on the platform from the Reply modal (monitor/replying/)


class ClickOutcome(StrEnum):
    # what the press did: only the first of competing clicks is applied
    APPLIED = "applied"
    LOST = "lost"
    UNKNOWN = "unknown"
    REFUSED = "refused"
    # a reply's attempt: the platform created it, refused it, or may have (a lost answer)
    POSTED = "posted"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class ReplyState(StrEnum):
    # slack_reply.state: the latest attempt at answering a mention from Slack
    POSTING = "posting"  # sent or about to be; a crash leaves it here
    POSTED = "posted"
    FAILED = "failed"  # the platform certainly posted nothing: a new attempt may start
    UNKNOWN = "unknown"  # it may have posted: looked for before anything is sent again
