"""Exactly once under a hostile day: races, crashes, writer bugs, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from connectors.base import BrandReply
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyTarget,
    ReplyUnknown,
)
from monitor.config import Config, parse_config
from monitor.redaction import config_secrets, safe_error
from monitor.replying import attempts
from monitor.replying.attempts import Attempt, Refusal, Who
from monitor.replying.service import ReplyService
from monitor.states import ClickOutcome
from monitor.store.db import session
from monitor.store.models import Alert, BrandReplyRow, Mention
from tests.slack.reply_world import (
    MENTION_AT,
    MENTION_ID,
    NOW,
    REPLY_AT,
    WRITE_TOKEN,
    Mastodon,
    mastodon_server,
    replies,
    reply_actions,
)
from tests.support.http_server import Reply

AMY = Who("U0CA5", "Amy McGee", "http", "C0SUPPORT", "1700000000.000100")
BEN = Who("U0BEN", "Ben", "socket", "C0SUPPORT", "1700000000.000100")
STALE = timedelta(minutes=2)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def mastodon() -> Iterator[Mastodon]:
    with mastodon_server() as server:
        yield server


def _config(mastodon: Mastodon) -> Config:
    return parse_config(
        {
            "brand": {"name": "Acme"},
            "slack": {"reply_allowed": [AMY.user_id]},
            "sla": {"target": "1h", "clock": "calendar"},
            "scheduler": {"http_timeout": "5s"},
            "feeds": [
                {
                    "name": "acme-mastodon",
                    "type": "mastodon",
                    "tag": "acme",
                    "base_url": mastodon.server.url,
                    "reply": {"token_env": "ACME_MASTODON_WRITE"},
                }
            ],
        }
    )


def _mention(engine: Engine) -> int:
    with session(engine) as s:
        mention = Mention(
            platform="mastodon",
            feed="acme-mastodon",
            external_id=MENTION_ID,
            author="mastodonpy_test_2",
            text="@acme my order never arrived",
            created_at=MENTION_AT,
            fetched_at=MENTION_AT,
            sentiment="negative",
            polarity=-0.6,
        )
        s.add(mention)
        s.commit()
        assert mention.id is not None
        return mention.id


@pytest.fixture
def world(
    engine: Engine, mastodon: Mastodon, monkeypatch: pytest.MonkeyPatch
) -> tuple[ReplyService, Clock, int]:
    monkeypatch.setenv("ACME_MASTODON_WRITE", WRITE_TOKEN)
    clock = Clock()
    service = ReplyService(_config(mastodon), engine, clock=clock)
    return service, clock, _mention(engine)


class Scripted(Replier[ReplyOptions]):
    """A writer whose post and find_own do what the test says, counting what it sent."""

    platform = "mastodon"
    max_length = 500
    takes_key = False

    def __init__(self) -> None:
        super().__init__(ReplyOptions(), feed_options=None, base_url="http://127.0.0.1:9")  # type: ignore[arg-type]
        self.sent: list[tuple[str, str]] = []
        self.on_post: Any = None
        self.on_find: Any = None

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        self.sent.append((text, key))
        if self.on_post is not None:
            result: PostedReply = self.on_post()
            return result
        return PostedReply(f"reply-{len(self.sent)}", REPLY_AT, author="acme")

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        if self.on_find is not None:
            found: PostedReply | None = self.on_find()
            return found
        return None


def _scripted(service: ReplyService) -> Scripted:
    writer = Scripted()
    service._writers["acme-mastodon"] = writer
    return writer


def _raise(exc: BaseException) -> Any:
    def go(*_args: Any, **_kwargs: Any) -> Any:
        raise exc

    return go


# -- two submissions at the same instant ------------------------------------------------------


@pytest.mark.parametrize("before", [None, "failed"])
def test_submissions_racing_begin_take_the_lock_once(
    engine: Engine, world: tuple[ReplyService, Clock, int], before: str | None
) -> None:
    _service, _clock, mention_id = world
    if before == "failed":
        first = attempts.begin(engine, mention_id, "first", AMY, NOW, STALE)
        assert isinstance(first, Attempt)
        attempts.finish(engine, first, AMY, NOW, outcome=ClickOutcome.FAILED, detail="422")
    racers = 8
    barrier = threading.Barrier(racers)
    results: list[Attempt | Refusal | BaseException] = []
    lock = threading.Lock()

    def race(n: int) -> None:
        barrier.wait()
        try:
            got: Attempt | Refusal | BaseException = attempts.begin(
                engine, mention_id, f"text {n}", AMY, NOW, STALE
            )
        except BaseException as exc:
            got = exc
        with lock:
            results.append(got)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    owners = [r for r in results if isinstance(r, Attempt)]
    assert len(owners) == 1
    (row,) = replies(engine)
    assert (row.state, row.key, row.text) == ("posting", owners[0].key, owners[0].text)


# -- a writer that raises something it should not -------------------------------------------


@pytest.mark.parametrize("bug", [KeyError("id"), TypeError("'int' object is not iterable")])
def test_a_writer_bug_after_sending_settles_the_attempt_as_uncertain(
    engine: Engine, world: tuple[ReplyService, Clock, int], bug: Exception
) -> None:
    """A bug in reading the platform's answer comes after the request went out: the reply
    may be on the platform. The attempt is settled as such at once (told, kept, looked for
    next time), not left `posting` with the agent staring at "Posting…"."""
    service, clock, mention_id = world
    writer = _scripted(service)
    writer.on_post = _raise(bug)
    result = service.submit(mention_id, "On it", AMY)
    assert result.outcome == ClickOutcome.UNCERTAIN
    assert "may have been posted" in result.detail
    (row,) = replies(engine)
    assert row.state == "unknown"
    assert [a.outcome for a in reply_actions(engine)] == ["uncertain"]
    # the next submission looks first, and posts only when nothing is found
    clock.now = NOW + timedelta(minutes=3)
    writer.on_post = None
    assert service.submit(mention_id, "On it", AMY).posted
    assert len(writer.sent) == 2


def test_a_writer_bug_while_looking_posts_nothing_and_leaves_no_lock(
    engine: Engine, world: tuple[ReplyService, Clock, int]
) -> None:
    service, clock, mention_id = world
    writer = _scripted(service)
    writer.on_post = _raise(ReplyUnknown("Mastodon failed (502)"))
    assert service.submit(mention_id, "On it", AMY).outcome == ClickOutcome.UNCERTAIN
    writer.on_find = _raise(KeyError("descendants"))
    clock.now = NOW + timedelta(minutes=3)
    result = service.submit(mention_id, "Second try", AMY)
    assert result.outcome == ClickOutcome.UNCERTAIN
    assert "Nothing new was posted" in result.detail
    assert [text for text, _key in writer.sent] == ["On it"]
    assert replies(engine)[0].state == "unknown"


def test_recover_settles_a_crash_left_attempt_even_when_looking_breaks(
    engine: Engine, world: tuple[ReplyService, Clock, int]
) -> None:
    """A `posting` row whose look raises a bug is settled as uncertain, not retried and
    logged every 15 s for ever."""
    service, clock, mention_id = world
    writer = _scripted(service)
    begun = attempts.begin(engine, mention_id, "On it", AMY, NOW, service.stale)
    assert isinstance(begun, Attempt)  # then the process died
    writer.on_find = _raise(ValueError("bad timestamp"))
    clock.now = NOW + service.stale + timedelta(seconds=1)
    assert service.recover() == 1
    (row,) = replies(engine)
    assert row.state == "unknown"
    assert writer.sent == []


# -- looking for an earlier reply -----------------------------------------------------------


@pytest.mark.parametrize(
    "again",
    [
        Reply.json({"error": "Too many requests"}, 429, **{"Retry-After": "60"}),
        Reply.json({"error": "The access token was revoked"}, 401),
    ],
)
def test_a_refusal_of_the_same_key_does_not_prove_the_earlier_reply_absent(
    engine: Engine,
    world: tuple[ReplyService, Clock, int],
    mastodon: Mastodon,
    again: Reply,
) -> None:
    """Mastodon rate-limits and checks the token before it looks at the Idempotency-Key:
    a 429 or 401 to the earlier request sent again says nothing about whether the first
    created the status. Concluding "never created" posted the reply a second time."""
    service, clock, mention_id = world
    # the platform cannot be asked (its API for reading is down for now)
    mastodon.server.route("/api/v1/accounts/verify_credentials", Reply(503, b"down"))
    mastodon.answers.append(Reply(reset_after=True))  # created, the answer lost
    mastodon.answers.append(again)  # the same key sent again, refused before any look
    first = service.submit(mention_id, "On it", AMY)
    assert first.outcome == ClickOutcome.UNCERTAIN
    assert len(mastodon.created) == 1
    clock.now = NOW + timedelta(minutes=3)
    mastodon.answers.append(again)
    second = service.submit(mention_id, "On it", AMY)
    assert len(mastodon.created) == 1, "the reply was posted twice"
    assert second.outcome == ClickOutcome.UNCERTAIN
    assert "Could not tell" in second.detail
    assert replies(engine)[0].state == "unknown"


# -- hostile text -----------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["Sorry\x00 we are on it", "Sorry \ud83d we are on it"])
def test_text_no_store_can_keep_is_refused_before_anything_is_sent(
    engine: Engine, world: tuple[ReplyService, Clock, int], mastodon: Mastodon, typed: str
) -> None:
    """A NUL (PostgreSQL refuses it in text) or a lone surrogate (no driver encodes it)
    made begin() raise on PostgreSQL: nothing kept, the modal stuck on Posting…; on
    SQLite the NUL went to the platform."""
    service, _clock, mention_id = world
    result = service.submit(mention_id, typed, AMY)
    assert result.outcome == ClickOutcome.FAILED
    assert "cannot be posted" in result.detail
    assert mastodon.posts == []
    assert replies(engine) == []
    (action,) = reply_actions(engine)
    assert action.outcome == "failed"


# -- the write token is a secret --------------------------------------------------------------


def test_the_write_token_is_a_secret_of_the_config_and_of_its_feed(
    mastodon: Mastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log filter hides every value a `*_env` key names; the `reply` table's were left
    out, so a log line or a feed error holding the write token showed it."""
    monkeypatch.setenv("ACME_MASTODON_WRITE", WRITE_TOKEN)
    config = _config(mastodon)
    assert WRITE_TOKEN in config_secrets(config)
    said = safe_error(f"Bearer {WRITE_TOKEN} was refused", config.feed("acme-mastodon"))
    assert WRITE_TOKEN not in said


def test_a_platform_error_quoting_the_write_token_is_not_shown_or_kept(
    engine: Engine, world: tuple[ReplyService, Clock, int], mastodon: Mastodon
) -> None:
    service, _clock, mention_id = world
    mastodon.answers.append(Reply.json({"error": f"Token {WRITE_TOKEN} is revoked"}, 401))
    result = service.submit(mention_id, "On it", AMY)
    assert result.outcome == ClickOutcome.FAILED
    assert "revoked" in result.detail and WRITE_TOKEN not in result.detail
    (row,) = replies(engine)
    assert row.error is not None and WRITE_TOKEN not in row.error
    (action,) = reply_actions(engine)
    assert WRITE_TOKEN not in (action.detail or "")
    with session(engine) as s:
        notes = [a.body or "" for a in s.exec(select(Alert)).all()]
    assert notes == [] or all(WRITE_TOKEN not in body for body in notes)


@pytest.mark.parametrize(
    "typed", ["Sorry  about that.  DM us", "Sorry\tabout that", "Sorry\n\n\n\nDM us  \nplease"]
)
def test_a_lost_answer_is_found_whatever_blanks_the_agent_typed(
    engine: Engine, world: tuple[ReplyService, Clock, int], mastodon: Mastodon, typed: str
) -> None:
    """Mastodon keeps the text as typed; its HTML read back folds runs of blanks. The
    typed text was compared unfolded: a reply with two spaces was never found, and the
    attempt after an uncertain one posted it again."""
    service, clock, mention_id = world
    mastodon.answers.append(Reply(reset_after=True))  # created, the answer lost
    first = service.submit(mention_id, typed, AMY)
    assert len(mastodon.created) == 1
    clock.now = NOW + timedelta(minutes=3)
    service.submit(mention_id, typed, AMY)
    assert len(mastodon.created) == 1, "the reply was posted twice"
    assert first.posted or replies(engine)[0].state == "posted"


# -- a crash at every step ----------------------------------------------------------------------


class Crash(BaseException):
    """The process dies here (a SIGKILL is not catchable; a BaseException comes closest)."""


class Platform(Scripted):
    """A platform that keeps what it was sent, and shows it to find_own."""

    def __init__(self) -> None:
        super().__init__()
        self.created: list[PostedReply] = []
        self.crash_before_create = False
        self.crash_after_create = False

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        if self.crash_before_create:
            raise Crash
        reply = PostedReply(f"reply-{len(self.created) + 1}", REPLY_AT, author="acme", text=text)
        self.created.append(reply)
        if self.crash_after_create:
            raise Crash
        return reply

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        return next((r for r in self.created if r.text == text), None)


@pytest.mark.parametrize(
    "step",
    [
        "before the request",
        "after the platform created it",
        "in finish",
        "in store_replies",
        "in mark_recorded",
    ],
)
def test_a_crash_at_any_step_posts_once_and_a_restart_settles_it(
    engine: Engine,
    world: tuple[ReplyService, Clock, int],
    monkeypatch: pytest.MonkeyPatch,
    step: str,
) -> None:
    service, clock, mention_id = world
    platform = Platform()
    service._writers["acme-mastodon"] = platform
    with monkeypatch.context() as patch:
        if step == "before the request":
            platform.crash_before_create = True
        elif step == "after the platform created it":
            platform.crash_after_create = True
        elif step == "in finish":
            patch.setattr(attempts, "finish", _raise(Crash()))
        elif step == "in store_replies":
            patch.setattr(service.pipeline(), "store_replies", _raise(Crash()))
        else:
            patch.setattr(attempts, "mark_recorded", _raise(Crash()))
        with pytest.raises(Crash):
            service.submit(mention_id, "On it", AMY)
    platform.crash_before_create = platform.crash_after_create = False
    # a second click at once: nothing is sent while the first may still be running
    again = service.submit(mention_id, "On it", BEN)
    assert again.outcome == ClickOutcome.LOST and len(platform.created) <= 1
    # the restart, once the attempt is stale
    restarted = ReplyService(service.config, engine, clock=clock)
    restarted._writers["acme-mastodon"] = platform
    clock.now = NOW + service.stale + timedelta(seconds=1)
    restarted.recover()
    assert restarted.recover() == 0  # settled once
    (row,) = replies(engine)
    if step == "before the request":
        assert platform.created == [] and row.state == "failed"
        assert restarted.submit(mention_id, "On it", AMY).posted
        (row,) = replies(engine)
    assert len(platform.created) == 1
    assert (row.state, row.recorded, row.reply_id) == ("posted", True, "reply-1")
    mention = _row(engine, mention_id)
    assert (mention.status, mention.first_response_at) == ("answered", REPLY_AT)
    later = restarted.submit(mention_id, "On it", BEN)
    assert later.outcome == ClickOutcome.LOST and "Already answered" in later.detail
    assert len(platform.created) == 1


def _row(engine: Engine, mention_id: int) -> Mention:
    with session(engine) as s:
        found = s.get(Mention, mention_id)
        assert found is not None
        return found


# -- the world moves while the reply is posting ---------------------------------------------


def test_a_poll_finding_the_reply_while_it_posts_records_it_once(
    engine: Engine, world: tuple[ReplyService, Clock, int]
) -> None:
    service, _clock, mention_id = world
    platform = Platform()
    service._writers["acme-mastodon"] = platform
    feed = service.config.feed("acme-mastodon")

    def polled() -> PostedReply:
        reply = platform.created[-1]
        found = BrandReply(
            platform="mastodon",
            external_id=reply.external_id,
            in_reply_to=MENTION_ID,
            created_at=reply.created_at,
            author="acme",
            text=reply.text,
        )
        service.pipeline().store_replies(feed, [found], NOW)  # a poll, meanwhile
        return reply

    real_post = platform.post
    platform.post = lambda *args: (real_post(*args), polled())[1]  # type: ignore[method-assign]
    assert service.submit(mention_id, "On it", AMY).posted
    (row,) = replies(engine)
    assert (row.state, row.recorded) == ("posted", True)
    mention = _row(engine, mention_id)
    assert (mention.status, mention.first_response_at) == ("answered", REPLY_AT)
    with session(engine) as s:
        stored = s.exec(select(BrandReplyRow).where(BrandReplyRow.in_reply_to == MENTION_ID))
        assert len(list(stored.all())) == 1


def test_a_mention_dismissed_or_answered_meanwhile_takes_no_new_reply(
    engine: Engine, world: tuple[ReplyService, Clock, int]
) -> None:
    service, _clock, mention_id = world
    platform = Platform()
    service._writers["acme-mastodon"] = platform
    with session(engine) as s:
        mention = s.get(Mention, mention_id)
        assert mention is not None
        mention.status = "dismissed"
        mention.resolved_by = "Ben"
        s.add(mention)
        s.commit()
    result = service.submit(mention_id, "On it", AMY)
    assert result.outcome == ClickOutcome.LOST and "dismissed by Ben" in result.detail
    assert platform.created == []


def test_a_feed_removed_from_the_config_posts_nothing(
    engine: Engine,
    world: tuple[ReplyService, Clock, int],
    mastodon: Mastodon,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """config.feed() raises ConfigError, not the KeyError writer() caught: a mention of a
    removed feed raised out of submit() and out of every restart's recover()."""
    service, clock, mention_id = world
    begun = attempts.begin(engine, mention_id, "On it", AMY, NOW, service.stale)
    assert isinstance(begun, Attempt)  # then a crash, and the feed left the config
    config = parse_config({"brand": {"name": "Acme"}, "slack": {"reply_allowed": ["U0CA5"]}})
    without = ReplyService(config, engine, clock=clock)
    clock.now = NOW + service.stale + timedelta(seconds=1)
    with caplog.at_level(logging.ERROR):
        assert without.recover() == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    result = without.submit(mention_id, "On it", AMY)
    assert result.outcome == ClickOutcome.FAILED and "nothing was posted" in result.detail
    assert mastodon.posts == []


def test_a_crash_while_an_uncertain_attempt_is_looked_for_forgets_nothing(
    engine: Engine, world: tuple[ReplyService, Clock, int]
) -> None:
    """Attempt 1 ("A") may have posted; attempt 2 ("B") takes the row to look for it first
    and the process dies while looking. The row must still describe A, so that the restart
    looks for A, finds it, and records it; B is then refused, never posted beside A."""
    service, clock, mention_id = world
    platform = Platform()
    service._writers["acme-mastodon"] = platform
    real_post = platform.post

    def created_then_lost(*args: Any) -> PostedReply:
        real_post(*args)
        raise ReplyUnknown("Mastodon did not answer after the reply was sent")

    platform.post = created_then_lost  # type: ignore[method-assign,assignment]
    platform.find_own = _raise(ReplyUnknown("Mastodon cannot be asked now"))  # type: ignore[method-assign]
    assert service.submit(mention_id, "A", AMY).outcome == ClickOutcome.UNCERTAIN
    assert [r.text for r in platform.created] == ["A"]
    clock.now = NOW + timedelta(minutes=3)
    platform.find_own = _raise(Crash())  # type: ignore[method-assign]
    with pytest.raises(Crash):
        service.submit(mention_id, "B", AMY)
    del platform.post, platform.find_own  # the platform answers again
    clock.now += service.stale + timedelta(seconds=1)
    restarted = ReplyService(service.config, engine, clock=clock)
    restarted._writers["acme-mastodon"] = platform
    restarted.recover()
    restarted.submit(mention_id, "B", AMY)
    assert [r.text for r in platform.created] == ["A"], "answered twice"


def test_an_expired_idempotency_key_is_not_resent(
    engine: Engine, world: tuple[ReplyService, Clock, int], mastodon: Mastodon
) -> None:
    """Mastodon keeps an Idempotency-Key for an hour (docs.joinmastodon.org/methods/statuses
    /#create): resent later, the same key creates a second status."""
    service, clock, mention_id = world
    mastodon.server.route("/api/v1/accounts/verify_credentials", Reply(503, b"down"))
    mastodon.answers += [Reply(reset_after=True), Reply(503, b"down")]  # created; lost
    assert service.submit(mention_id, "On it", AMY).outcome == ClickOutcome.UNCERTAIN
    assert len(mastodon.created) == 1
    clock.now = NOW + timedelta(hours=2)
    mastodon.keys.clear()  # the hour is over: Mastodon forgot the key
    result = service.submit(mention_id, "On it", AMY)
    assert len(mastodon.created) == 1, "the reply was posted twice"
    assert result.outcome == ClickOutcome.UNCERTAIN and "Mark handled" in result.detail


def test_a_mention_answered_on_the_platform_after_an_uncertain_attempt_takes_no_reply(
    engine: Engine, world: tuple[ReplyService, Clock, int]
) -> None:
    """docs/replying.md: "A mention answered on the platform meanwhile, or dismissed, takes
    no reply from Slack". Once an attempt was uncertain, the next one skipped that check:
    the earlier reply not found, the new one was posted under a colleague's answer."""
    service, clock, mention_id = world
    platform = Platform()
    service._writers["acme-mastodon"] = platform
    real_post = platform.post
    platform.post = _raise(ReplyUnknown("Mastodon failed (502)"))  # type: ignore[method-assign]
    assert service.submit(mention_id, "On it", AMY).outcome == ClickOutcome.UNCERTAIN
    platform.post = real_post  # type: ignore[method-assign]
    with session(engine) as s:  # a colleague answered on Mastodon; a poll recorded it
        mention = s.get(Mention, mention_id)
        assert mention is not None
        mention.status = "answered"
        mention.first_response_by = "acme_ana"
        mention.first_response_at = REPLY_AT
        s.add(mention)
        s.commit()
    clock.now = NOW + timedelta(minutes=3)
    result = service.submit(mention_id, "On it", AMY)
    assert platform.created == []
    assert result.outcome == ClickOutcome.LOST and "Already answered" in result.detail


def test_a_posted_reply_with_unstorable_text_from_the_platform_is_kept(
    engine: Engine, world: tuple[ReplyService, Clock, int]
) -> None:
    """The platform's id, author and link of the created reply went into slack_reply as
    given: a NUL there (PostgreSQL refuses it) made finish() raise after the post, and
    every look afterwards found the reply and raised again, for ever."""
    service, _clock, mention_id = world
    writer = _scripted(service)
    writer.on_post = lambda: PostedReply(
        "reply\x00-1", REPLY_AT, url="https://x.example/\x00r", author="ac\x00me\ud800"
    )
    result = service.submit(mention_id, "On it", AMY)
    assert result.posted
    (row,) = replies(engine)
    assert (row.state, row.recorded) == ("posted", True)
    assert row.reply_id == "reply-1" and row.reply_author == "acme\ufffd"
    assert _row(engine, mention_id).status == "answered"


def test_a_posted_reply_is_recorded_after_a_crash_even_without_write_credentials(
    engine: Engine,
    world: tuple[ReplyService, Clock, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Posted, then the process died before recording; the operator meanwhile removed the
    write token. Recording needs no writer: the restart records it all the same."""
    service, clock, mention_id = world
    _scripted(service)
    with monkeypatch.context() as patch:
        patch.setattr(service.pipeline(), "store_replies", _raise(Crash()))
        with pytest.raises(Crash):
            service.submit(mention_id, "On it", AMY)
    monkeypatch.delenv("ACME_MASTODON_WRITE")
    restarted = ReplyService(service.config, engine, clock=clock)
    assert restarted.writer("acme-mastodon") is None
    assert restarted.recover() == 1
    (row,) = replies(engine)
    assert (row.state, row.recorded) == ("posted", True)
    assert _row(engine, mention_id).first_response_at == REPLY_AT
