"""No duplicate post whatever Slack does: unknown outcomes are looked up before any resend."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from alerts.base import AlertMessage, LookupFailed, SendResult
from alerts.slack import EVENT_TYPE, SlackSink
from monitor.alerting.outbox import PROBE_DELAY, Dispatcher, retry_delay
from monitor.store.db import session
from monitor.store.models import Alert, Mention
from tests.alerts.test_slack import NOW, alert_row
from tests.support.fake_slack import FakeSlack, Posted, fake_slack
from tests.support.http_server import DROP, Reply


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def sink_for(slack: FakeSlack, deadline: float | None = None) -> SlackSink:
    return SlackSink(slack.token, base_url=slack.api_url, timeout=5, deadline=deadline)


def dispatcher_for(engine: Engine, slack: FakeSlack, **kwargs: object) -> Dispatcher:
    return Dispatcher(engine, sink_for(slack), pace=0, clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]


def add_alert(engine: Engine, key: str | None = None, attempts: int = 0) -> int:
    """A negative mention's first alert to #support, due at NOW."""
    with session(engine) as s:
        count = len(s.exec(select(Mention)).all())
        mention = Mention(
            platform="reddit",
            feed="acme-reddit",
            external_id=f"t3_{count}",
            url=f"https://www.reddit.com/r/acme/comments/{count}/",
            text="This is terrible",
            created_at=NOW - timedelta(minutes=30),
            fetched_at=NOW,
            sentiment="negative",
        )
        s.add(mention)
        s.flush()
        row = Alert(
            key=key or f"negative:{mention.id}",
            mention_id=mention.id,
            kind="negative",
            channel="#support",
            next_attempt_at=NOW,
            created_at=NOW,
            attempts=attempts,
        )
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def posted_in_slack(slack: FakeSlack, channel: str, key: str, thread_ts: str | None = None) -> str:
    """A message Slack holds for `key` (an earlier attempt that reached it); its ts."""
    result = sink_for(slack).post(
        channel, AlertMessage(key=key, kind="negative", headline="x"), thread_ts
    )
    assert result.ok and result.ts
    return result.ts


def chatter(slack: FakeSlack, channel: str, count: int) -> None:
    """People talking in the channel after the alert: `count` later top-level messages."""
    for n in range(count):
        slack.messages.append(
            Posted(channel, f"{time.time() + 1 + n / 1000:.6f}", "chat", [], None, {}, 0.0)
        )


# --- the sink ---------------------------------------------------------------------------


def test_a_reset_after_slack_accepted_the_post_is_never_sent_again_by_the_client(
    slack: FakeSlack,
) -> None:
    slack.script.append(Reply(reset_after=True))
    result = sink_for(slack).post(
        "#support", AlertMessage(key="k:1", kind="negative", headline="x")
    )
    assert not result.ok and result.unknown
    assert len(slack.messages) == 1  # slack_sdk's default handlers would have posted it twice


def test_a_dripping_answer_ends_at_the_deadline_as_an_unknown_outcome(slack: FakeSlack) -> None:
    slack.script.append(Reply(drip=1.0))
    sink = sink_for(slack, deadline=2.0)
    results: list[SendResult] = []
    worker = threading.Thread(
        target=lambda: results.append(
            sink.post("#support", AlertMessage(key="k:1", kind="negative", headline="x"))
        ),
        daemon=True,
    )
    worker.start()
    worker.join(30)  # liveness bound; the answer alone would take minutes to drip
    assert results, "the call hung on a dripping answer"
    assert not results[0].ok and results[0].unknown and "within" in (results[0].error or "")
    assert len(slack.messages) == 1


def test_a_429_retry_that_would_outlast_the_deadline_is_left_to_the_outbox(
    slack: FakeSlack,
) -> None:
    slack.script.append(
        Reply.json({"ok": False, "error": "ratelimited"}, 429, **{"Retry-After": "5"})
    )
    result = sink_for(slack, deadline=3.0).post(
        "#support", AlertMessage(key="k:1", kind="negative", headline="x")
    )
    assert not result.ok and result.retry_after == 5.0 and not result.unknown
    assert slack.messages == []


def test_a_short_429_is_still_retried_inside_the_call(slack: FakeSlack) -> None:
    slack.script.append(
        Reply.json({"ok": False, "error": "ratelimited"}, 429, **{"Retry-After": "0"})
    )
    result = sink_for(slack).post(
        "#support", AlertMessage(key="k:1", kind="negative", headline="x")
    )
    assert result.ok and len(slack.messages) == 1


def test_find_posted_pages_through_a_busy_channel(slack: FakeSlack) -> None:
    ts = posted_in_slack(slack, "#support", "negative:1")
    chatter(slack, "#support", 450)
    sink = sink_for(slack)
    assert sink.find_posted("#support", "negative:1", NOW) == ts
    assert sink.find_posted("#support", "negative:2", NOW) is None
    assert slack.lookups == 6  # three pages of 200 each time


def test_find_posted_reads_thread_replies(slack: FakeSlack) -> None:
    root = posted_in_slack(slack, "#support", "negative:1")
    reply = posted_in_slack(slack, "#support", "sla_breached:1", thread_ts=root)
    sink = sink_for(slack)
    assert sink.find_posted("#support", "sla_breached:1", NOW, thread_ts=root) == reply
    assert sink.find_posted("#support", "sla_at_risk:1", NOW, thread_ts=root) is None
    assert slack.messages[1].metadata == {
        "event_type": EVENT_TYPE,
        "event_payload": {"alert_key": "sla_breached:1", "mention_id": 0},
    }


def test_a_lookup_by_channel_name_uses_the_id_slack_gave_for_a_post(slack: FakeSlack) -> None:
    slack.ids_only = True
    slack.list_error = "missing_scope"  # the name cannot be resolved: the post's ID serves
    sink = sink_for(slack)
    ts = sink.post("#support", AlertMessage(key="negative:1", kind="negative", headline="x")).ts
    assert sink.find_posted("#support", "negative:1", NOW) == ts
    assert slack.lists == 0


def test_after_a_restart_a_channel_name_is_resolved_once_through_conversations_list(
    slack: FakeSlack,
) -> None:
    # the post went out before the crash; the new process has learnt no ID yet
    slack.ids_only = True
    ts = posted_in_slack(slack, "#support", "negative:1")
    slack.channels.update(f"team-{n}" for n in range(1500))  # more than one page of channels
    sink = sink_for(slack)
    assert sink.find_posted("#support", "negative:1", NOW) == ts
    assert sink.find_posted("#support", "negative:2", NOW) is None
    assert slack.lists == 2, "two pages read once, then the names are known"


@pytest.mark.parametrize("error", ["missing_scope", None])
def test_a_channel_name_that_cannot_be_resolved_asks_for_an_id(
    slack: FakeSlack, error: str | None
) -> None:
    slack.ids_only = True
    slack.list_error = error  # None: the list works, but the app sees no #support
    with pytest.raises(LookupFailed) as failure:
        sink_for(slack).find_posted("#support", "negative:1", NOW)
    assert failure.value.permanent and failure.value.error == "channel_id_needed"
    assert "C0123" in str(failure.value)


def test_a_failing_channel_list_is_unknown_never_absent(slack: FakeSlack) -> None:
    slack.ids_only = True
    posted_in_slack(slack, "#support", "negative:1")
    slack.list_error = "internal_error"
    with pytest.raises(LookupFailed) as failure:
        sink_for(slack).find_posted("#support", "negative:1", NOW)
    assert not failure.value.permanent


@pytest.mark.parametrize(
    "failure",
    [
        Reply(500, b"oops"),
        Reply(DROP),
        Reply.json({"ok": False, "error": "ratelimited"}, 429, **{"Retry-After": "9"}),
        Reply(drip=1.0),
    ],
    ids=["500", "reset", "429", "drip"],
)
def test_a_lookup_that_fails_is_unknown_never_absent(slack: FakeSlack, failure: Reply) -> None:
    posted_in_slack(slack, "#support", "negative:1")
    slack.lookup_script.append(failure)
    with pytest.raises(LookupFailed):
        sink_for(slack, deadline=3.0).find_posted("#support", "negative:1", NOW)


# --- the outbox ---------------------------------------------------------------------------


def test_a_post_accepted_before_the_reset_is_found_not_sent_again(
    slack: FakeSlack, sqlite_engine: Engine
) -> None:
    alert_id = add_alert(sqlite_engine)
    slack.script.append(Reply(reset_after=True))
    dispatcher = dispatcher_for(sqlite_engine, slack)
    assert dispatcher.run_once(NOW).failed == 1
    row = alert_row(sqlite_engine, alert_id)
    assert row.state == "pending" and (row.last_error or "").startswith("outcome unknown")
    chatter(slack, "#support", 250)  # a busy channel: the post is no longer in the last 200
    report = dispatcher.run_once(NOW + timedelta(seconds=PROBE_DELAY))
    assert report.reconciled == 1 and report.sent == 0
    row = alert_row(sqlite_engine, alert_id)
    assert row.state == "sent" and row.slack_ts == slack.messages[0].ts
    assert slack.keys().count(row.key) == 1


def test_a_failing_lookup_holds_the_alert_and_its_channel_and_sends_nothing(
    slack: FakeSlack, sqlite_engine: Engine
) -> None:
    # a crash after the attempt was counted, and Slack had taken the post
    first = add_alert(sqlite_engine, attempts=1)
    later = add_alert(sqlite_engine, key="negative:later")
    posted_in_slack(slack, "#support", alert_row(sqlite_engine, first).key)
    slack.lookup_script.extend([Reply(500, b"oops"), Reply(DROP)])
    dispatcher = dispatcher_for(sqlite_engine, slack)
    for step in range(2):
        dispatcher.run_once(NOW + timedelta(minutes=step))
        row = alert_row(sqlite_engine, first)
        assert row.state == "pending" and "lookup failed" in (row.last_error or "")
        # asked again in seconds, not after a long backoff
        assert row.next_attempt_at <= NOW + timedelta(minutes=step, seconds=10)
        assert len(slack.messages) == 1  # neither a resend nor the later alert overtaking it
    report = dispatcher.run_once(NOW + timedelta(minutes=3))
    assert report.reconciled == 1 and report.sent == 1
    assert slack.keys() == [alert_row(sqlite_engine, first).key, "negative:later"]
    assert alert_row(sqlite_engine, later).state == "sent"


def test_an_earlier_attempt_proven_absent_is_sent(slack: FakeSlack, sqlite_engine: Engine) -> None:
    alert_id = add_alert(sqlite_engine, attempts=1)
    chatter(slack, "#support", 300)
    assert dispatcher_for(sqlite_engine, slack).run_once(NOW).sent == 1
    assert slack.keys()[-1] == alert_row(sqlite_engine, alert_id).key


def add_thread_alert(engine: Engine, root_id: int, root_ts: str, attempts: int) -> int:
    with session(engine) as s:
        root = s.get(Alert, root_id)
        assert root is not None
        root.state, root.slack_ts, root.attempts = "sent", root_ts, 1
        s.add(root)
        row = Alert(
            key=f"sla_breached:{root.mention_id}",
            mention_id=root.mention_id,
            kind="sla_breached",
            channel="#support",
            next_attempt_at=NOW,
            created_at=NOW,
            attempts=attempts,
        )
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def test_a_thread_reply_that_reached_slack_before_a_crash_is_not_posted_again(
    slack: FakeSlack, sqlite_engine: Engine
) -> None:
    root_id = add_alert(sqlite_engine)
    root_ts = posted_in_slack(slack, "#support", alert_row(sqlite_engine, root_id).key)
    reply_id = add_thread_alert(sqlite_engine, root_id, root_ts, attempts=1)
    reply_ts = posted_in_slack(
        slack, "#support", alert_row(sqlite_engine, reply_id).key, thread_ts=root_ts
    )
    report = dispatcher_for(sqlite_engine, slack).run_once(NOW)
    assert report.reconciled == 1 and report.sent == 0
    row = alert_row(sqlite_engine, reply_id)
    assert row.state == "sent" and row.slack_ts == reply_ts and row.thread_ts == root_ts
    assert slack.reply_keys() == [row.key]


def test_a_thread_reply_reset_after_acceptance_is_found_under_its_thread(
    slack: FakeSlack, sqlite_engine: Engine
) -> None:
    root_id = add_alert(sqlite_engine)
    root_ts = posted_in_slack(slack, "#support", alert_row(sqlite_engine, root_id).key)
    reply_id = add_thread_alert(sqlite_engine, root_id, root_ts, attempts=0)
    # the first message's refresh goes through, the reply is taken and its answer lost
    slack.script.extend([Reply.json({"ok": True, "ts": root_ts}), Reply(reset_after=True)])
    dispatcher = dispatcher_for(sqlite_engine, slack)
    assert dispatcher.run_once(NOW).failed == 1
    slack.lookup_script.append(Reply(500, b"oops"))  # the first look fails: wait, never send
    dispatcher.run_once(NOW + timedelta(seconds=PROBE_DELAY))
    assert alert_row(sqlite_engine, reply_id).state == "pending"
    dispatcher.run_once(NOW + timedelta(seconds=2 * PROBE_DELAY))
    row = alert_row(sqlite_engine, reply_id)
    assert row.state == "sent" and row.thread_ts == root_ts
    assert slack.reply_keys() == [row.key]


def test_a_failing_channel_is_probed_every_few_seconds_whatever_its_attempts() -> None:
    for attempts in (1, 5, 10, 40):
        assert retry_delay(attempts, SendResult(ok=False, error="boom")) <= PROBE_DELAY
    assert retry_delay(3, SendResult(ok=False, retry_after=120.0)) == 120.0  # Retry-After holds


def test_the_first_success_drains_the_channels_waiting_alerts_at_once(
    slack: FakeSlack, sqlite_engine: Engine
) -> None:
    ids = [add_alert(sqlite_engine, key=f"negative:{n}") for n in range(4)]
    # an outage: each was tried and given a retry time of its own, some far off
    with session(sqlite_engine) as s:
        for n, alert_id in enumerate(ids):
            row = s.get(Alert, alert_id)
            assert row is not None
            row.attempts, row.next_attempt_at = 3, NOW + timedelta(seconds=[5, 300, 600, 900][n])
            s.add(row)
        s.commit()
    dispatcher = dispatcher_for(sqlite_engine, slack)
    later = NOW + timedelta(seconds=6)
    dispatcher.clock = lambda: later
    assert dispatcher.run_once(later).sent == 1
    # Slack answered: the rest go in the next round, not when their own backoff ends
    assert dispatcher.run_once(later).sent == 3
    assert slack.keys() == [f"negative:{n}" for n in range(4)]
