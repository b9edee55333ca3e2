"""What one poll writes, decided from what it fetched and what is stored: no session, no engine.

The reads before it (monitor/ingest/read.py) give it `Stored`; it returns a `Plan` that
monitor/ingest/write.py writes in one transaction. A mention this plan inserts has no id yet:
the plan names it by (platform, external_id) and the writer resolves the id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from connectors import BrandIdentity, BrandReply, FeedCursor, MentionRecord, PollResult
from monitor.alerting.sla import Clocks
from monitor.sentiment.analyzer import Request, Sentiment
from monitor.states import AlertKind, MentionStatus, SentimentLabel
from monitor.store.models import Mention

MAX_TEXT = 20_000  # characters of a mention kept; a 100 KB post is stored cut, not refused

MentionKey = tuple[str, str]  # (platform, external_id)


def scoring_request(record: MentionRecord) -> Request:
    """What the analyser reads of a mention: title and text, the platform's language, stars."""
    text = "\n".join(p for p in (record.title, record.text[:MAX_TEXT]) if p)
    return text, record.language, record.rating


# -- what goes in ------------------------------------------------------------------------


def speaks_for_brand(
    identities: Sequence[BrandIdentity], record: MentionRecord
) -> BrandIdentity | None:
    """The brand identity that wrote `record`, if one did."""
    return next(
        (
            i
            for i in identities
            if i.platform == record.platform and i.matches(record.author, record.author_id)
        ),
        None,
    )


@dataclass(frozen=True)
class Page:
    """What a poll (or a re-check) brought, the brand's own posts turned into replies."""

    feed: str
    records: Sequence[MentionRecord] = ()  # others' posts, each (platform, external_id) once
    replies: Sequence[BrandReply] = ()
    fetched: int = 0
    brand_posts: int = 0
    state: FeedCursor | None = None  # None: the feed's row is left alone (a re-check)
    updates_since: datetime | None = None  # older mentions get no "answered" update
    checked: int = 0  # new mentions the feed's filters judged
    filtered: int = 0  # of those, dropped: not stored, not alerted

    @classmethod
    def of(cls, feed: str, result: PollResult, identities: Sequence[BrandIdentity]) -> Page:
        """The brand's own posts are not mentions; those that answer something are replies."""
        records: list[MentionRecord] = []
        replies = list(result.brand_replies)
        seen: set[MentionKey] = set()
        brand_posts = 0
        for record in result.mentions:
            key = (record.platform, record.external_id)
            if key in seen:
                continue
            seen.add(key)
            identity = speaks_for_brand(identities, record)
            if identity is None:
                records.append(record)
                continue
            brand_posts += 1
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
        return cls(feed, records, replies, len(result.mentions), brand_posts, result.state)

    def fresh(self, ids: Mapping[MentionKey, object]) -> list[MentionRecord]:
        """The records not stored yet (`ids`: the stored ones among them): to score, insert."""
        return [r for r in self.records if (r.platform, r.external_id) not in ids]


@dataclass(frozen=True, slots=True)
class ReplyRow:
    """A brand reply as stored (id None: not stored yet)."""

    id: int | None
    platform: str
    external_id: str
    in_reply_to: str
    created_at: datetime
    seen_at: datetime
    author: str | None
    url: str | None
    text: str | None
    bot: bool
    seen_modified_only: bool
    earlier_unseen: bool | None


@dataclass(frozen=True)
class Stored:
    """What the store holds that the decision reads, read in the poll's transaction."""

    # the page's stored mentions: (id, edited_after_reply)
    ids: Mapping[MentionKey, tuple[int, bool]] = field(default_factory=dict)
    # the stored replies with the keys of this poll's replies
    replies: Mapping[MentionKey, ReplyRow] = field(default_factory=dict)
    # the stored mentions this poll's replies answer (by their in_reply_to)
    targets: Mapping[MentionKey, Answer] = field(default_factory=dict)
    # the stored non-bot replies to those targets and to the page's fresh records
    answers: Sequence[ReplyRow] = ()


@dataclass(frozen=True)
class Rules:
    """The configuration the decision applies."""

    clocks: Clocks  # SLA clocks: started on a new mention, stopped by its first response
    alert_on: frozenset[str]  # sentiments alerted ("all": every one)
    max_age: float  # seconds: older mentions are history, stored but not alerted


# -- what comes out ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewRow:
    """A mention to insert: its INSERT values (the same keys for every row), its status once
    this plan's replies are attached, and the alert it gets."""

    values: dict[str, Any]
    status: MentionStatus
    alert: AlertKind | None


@dataclass(frozen=True, slots=True)
class Answer:
    """A mention's status and first response: as stored, or as this plan sets them."""

    id: int | None  # None: a mention this plan inserts
    platform: str
    external_id: str
    feed: str
    created_at: datetime
    status: str
    first_response_at: datetime | None = None
    first_response_seen_at: datetime | None = None
    first_response_by: str | None = None
    first_response_url: str | None = None
    ttfr_exact: bool | None = None
    ttfr_seconds: float | None = None
    ttfr_business_seconds: float | None = None
    sla_met: bool | None = None


@dataclass(frozen=True, slots=True)
class FollowUp:
    """An alert in the thread of a stored mention's root message, if it has one."""

    mention_id: int
    kind: AlertKind
    key: str
    body: str | None = None
    routed: bool = True  # False: no route of its own (an "answered" update edits the root)


@dataclass(frozen=True)
class Plan:
    """Everything one poll writes, in the order it is written."""

    feed: str
    fetched: int = 0
    brand_posts: int = 0
    edited: tuple[int, ...] = ()  # stored mentions edited after our reply
    edit_notes: tuple[FollowUp, ...] = ()
    mentions: tuple[NewRow, ...] = ()
    reply_inserts: tuple[ReplyRow, ...] = ()
    reply_changes: tuple[ReplyRow, ...] = ()  # stored replies, their new values
    answers: tuple[Answer, ...] = ()
    answered_updates: tuple[FollowUp, ...] = ()
    state: FeedCursor | None = None
    checked: int = 0  # new mentions the feed's filters judged
    filtered: int = 0  # of those, dropped


# -- the decision ------------------------------------------------------------------------


def decide(
    page: Page, scores: Sequence[Sentiment], stored: Stored, rules: Rules, now: datetime
) -> Plan:
    """What to write for `page`, given what is `stored`; `scores` are those of
    `page.fresh(stored.ids)`, in order."""
    edited, notes = _edits(page.records, stored.ids)
    fresh = page.fresh(stored.ids)
    values = [mention_row(rules, page.feed, r, s, now) for r, s in zip(fresh, scores, strict=True)]
    inserts, changes, replies = _replies(page.replies, stored.replies, now)
    answers = _attach(values, stored, [*stored.answers, *replies], rules.clocks)
    status = {(a.platform, a.external_id): a.status for a in answers if a.id is None}
    oldest = now - timedelta(seconds=rules.max_age)
    rows = []
    for v in values:
        state = MentionStatus(status.get((v["platform"], v["external_id"]), MentionStatus.OPEN))
        rows.append(NewRow(v, state, _alert(rules, v, state, oldest)))
    updates = tuple(
        _answered_update(a, stored.targets.get((a.platform, a.external_id)))
        for a in answers
        if a.id is not None and (page.updates_since is None or a.created_at >= page.updates_since)
    )
    return Plan(
        feed=page.feed,
        fetched=page.fetched,
        brand_posts=page.brand_posts,
        edited=tuple(edited),
        edit_notes=tuple(notes),
        mentions=tuple(rows),
        reply_inserts=tuple(inserts),
        reply_changes=tuple(changes),
        answers=tuple(answers),
        answered_updates=updates,
        state=page.state,
        checked=page.checked,
        filtered=page.filtered,
    )


def mention_row(
    rules: Rules, feed: str, record: MentionRecord, sentiment: Sentiment, now: datetime
) -> dict[str, Any]:
    """The INSERT values of a new mention, SLA clock started (same keys for every row)."""
    row: dict[str, Any] = dict(
        platform=record.platform,
        feed=feed,
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
    row["sla_at_risk_at"], row["sla_due_at"], row["sla_state"] = rules.clocks.start_times(
        feed, record.platform, record.created_at, now, rules.max_age
    )
    return row


def _edits(
    records: Iterable[MentionRecord], ids: Mapping[MentionKey, tuple[int, bool]]
) -> tuple[list[int], list[FollowUp]]:
    """A review edited after our reply gets a note in its Slack thread: the customer may
    have changed their mind, or their rating, because of (or despite) the answer."""
    edited: list[int] = []
    notes: list[FollowUp] = []
    for record in records:
        found = ids.get((record.platform, record.external_id))
        if found is None or not record.edited_after_reply or found[1]:
            continue
        mention_id = found[0]
        edited.append(mention_id)
        rating = f"{record.rating:g} stars: " if record.rating is not None else ""
        body = f"{rating}{record.text}"[:2000]
        key = f"review_edited:{mention_id}"
        notes.append(FollowUp(mention_id, AlertKind.REVIEW_EDITED, key, body))
    return edited, notes


def _replies(
    replies: Iterable[BrandReply], stored: Mapping[MentionKey, ReplyRow], now: datetime
) -> tuple[list[ReplyRow], list[ReplyRow], list[ReplyRow]]:
    """The replies to insert, the stored ones to change, and every reply of this poll as it
    will be stored."""
    rows: dict[MentionKey, ReplyRow] = {}
    for reply in replies:
        key = (reply.platform, reply.external_id)
        row = rows.get(key) or stored.get(key)
        if row is None:
            rows[key] = ReplyRow(
                id=None,
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
            continue
        if reply.created_at < row.created_at and not row.seen_modified_only:
            # an earlier timestamp for the same reply (a platform correcting itself) wins; a
            # last-modified time that moves on edit never overwrites the first one seen
            row = replace(row, created_at=reply.created_at)
        if row.earlier_unseen is None or (row.earlier_unseen and not reply.earlier_unseen):
            # a walk that read the whole thread proves no earlier reply hides; a later
            # partial walk never takes that back
            row = replace(row, earlier_unseen=reply.earlier_unseen)
        rows[key] = row
    inserts = [r for r in rows.values() if r.id is None]
    changes = [r for k, r in rows.items() if r.id is not None and r != stored[k]]
    return inserts, changes, list(rows.values())


def _attach(
    fresh: Sequence[dict[str, Any]],
    stored: Stored,
    replies: Iterable[ReplyRow],
    clocks: Clocks,
) -> list[Answer]:
    """Give each mention its earliest non-bot brand reply; an earlier one found later wins,
    even on an answered mention, and a walk that read the whole thread marks it exact.

    The mentions: those this poll's replies answer, and the fresh ones a stored reply
    answers. `replies`: the stored ones, then this poll's as they will be stored."""
    new = {(v["platform"], v["external_id"]): v for v in fresh}
    latest: dict[MentionKey, ReplyRow] = {}
    for reply in replies:  # a reply of this poll replaces its stored self
        if not reply.bot:
            latest[(reply.platform, reply.external_id)] = reply
        else:
            latest.pop((reply.platform, reply.external_id), None)
    by_target: dict[MentionKey, list[ReplyRow]] = {}
    for reply in latest.values():
        by_target.setdefault((reply.platform, reply.in_reply_to), []).append(reply)
    answers: list[Answer] = []
    for key, candidates in by_target.items():
        if key in stored.targets:
            mention = stored.targets[key]
        elif key in new:
            v = new[key]
            mention = Answer(None, *key, v["feed"], v["created_at"], MentionStatus.OPEN)
        else:
            continue
        before = mention
        for reply in sorted(candidates, key=lambda r: r.created_at):
            first = mention.first_response_at
            if first is None or reply.created_at < first:
                mention = _first_response(mention, reply, clocks)
            elif reply.created_at == first and _proves_exact(mention, reply):
                mention = replace(mention, ttfr_exact=_exact(reply))
        if mention != before:
            answers.append(mention)
    return answers


def _first_response(mention: Answer, reply: ReplyRow, clocks: Clocks) -> Answer:
    # a row never stored, for the SLA clocks to read (feed, platform, created_at) and set
    # (both TTFRs, sla_met); a reply stamped before its mention counts as instant there
    probe = Mention(
        platform=mention.platform,
        feed=mention.feed,
        external_id=mention.external_id,
        created_at=mention.created_at,
        fetched_at=mention.created_at,
    )
    clocks.answer(probe, reply.created_at)
    status = mention.status
    if status in (MentionStatus.OPEN, MentionStatus.EXPIRED):
        status = MentionStatus.ANSWERED
    return replace(
        mention,
        status=status,
        first_response_at=reply.created_at,
        first_response_seen_at=reply.seen_at,
        first_response_by=reply.author,
        first_response_url=reply.url,
        ttfr_exact=_exact(reply),
        ttfr_seconds=probe.ttfr_seconds,
        ttfr_business_seconds=probe.ttfr_business_seconds,
        sla_met=probe.sla_met,
    )


def _exact(reply: ReplyRow) -> bool | None:
    """Whether a TTFR measured to `reply` is exact; None for replies stored before 0007."""
    return None if reply.earlier_unseen is None else not reply.earlier_unseen


def _proves_exact(mention: Answer, reply: ReplyRow) -> bool:
    """A reply at the mention's first-response time settles an unknown or not-exact mark;
    nothing takes an exact one back (a later partial walk saw less, not more)."""
    exact = _exact(reply)
    return exact is not None and mention.ttfr_exact is not True and mention.ttfr_exact != exact


def _alert(
    rules: Rules, row: dict[str, Any], status: MentionStatus, oldest: datetime
) -> AlertKind | None:
    """The alert a new mention gets, if any."""
    if status != MentionStatus.OPEN or row["created_at"] < oldest:
        return None  # answered already, or history from a backfill: stored, not alerted
    sentiment = row["sentiment"]
    if "all" not in rules.alert_on and sentiment not in rules.alert_on:
        return None
    if sentiment in (SentimentLabel.NEGATIVE, SentimentLabel.UNSCORED):
        return AlertKind(sentiment)
    return AlertKind.MENTION


def _answered_update(answer: Answer, before: Answer | None) -> FollowUp:
    """A mention that was alerted gets its Slack message updated once it is answered.

    The key carries the reply time, so a late-found earlier reply updates it again."""
    assert answer.id is not None and answer.first_response_at is not None
    key = f"answered_update:{answer.id}:{int(answer.first_response_at.timestamp())}"
    if answer.ttfr_exact is False:
        # an upper bound gets its own message, and so does its proof: once a full walk proves
        # the same reply the first, ":exact" updates the note again without the "<=". (Not
        # the plain key: a mention answered before migration 0007 already used it.)
        key += ":upper"
    elif (
        before is not None
        and before.ttfr_exact is False
        and answer.ttfr_exact is True
        and before.first_response_at == answer.first_response_at
    ):
        key += ":exact"
    return FollowUp(answer.id, AlertKind.ANSWERED_UPDATE, key, routed=False)
