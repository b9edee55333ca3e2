"""Post an agent's reply on the platform once, record it as the brand's, tell the thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from connectors.base import BrandReply
from connectors.http import make_client
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyError,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
)
from connectors.text import storable
from monitor.config import Config, FeedConfig
from monitor.ingest.pipeline import Pipeline
from monitor.redaction import safe_error
from monitor.replying import attempts
from monitor.replying.attempts import SKEW, Attempt, Refusal, Who
from monitor.replying.writers import replier_for, target_of
from monitor.states import ClickOutcome
from monitor.store.db import session as open_session
from monitor.store.models import Mention, SlackReply, utcnow

log = logging.getLogger(__name__)

# An attempt whose answer was lost this recently may not be visible on the platform yet:
# a new one waits, rather than conclude from an empty thread that nothing was posted.
SETTLE_AFTER = timedelta(minutes=1)
# Refusals of the earlier request sent again under its key that prove the first one created
# nothing: the platform read it and refused the text or the target. A 429, a 401/403 or no
# connection come before the key is looked at, and say nothing about the first request.
_REFUSED_AS_SENT = frozenset({"invalid", "gone"})


def problem_with(writer: Replier[Any], text: str) -> str | None:
    """Why `text` may not go out, or None: characters no store keeps (a NUL, which
    PostgreSQL refuses in text, or half an emoji), then the platform's own check."""
    if storable(text) != text:
        return (
            "The reply has a character that cannot be posted (a NUL or half of an emoji):"
            " remove it and send again."
        )
    return writer.check(text)


@dataclass(frozen=True)
class ReplyResult:
    """What the agent is told in the modal."""

    outcome: ClickOutcome
    detail: str
    url: str | None = None

    @property
    def posted(self) -> bool:
        return self.outcome == ClickOutcome.POSTED


class ReplyService:
    """The one way a reply leaves the monitor: `submit` (the modal), `recover` (a restart)."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
        client: Callable[[], httpx.Client] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        timeout = config.scheduler.http_timeout
        self.stale = attempts.stale_after(timeout)
        self._client = client or (lambda: make_client(timeout=timeout))
        self._pipeline: Pipeline | None = None
        self._writers: dict[str, Replier[Any] | None] = {}
        self._lock = threading.Lock()

    def attach(self, pipeline: Pipeline) -> None:
        """Record through the process's own pipeline (`monitor run`) instead of a second one."""
        with self._lock:
            self._pipeline = pipeline

    def pipeline(self) -> Pipeline:
        with self._lock:
            if self._pipeline is None:
                self._pipeline = Pipeline(self.config, self.engine, self._client())
            return self._pipeline

    # -- what the modal asks first ----------------------------------------------------------

    def writer(self, feed_name: str) -> Replier[Any] | None:
        """The feed's writer when it can post now (write credentials set), else None."""
        with self._lock:
            if feed_name not in self._writers:
                feed = self.config.find_feed(feed_name)
                if feed is None:
                    return None  # the feed left the config; its old alerts cannot reply
                self._writers[feed_name] = replier_for(
                    feed, self.pipeline_logins(), self.config.config_dir
                )
            writer = self._writers[feed_name]
        return writer if writer is not None and writer.missing() is None else None

    def pipeline_logins(self) -> Any:
        return self._pipeline.logins if self._pipeline is not None else None

    # -- submitting -------------------------------------------------------------------------

    def submit(self, mention_id: int, text: str, who: Who) -> ReplyResult:
        now = self.clock()
        with open_session(self.engine) as session:
            mention = session.get(Mention, mention_id)
        writer = self.writer(mention.feed) if mention is not None else None
        if mention is None or writer is None:
            detail = (
                "This mention is no longer in the database."
                if mention is None
                else f"The feed {mention.feed} has no write credentials now: nothing was posted."
            )
            return self._refuse(mention_id, text, who, now, Refusal(ClickOutcome.FAILED, detail))
        problem = problem_with(writer, text)
        if problem is not None:
            return self._refuse(mention_id, text, who, now, Refusal(ClickOutcome.FAILED, problem))
        begun = attempts.begin(self.engine, mention_id, text, who, now, self.stale)
        if isinstance(begun, Refusal):
            return self._refuse(mention_id, text, who, now, begun)
        feed = self.config.feed(mention.feed)
        target = target_of(mention)
        with self._client() as client:
            if begun.earlier is not None:
                settled = self._settle(client, writer, feed, target, begun, who)
                if settled is not None:
                    return settled
                # the earlier attempt posted nothing: the row becomes this one
                if not attempts.switch(self.engine, begun, who):
                    refusal = Refusal(ClickOutcome.LOST, attempts.in_progress(None))
                    return self._refuse(mention_id, text, who, self.clock(), refusal)
            return self._post(client, writer, feed, target, begun, who)

    def _settle(
        self,
        client: httpx.Client,
        writer: Replier[Any],
        feed: FeedConfig,
        target: ReplyTarget,
        begun: Attempt,
        who: Who,
    ) -> ReplyResult | None:
        """The previous attempt may have posted: find it before anything new goes out.

        None when it certainly did not (the new attempt goes ahead); else what the agent is
        told, the new text unsent."""
        earlier = begun.earlier
        assert earlier is not None
        by = earlier.user_name or earlier.user_id
        now = self.clock()
        # the row still is the earlier attempt: it is ended as that one
        as_before = replace(
            begun,
            attempt=earlier.attempt,
            text=earlier.text,
            key=earlier.key,
            started_at=earlier.started_at,
        )
        if now - earlier.started_at < SETTLE_AFTER:
            detail = (
                f"{by}'s reply a moment ago got no answer from {target.platform}; it is checked"
                " before anything is sent again. Try again in a minute."
            )
            self._end(as_before, who, ClickOutcome.UNCERTAIN, detail, at=now)
            return ReplyResult(ClickOutcome.UNCERTAIN, detail)
        found, why = self._look(client, writer, target, earlier.text, earlier)
        if found is not None:
            detail = f"{by}'s earlier reply had reached {target.platform}: nothing new was posted."
            return self._posted(feed, target, as_before, who, found, detail)
        if why is not None:  # the platform could not be asked
            self._end(as_before, who, ClickOutcome.UNCERTAIN, why, at=now)
            return ReplyResult(ClickOutcome.UNCERTAIN, why, target.url)
        return None

    def _look(
        self,
        client: httpx.Client,
        writer: Replier[Any],
        target: ReplyTarget,
        text: str,
        earlier: SlackReply | Attempt,
    ) -> tuple[PostedReply | None, str | None]:
        """(the reply found, None), (None, None) when it is not there, or (None, why) when
        the platform could not tell."""
        try:
            return writer.find_own(client, target, text, earlier.started_at - SKEW), None
        except ReplyError as cannot_look:
            # a refusal while looking (a 401, a 429) says nothing of the reply: not "absent"
            why = cannot_look.message
        except Exception as bug:  # a writer's bug must not leave the attempt `posting`
            why = _bug(bug, target, "looking for the earlier reply")
        if writer.takes_key and self._key_kept(writer, earlier):
            try:  # the platform deduplicates by the key: sending it again is safe
                return writer.post(client, target, text, earlier.key), None
            except ReplyRefused as refused:
                if refused.kind in _REFUSED_AS_SENT:
                    return None, None  # the request itself was refused: it was never created
                # a rate limit, a token or the network said no before the key was looked at
                why = refused.message
            except ReplyUnknown as again:
                why = again.message
            except Exception as bug:
                why = _bug(bug, target, "sending the earlier reply again")
        return None, self._safe(
            f"Could not tell whether the earlier reply reached {target.platform} ({why})."
            " Nothing new was posted: check the post on the platform, and press Mark handled"
            " if the reply is there.",
            target,
        )

    def _key_kept(self, writer: Replier[Any], earlier: SlackReply | Attempt) -> bool:
        """The platform still deduplicates by the earlier attempt's key: a writer whose
        platform forgets keys says after how long (`key_lifetime`, Mastodon's an hour)."""
        lifetime = getattr(writer, "key_lifetime", None)
        if not isinstance(lifetime, timedelta):
            return True  # kept for ever, or the write replaces the single reply
        return self.clock() - earlier.started_at < lifetime - SKEW

    def _safe(self, said: str, target: ReplyTarget) -> str:
        """A platform's words fit to show and keep: the feed's secrets (its write token
        among them) hidden, should the platform quote them back."""
        return safe_error(said, self.config.find_feed(target.feed))

    def _post(
        self,
        client: httpx.Client,
        writer: Replier[Any],
        feed: FeedConfig,
        target: ReplyTarget,
        begun: Attempt,
        who: Who,
    ) -> ReplyResult:
        try:
            posted = writer.post(client, target, begun.text, begun.key)
        except ReplyRefused as refused:
            detail = self._safe(refused.message, target)
            self._not_posted(begun, who, target, detail)
            return ReplyResult(ClickOutcome.FAILED, detail)
        except Exception as unknown:
            # ReplyUnknown, or a writer's bug: either may come after the request went out
            said = self._safe(
                unknown.message
                if isinstance(unknown, ReplyUnknown)
                else _bug(unknown, target, "posting"),
                target,
            )
            found, why = self._look(client, writer, target, begun.text, begun)
            if found is None:
                detail = why or (
                    f"{said}. It is looked for on {target.platform} before anything"
                    " is sent again; check the post there."
                )
                told = f"Reply by {who.name} may have been posted: {detail}"
                self._end(begun, who, ClickOutcome.UNCERTAIN, detail, told=told)
                return ReplyResult(ClickOutcome.UNCERTAIN, detail, target.url)
            posted = found
        posted = self._named(target, posted)
        detail = f"Posted on {target.platform} as {posted.author or 'the brand'}."
        return self._posted(feed, target, begun, who, posted, detail)

    def _posted(
        self,
        feed: FeedConfig,
        target: ReplyTarget,
        begun: Attempt,
        who: Who,
        posted: PostedReply,
        detail: str,
    ) -> ReplyResult:
        posted = self._named(target, posted)
        told = (
            f"Reply sent from Slack by {who.name} as {posted.author or 'the brand'}"
            f" on {target.platform}"
        )
        self._end(begun, who, ClickOutcome.POSTED, detail, told=told, posted=posted)
        self._record(feed, target, begun.mention_id, begun.key, posted, begun.text)
        return ReplyResult(ClickOutcome.POSTED, detail, posted.url)

    def _record(
        self,
        feed: FeedConfig,
        target: ReplyTarget,
        mention_id: int,
        key: str,
        posted: PostedReply,
        text: str,
    ) -> None:
        """The reply as the brand's, at the platform's time: the TTFR stops and the alert is
        updated as for any reply a poll finds. A failure here is retried by `recover`."""
        reply = BrandReply(
            platform=target.platform,
            external_id=posted.external_id,
            in_reply_to=target.external_id,
            created_at=posted.created_at,
            author=posted.author,
            author_id=posted.author_id,
            url=posted.url,
            text=posted.text or text,
        )
        try:
            self.pipeline().store_replies(feed, [reply], self.clock())
        except Exception:
            log.exception("reply to mention %s posted, not yet recorded: retried later", mention_id)
            return
        attempts.mark_recorded(self.engine, mention_id, key)

    def _named(self, target: ReplyTarget, posted: PostedReply) -> PostedReply:
        """An answer without the account's name (X gives only its id): the brand's handle on
        the platform from `[brand] identities`, the one with this id, else the only one."""
        if posted.author is not None:
            return posted
        found = [
            i
            for i in self.config.brand.identities
            if i.platform == target.platform and i.handle and not i.bot
        ]
        by_id = [i for i in found if posted.author_id and i.id == posted.author_id]
        chosen = by_id or (found if len(found) == 1 else [])
        return replace(posted, author=chosen[0].handle) if chosen else posted

    def _end(
        self,
        begun: Attempt,
        who: Who,
        outcome: ClickOutcome,
        detail: str,
        *,
        told: str | None = None,
        posted: PostedReply | None = None,
        at: datetime | None = None,
    ) -> None:
        """End the attempt now (or `at`); `told`, when given, goes to the thread above the
        reply's text."""
        attempts.finish(
            self.engine,
            begun,
            who,
            self.clock() if at is None else at,
            outcome=outcome,
            detail=detail,
            posted=posted,
            note=None if told is None else f"{told}\n{begun.text}",
        )

    def _not_posted(self, begun: Attempt, who: Who, target: ReplyTarget, detail: str) -> None:
        """The platform certainly holds no reply from this attempt: it ends as failed."""
        told = f"Reply by {who.name} not posted on {target.platform}: {detail}"
        self._end(begun, who, ClickOutcome.FAILED, detail, told=told)

    def _refuse(
        self, mention_id: int, text: str, who: Who, now: datetime, refusal: Refusal
    ) -> ReplyResult:
        attempts.refuse(self.engine, mention_id, text, who, now, refusal)
        return ReplyResult(refusal.outcome, refusal.detail)

    # -- after a restart --------------------------------------------------------------------

    def recover(self) -> int:
        """Settle what a crash left: record posted replies, look for ones left mid-post.
        Nothing new is posted here (a platform that deduplicates by key may be sent the same
        request again). Returns how many attempts it settled."""
        settled = 0
        for row in attempts.unfinished(self.engine, self.clock(), self.stale):
            try:
                settled += self._recover(row)
            except Exception:
                log.exception("reply to mention %s: could not settle it", row.mention_id)
        return settled

    def _recover(self, row: SlackReply) -> int:
        with open_session(self.engine) as session:
            mention = session.get(Mention, row.mention_id)
        feed = self.config.find_feed(mention.feed) if mention is not None else None
        if mention is None or feed is None:
            return 0
        target = target_of(mention)
        who = Who(row.user_id, row.user_name, "restart", row.channel_id, row.message_ts)
        if row.reply_id is not None and row.reply_at is not None:
            # posted, not recorded: no writer is needed for that (its credentials may be gone)
            posted = PostedReply(row.reply_id, row.reply_at, row.reply_url, row.reply_author)
            self._record(feed, target, row.mention_id, row.key, posted, row.text)
            return 1
        writer = self.writer(mention.feed)
        if writer is None:
            return 0
        if not attempts.take_over(self.engine, row, self.clock()):
            return 0  # another process settles it, or a new submission took it
        begun = Attempt(row.mention_id, row.attempt, row.key, row.text, row.started_at)
        with self._client() as client:
            found, why = self._look(client, writer, target, row.text, row)
        if found is not None:
            detail = f"{who.name}'s reply was posted before a restart; recorded now."
            self._posted(feed, target, begun, who, found, detail)
        elif why is None:
            detail = f"Not found on {target.platform} after a restart: nothing was posted."
            self._not_posted(begun, who, target, detail)
        else:
            self._end(begun, who, ClickOutcome.UNCERTAIN, why)
        return 1


def _bug(exc: Exception, target: ReplyTarget, doing: str) -> str:
    """A writer raised what its contract does not allow: logged with its traceback, told
    as "may have been posted" (the request may have gone out before it broke)."""
    log.exception("reply writer for %s broke while %s", target.platform, doing)
    return (
        f"an internal error ({exc.__class__.__name__}) while {doing} on {target.platform}:"
        " the reply may have been posted"
    )
