"""A live stream through the real process: Jetstream replayed on 127.0.0.1, `monitor run` or a
worker reading it, a fake Slack; kill -9 mid-stream and a restart lose and double nothing.

The stream is the recorded Jetstream stretch (tests/fixtures/bluesky_stream/) with one event
appended: the brand's reply to one of its matched posts, built from a recorded reply event of
the same stretch (its shape; the DID, rkey, parent, text and times are ours), because the
stretch holds no mention answered by a brand account."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.jetstream_server import JetstreamReplay, jetstream_replay, recorded_lines
from tests.test_end_to_end import Mode, mode, start, wait_for

pytestmark = pytest.mark.e2e
__all__ = ["mode"]  # the fixture of test_end_to_end: each test here runs single and worker

BRAND = "did:plc:acmebrandacmebrandacmebr"  # ours: no brand account posts in the stretch
# the matched post the brand answers: "Has anyone properly debunked Tic Tac video?"
ASKED = "at://did:plc:ybqkf2mtfbwx3qhga63mttja/app.bsky.feed.post/3mptbyoigog2b"
ASKED_AT = "2026-07-04T14:38:02+00:00"
ANSWERED_AT = "2026-07-04T14:39:32.000Z"  # 90 s later
KEYWORDS = ["debunked", "government", "PRIMÁTOREM", "ジャードゥーガル"]
HASHTAGS = ["HowToTellAiToShutUp"]
RATE = 2.0  # events a second: the ~20 post events take ~10 s, so a kill lands mid-stream


def stream_lines() -> list[str]:
    lines = recorded_lines()
    events = [json.loads(line) for line in lines]
    template = next(
        e
        for e in events
        if (e.get("commit") or {}).get("operation") == "create"
        and (e["commit"].get("record") or {}).get("reply")
    )
    asked = next(
        e for e in events if (e.get("commit") or {}).get("rkey") == ASKED.rsplit("/", 1)[1]
    )
    reply = json.loads(json.dumps(template))
    reply["did"] = BRAND
    reply["time_us"] = max(e["time_us"] for e in events) + 1000
    commit = reply["commit"]
    commit["rkey"] = "3mptbzacmeaa2"
    commit["cid"] = asked["commit"]["cid"]  # any well-formed cid; only the uri is read
    record = commit["record"]
    record["text"] = "Sorry for the trouble, we are on it: check your DMs."
    record["createdAt"] = ANSWERED_AT
    record["langs"] = ["en"]
    ref = {"uri": ASKED, "cid": asked["commit"]["cid"]}
    record["reply"] = {"root": ref, "parent": ref}
    # Jetstream's times moved to now (the posts keep their own createdAt): a restart resumes
    # from a cursor minutes old, as in production, not one older than Jetstream keeps
    shift = int(time.time() * 1e6) - min(e["time_us"] for e in events)
    moved = []
    for event in [*events, reply]:
        event["time_us"] += shift
        moved.append(json.dumps(event, ensure_ascii=False))
    return moved


def matched_posts() -> set[str]:
    """The recorded posts the feed's words match (found by the connector's own tests)."""
    found = set()
    for line in recorded_lines():
        event = json.loads(line)
        commit = event.get("commit") or {}
        record = commit.get("record") or {}
        if commit.get("operation") != "create" or commit.get("collection") != "app.bsky.feed.post":
            continue
        words = (record.get("text") or "").casefold()
        if any(k.casefold() in words for k in KEYWORDS) or "#howtotellaitoshutup" in words:
            found.add(f"at://{event['did']}/app.bsky.feed.post/{commit['rkey']}")
    return found


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def replay() -> Iterator[JetstreamReplay]:
    with jetstream_replay(stream_lines()) as server:
        server.rate = RATE
        yield server


def write_config(tmp_path: Path, replay: JetstreamReplay, slack: FakeSlack, store: str) -> Path:
    config = tmp_path / "config.toml"
    keywords = json.dumps(KEYWORDS, ensure_ascii=False)
    config.write_text(
        f"""
[storage]
url = "{store}"

[slack]
api_url = "{slack.api_url}"
default_channel = "#support"

[alerts]
on = ["all"]
max_age = "5000d"
dispatch_interval = "1s"

[workers]
stalled_after = "22s"

[[brand.identities]]
platform = "bluesky"
id = "{BRAND}"

[[feeds]]
name = "bsky-live"
type = "bluesky_stream"
base_url = "{replay.url}"
keywords = {keywords}
hashtags = {json.dumps(HASHTAGS)}
""",
        encoding="utf-8",
    )
    return config


def stored(store: str) -> dict[str, tuple[str, float | None]]:
    engine = create_engine(store)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT external_id, status, ttfr_seconds FROM mention")).all()
    finally:
        engine.dispose()
    return {row[0]: (row[1], row[2]) for row in rows}


def test_a_stream_survives_kill_9_and_restart_with_every_post_alerted_once(
    tmp_path: Path, replay: JetstreamReplay, slack: FakeSlack, mode: Mode
) -> None:
    expected = matched_posts()
    assert ASKED in expected and len(expected) >= 5
    config = write_config(tmp_path, replay, slack, mode.store)
    log = tmp_path / "monitor.log"
    process = start(config, slack, log, mode.command)
    try:
        wait_for(lambda: len(slack.keys()) >= 2, 90, "the first stream alerts")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        before = set(stored(mode.store))
        assert before < expected, "the kill should land mid-stream"
        # the stream is taken over (a worker's job once the dead worker is stalled: 22 s)
        process = start(config, slack, log, mode.restart)
        wait_for(lambda: expected <= set(stored(mode.store)), 120, "every matched post")
        wait_for(lambda: stored(mode.store)[ASKED][0] == "answered", 30, "the brand's answer")
        wait_for(lambda: len(slack.keys()) >= len(expected), 60, "every alert")
        time.sleep(3)  # a few more batches and deliveries: nothing more may arrive
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=60)
    found = stored(mode.store)
    assert set(found) == expected  # nothing lost, nothing that does not match
    assert found[ASKED] == ("answered", 90.0)
    doubled = {key: n for key, n in Counter(slack.keys()).items() if n > 1}
    assert doubled == {}
    assert len(slack.keys()) == len(expected)
    resumed = [r for r in replay.requests if "cursor=" in r]
    assert resumed, "the restart resumed from the stored cursor"
    assert returncode == 0, log.read_text(errors="replace")[-3000:]
