"""Exactly once through crashes and a flapping Slack: SIGKILL at random moments, then count."""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from tests.support.fake_slack import fake_slack
from tests.support.http_server import DROP, Reply
from tests.test_end_to_end import wait_for

pytestmark = pytest.mark.e2e
FEEDS = ("alpha", "beta", "gamma")
PER_CYCLE = 4  # new mentions per feed per cycle
CYCLES = 5


def append_mentions(folder: Path, cycle: int) -> None:
    now = datetime.now(UTC)
    for feed in FEEDS:
        with (folder / f"{feed}.jsonl").open("a", encoding="utf-8") as out:
            for n in range(PER_CYCLE):
                created = (now - timedelta(minutes=5)).isoformat()
                line = {
                    "id": f"{feed}-{cycle}-{n}",
                    "created_at": created,
                    "text": f"Cycle {cycle}: the service is down again, number {n}",
                }
                out.write(json.dumps(line) + "\n")


def test_sigkill_at_random_moments_while_slack_flaps_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261123)
    with fake_slack() as slack:
        original = slack.server.routes["/api/chat.postMessage"]
        flapping = threading.Event()
        flapping.set()

        def flaky(request):  # type: ignore[no-untyped-def]
            if flapping.is_set():
                roll = rng.random()
                if roll < 0.10:
                    return Reply(500, b"oops")
                if roll < 0.18:
                    return Reply.json(
                        {"ok": False, "error": "ratelimited"}, 429, **{"Retry-After": "1"}
                    )
                if roll < 0.24:
                    return Reply(DROP)
                if roll < 0.30:
                    return Reply.json({"ok": False, "error": "ratelimited"})
                if roll < 0.40:
                    # slow to answer; the message is recorded on arrival, so the pace
                    # measured below is the sender's, not this delay's
                    reply = original(request)
                    time.sleep(0.5)
                    return reply
            return original(request)

        slack.server.route("/api/chat.postMessage", flaky)
        config = tmp_path / "config.toml"
        config.write_text(
            f'[storage]\nurl = "sqlite:///{tmp_path / "m.db"}"\n'
            f'[slack]\napi_url = "{slack.api_url}"\n'
            '[alerts]\non = ["all"]\ndispatch_interval = "1s"\n[scheduler]\njitter = 0\n'
            + "".join(
                f'[[feeds]]\nname = "{f}"\ntype = "jsonl"\npath = "{f}.jsonl"\n'
                f'channel = "#{f}"\ninterval = "30s"\n'
                for f in FEEDS
            ),
            encoding="utf-8",
        )
        for feed in FEEDS:
            (tmp_path / f"{feed}.jsonl").write_text("")
        env = {**os.environ, "SLACK_BOT_TOKEN": slack.token}
        log = tmp_path / "run.log"

        def start() -> subprocess.Popen[bytes]:
            with log.open("ab") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", "monitor", "--config", str(config), "run"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )

        kills = 0
        for cycle in range(CYCLES):
            append_mentions(tmp_path, cycle)
            process = start()
            time.sleep(rng.uniform(1.5, 5.0))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            kills += 1
        flapping.clear()  # Slack recovers; one last clean run delivers the rest
        expected = {f"{f}-{c}-{n}" for f in FEEDS for c in range(CYCLES) for n in range(PER_CYCLE)}
        process = start()
        try:
            wait_for(lambda: len(set(slack.keys())) >= len(expected), 240, "every alert")
            time.sleep(3)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        keys = slack.keys()
        counts = Counter(keys)
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        delivered = len(counts)
        print(
            f"\ncrash loop: {kills} SIGKILLs, expected {len(expected)}, delivered {delivered}, "
            f"duplicates {duplicates}, lost {len(expected) - delivered}"
        )
        assert duplicates == 0, counts.most_common(3)
        assert delivered == len(expected)
        # in order per channel, and never faster than one message a second per channel
        for feed in FEEDS:
            posts = [m for m in slack.messages if m.channel == f"#{feed}"]
            order = [
                int(str(m.metadata["event_payload"]["alert_key"]).split(":")[1]) for m in posts
            ]
            assert order == sorted(order), f"#{feed} out of order: {order}"
            # Arrivals are stamped by the fake server's handler thread: on a loaded machine one
            # stamped late shortens the next gap by as much, so single gaps carry the noise
            # and the typical gap carries the pace. A sender without a pacer would post a
            # cycle's messages milliseconds apart.
            gaps = [b.at - a.at for a, b in pairwise(posts)]
            assert statistics.median(gaps) >= 0.95, gaps
            assert min(gaps) >= 0.5, gaps
