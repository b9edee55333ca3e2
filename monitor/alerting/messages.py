"""Turn a stored mention and its alert into the platform-neutral message a sink renders."""

from __future__ import annotations

from datetime import datetime

from alerts.base import AlertMessage
from connectors.durations import format_duration
from monitor.sentiment.language import UNDETERMINED
from monitor.states import AlertKind, MentionStatus, SentimentLabel
from monitor.store.models import Alert, Mention

_HEADLINES: dict[str, str] = {
    AlertKind.NEGATIVE: "Negative mention on {platform}",
    AlertKind.UNSCORED: "Mention on {platform} ({language}, not scored)",
    AlertKind.MENTION: "New mention on {platform}",
    AlertKind.UNANSWERED: "Unanswered mention on {platform}",
    AlertKind.SLA_AT_RISK: "SLA at risk: mention on {platform}",
    AlertKind.SLA_BREACHED: "SLA breached: mention on {platform}",
}


def language_phrase(code: str | None) -> str:
    """ "language: nl", or "language unknown" rather than the detector's code "und"."""
    if not code or code == UNDETERMINED:
        return "language unknown"
    return f"language: {code}"


def mention_message(
    alert: Alert, mention: Mention, now: datetime, *, can_reply: bool = False
) -> AlertMessage:
    """The alert's first message; `can_reply`: the feed answers from Slack (a Reply button)."""
    headline = _HEADLINES.get(alert.kind, "Mention on {platform}").format(
        platform=mention.platform, language=language_phrase(mention.language)
    )
    answered = None
    if mention.first_response_at is not None:
        answered = f"answered by {mention.first_response_by or 'the brand'}"
        answered += f" after {_ttfr(mention, mention.ttfr_seconds)}"
        if mention.ttfr_business_seconds is not None:
            answered += f" ({_ttfr(mention, mention.ttfr_business_seconds)} in business hours)"
        answered += _not_exact_note(mention)
    facts: list[tuple[str, str]] = []
    if mention.polarity is not None:
        facts.append(("Score", f"{mention.polarity:+.2f} ({mention.sentiment_source})"))
    elif mention.sentiment == SentimentLabel.UNSCORED:
        facts.append(("Score", f"not scored ({language_phrase(mention.language)})"))
    return AlertMessage(
        key=alert.key,
        kind=alert.kind,
        headline=headline,
        text=mention.text,
        title=mention.title,
        source=f"{mention.platform} · {mention.feed}",
        author=mention.author,
        url=mention.url,
        sentiment=mention.sentiment,
        polarity=mention.polarity,
        rating=mention.rating,
        # "und" is the detector's code for "could not tell": people read "unknown"
        language="unknown" if mention.language == UNDETERMINED else mention.language,
        created_at=mention.created_at,
        age=f"{format_duration((now - mention.created_at).total_seconds())} ago",
        answered=answered,
        answered_url=mention.first_response_url,
        facts=facts,
        mention_id=mention.id,
        buttons=mention.status == MentionStatus.OPEN,
        reply=can_reply and mention.status == MentionStatus.OPEN,
        claimed_by=mention.claimed_by,
        snoozed_until=mention.snoozed_until
        if mention.snoozed_until is not None and mention.snoozed_until > now
        else None,
        snoozed_by=mention.snoozed_by,
        resolution=mention.status
        if mention.status in (MentionStatus.HANDLED, MentionStatus.DISMISSED)
        else None,
        resolved_by=mention.resolved_by,
        sla=_sla_line(mention, now) if alert.kind != AlertKind.ANSWERED_UPDATE else None,
    )


THREAD_KINDS = (
    AlertKind.SLA_AT_RISK,
    AlertKind.SLA_BREACHED,
    AlertKind.ANSWERED_UPDATE,
    AlertKind.REVIEW_EDITED,
    AlertKind.REPLY_NOTE,
)
NOT_EXACT_NOTE = " (thread not read in full)"


def _ttfr(mention: Mention, seconds: float | None) -> str:
    """A TTFR; "<= " when the thread was not read in full: an earlier reply may exist."""
    text = format_duration(seconds)
    return f"≤ {text}" if mention.ttfr_exact is False else text


def _not_exact_note(mention: Mention) -> str:
    return NOT_EXACT_NOTE if mention.ttfr_exact is False else ""


def _sla_line(mention: Mention, now: datetime) -> str | None:
    if mention.status != MentionStatus.OPEN or mention.sla_due_at is None:
        return None
    left = (mention.sla_due_at - now).total_seconds()
    if left >= 0:
        return f"due in {format_duration(left)}"
    return f"breached {format_duration(-left)} ago"


def thread_message(alert: Alert, mention: Mention, now: datetime) -> AlertMessage:
    """A short reply under the first message: an SLA step or the brand's answer."""
    age = format_duration((now - mention.created_at).total_seconds())
    if alert.kind == AlertKind.ANSWERED_UPDATE:
        headline = f"Answered by {mention.first_response_by or 'the brand'}"
        headline += f" after {_ttfr(mention, mention.ttfr_seconds)}"
        if mention.ttfr_business_seconds is not None:
            headline += f" ({_ttfr(mention, mention.ttfr_business_seconds)} business)"
        headline += _not_exact_note(mention)
    elif alert.kind == AlertKind.REVIEW_EDITED:
        headline = "The customer edited the review after our reply; it now reads:"
    elif alert.kind == AlertKind.REPLY_NOTE:
        # monitor/replying/attempts.py: who replied and how it went, then what they wrote
        headline, _, text = (alert.body or "").partition("\n")
        return AlertMessage(
            key=alert.key,
            kind=alert.kind,
            headline=headline,
            text=text,
            mention_id=mention.id,
            thread=True,
        )
    elif alert.kind == AlertKind.SLA_BREACHED:
        headline = f"SLA breached: still unanswered after {age}"
    else:
        headline = f"SLA at risk: unanswered for {age}, {_sla_line(mention, now) or 'due soon'}"
    return AlertMessage(
        key=alert.key,
        kind=alert.kind,
        headline=headline,
        text=(alert.body or "") if alert.kind == AlertKind.REVIEW_EDITED else "",
        url=mention.first_response_url if alert.kind == AlertKind.ANSWERED_UPDATE else None,
        sentiment=mention.sentiment,
        mention_id=mention.id,
        thread=True,
    )


def plain_message(alert: Alert) -> AlertMessage:
    """Alerts without a mention (feed health, digests) carry their text in `body`."""
    headline, _, text = (alert.body or alert.kind).partition("\n")
    return AlertMessage(key=alert.key, kind=alert.kind, headline=headline, text=text)
