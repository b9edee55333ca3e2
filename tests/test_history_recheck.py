"""`monitor recheck`: backfilled Bluesky history gets its TTFR from a walk of recorded threads.

A real HTTP server on 127.0.0.1 plays the Bluesky AppView with two recorded getPostThread
answers (tests/fixtures/bluesky/SOURCES.md): alice's post of 2023-04-21 with its replies, and
skeet.computer's "hellthread" post of 2023-04-29 with its 53-post parent chain and 4 replies.
`monitor backfill` stores the 56 posts (alice's, bcgraham's reply to it, skeet's and the chain)
as mentions from a searchPosts page of their recorded post views; every one is years older
than `recheck_max_age`, so the scheduled re-check never looks at them. The brand is
nvpkp.bsky.social and xowap.bsky.social (they answer alice and skeet in the recordings) with
tautologer.com as its bot (it answers bcgraham: no TTFR).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

from monitor.cli import cli
from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import LocalServer, Reply, Request, local_server

THREAD = json.loads(
    fixture_bytes("bluesky", "getPostThread_replies_with_blockedPost_notFoundPost_2023.json")
)
HELLTHREAD = json.loads(
    fixture_bytes("bluesky", "getPostThread_hellthread_deep_parent_chain_2023.json")
)
ALICE = "at://did:plc:by3jhwdqgbtrcc7q4tkkv3cf/app.bsky.feed.post/3jtvi2jrijx2y"
SKEET = HELLTHREAD["thread"]["post"]["uri"]
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
THREAD_PATH = "/xrpc/app.bsky.feed.getPostThread"
BSKY_TOKEN = {"token_env": "BSKY_TEST_TOKEN"}


def _chain() -> list[dict[str, Any]]:
    """The hellthread's parent chain, newest first: each node's post answers the next one."""
    nodes, node = [], HELLTHREAD["thread"].get("parent")
    while isinstance(node, dict) and "post" in node:
        nodes.append(node)
        node = node.get("parent")
    return nodes


def threads() -> dict[str, dict[str, Any]]:
    """getPostThread answer per post uri, each built of recorded thread nodes only.

    alice and skeet: the recordings as they are. bcgraham: its node in alice's recording.
    A chain post: its recorded node, with the chain post (or skeet's) that answers it as its
    reply, the tree the AppView gives with parentHeight=0."""
    answers = {ALICE: THREAD, SKEET: HELLTHREAD}
    bcgraham = next(n for n in THREAD["thread"]["replies"] if "bcgraham" in json.dumps(n))
    answers[bcgraham["post"]["uri"]] = {"thread": bcgraham}
    child: dict[str, Any] = {k: v for k, v in HELLTHREAD["thread"].items() if k != "parent"}
    for node in _chain():
        own = {k: v for k, v in node.items() if k != "parent"}
        answers[node["post"]["uri"]] = {"thread": {**own, "replies": [child]}}
        child = {**own, "replies": []}
    return answers


THREADS = threads()
MENTIONS = len(THREADS)  # 56: alice, bcgraham, skeet, 53 chain posts


class Bluesky:
    """searchPosts serves the 56 post views; getPostThread the recorded trees by uri."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.limited: dict[str, Reply] = {}  # uri -> one 429 before its thread is served
        posts = [t["thread"]["post"] for t in THREADS.values()]
        server.route(SEARCH, Reply.json({"posts": posts}))
        server.route(THREAD_PATH, self._thread)

    def _thread(self, request: Request) -> Reply:
        uri = request.query["uri"][0]
        if uri in self.limited:
            return self.limited.pop(uri)
        return Reply.json(THREADS[uri]) if uri in THREADS else Reply(400, b"NotFound")

    def walked(self) -> list[str]:
        return [r.query["uri"][0] for r in self.server.requests if r.path == THREAD_PATH]


@pytest.fixture
def bluesky() -> Iterator[Bluesky]:
    with local_server() as server:
        yield Bluesky(server)


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path / "monitor.db"}"

[brand]
name = "Acme"
identities = [
  {{ platform = "bluesky", handle = "nvpkp.bsky.social" }},
  {{ platform = "bluesky", handle = "xowap.bsky.social" }},
  {{ platform = "bluesky", id = "did:plc:kef63ihhci7f5xhriu4asjhb", bot = true }},
]

[business_hours]
timezone = "UTC"
[business_hours.weekly]
mon = "09:00-17:00"
tue = "09:00-17:00"
wed = "09:00-17:00"
thu = "09:00-17:00"
fri = "09:00-17:00"

[reports]
timezone = "UTC"

[[feeds]]
name = "acme-bsky"
type = "bluesky"
query = "acme"
token_env = "BSKY_TEST_TOKEN"
base_url = "{url}"
backfill = "36500d"
""",
        encoding="utf-8",
    )
    return path


def monitor(config: Path, *args: str) -> Result:
    # CliRunner's output is not a terminal: the command prints plain lines, no bar
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def rows(tmp_path: Path) -> dict[str, tuple[str, float | None, float | None]]:
    with sqlite3.connect(tmp_path / "monitor.db") as db:
        found = db.execute(
            "SELECT external_id, status, ttfr_seconds, ttfr_business_seconds FROM mention"
        )
        return {uri: (status, ttfr, business) for uri, status, ttfr, business in found}


@pytest.fixture
def history(tmp_path: Path, bluesky: Bluesky, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The config, after `monitor backfill` stored the 56 mentions, all open."""
    monkeypatch.setenv("BSKY_TEST_TOKEN", "env-token")
    config = write_config(tmp_path, bluesky.server.url)
    result = monitor(config, "backfill", "acme-bsky")
    assert result.exit_code == 0, result.output
    stored = rows(tmp_path)
    assert len(stored) == MENTIONS
    assert {status for status, _, _ in stored.values()} == {"open"}
    return config


def test_backfill_hint_names_the_oldest_backfilled_day(
    tmp_path: Path, bluesky: Bluesky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BSKY_TEST_TOKEN", "env-token")
    config = write_config(tmp_path, bluesky.server.url)
    result = monitor(config, "backfill", "acme-bsky")
    assert result.exit_code == 0, result.output
    # alice's post, 2023-04-21T16:54:00.468Z, is the oldest of the 56
    assert "monitor recheck acme-bsky --since 2023-04-21" in result.output


def test_recheck_gives_history_its_ttfr(tmp_path: Path, history: Path, bluesky: Bluesky) -> None:
    result = monitor(history, "recheck", "acme-bsky", "--since", "2023-04-01", "--pace", "0")
    assert result.exit_code == 0, result.output

    stored = rows(tmp_path)
    # alice 16:54:00.468 -> nvpkp 17:16:55.017 on Friday 2023-04-21: 1374.549 s, of which
    # 16:54:00.468 -> 17:00 is open (Mon-Fri 09-17 UTC): 359.532 s
    assert stored[ALICE][0] == "answered"
    assert stored[ALICE][1] == 1374.549
    assert stored[ALICE][2] == pytest.approx(359.532, abs=1e-6)
    # skeet Sat 2023-04-29 15:25:02.510 -> xowap Sun 04-30 21:19:56.103: 86400 + 21293.593 s;
    # no opening time between them, so the business TTFR is the calendar one
    # (monitor/alerting/sla.py)
    assert stored[SKEET][0] == "answered"
    assert stored[SKEET][1] == 107693.593
    assert stored[SKEET][2] == 107693.593
    # bcgraham was answered by the brand's bot only; the chain by nobody of the brand
    answered = {uri for uri, (status, _, _) in stored.items() if status == "answered"}
    assert answered == {ALICE, SKEET}
    # every one of the 56 walked once, in batches of max_rechecks (20), newest first
    walked = bluesky.walked()
    assert sorted(walked) == sorted(THREADS)
    assert walked[-1] == ALICE
    lines = result.output.splitlines()
    assert "acme-bsky: 56 unanswered mention(s) to check" in lines
    # skeet, the newest, is in batch 1; alice, the oldest, in the last
    assert lines[1:4] == [
        "acme-bsky: 20/56 checked, 1 answered",
        "acme-bsky: 40/56 checked, 1 answered",
        "acme-bsky: 56/56 checked, 2 answered",
    ]
    assert lines[-1] == (
        "acme-bsky: checked 56 of 56 unanswered mention(s), 2 newly answered; "
        "reply rate 0.0% -> 3.6%"
    )
    assert "\r" not in result.output and "\x1b" not in result.output  # no bar off a terminal


def test_a_second_run_walks_only_what_is_still_unanswered(history: Path, bluesky: Bluesky) -> None:
    assert monitor(history, "recheck", "acme-bsky", "--since", "2023-04-01", "--pace", "0")
    first = len(bluesky.walked())
    result = monitor(history, "recheck", "acme-bsky", "--since", "2023-04-01", "--pace", "0")
    assert result.exit_code == 0, result.output
    again = bluesky.walked()[first:]
    assert len(again) == MENTIONS - 2 and ALICE not in again and SKEET not in again


def test_a_short_rate_limit_mid_batch_is_waited_out_and_the_batch_walked_again(
    tmp_path: Path, history: Path, bluesky: Bluesky
) -> None:
    # A chain post in the last batch (chain[39:], bcgraham, alice) answers 429 with
    # Retry-After: 1. The connector ends that walk and returns what it found; the
    # command waits the second and walks the batch again, so alice is still answered.
    chain = _chain()
    bluesky.limited[chain[-3]["post"]["uri"]] = Reply.json(
        {"error": "RateLimitExceeded"}, status=429, **{"Retry-After": "1"}
    )
    result = monitor(history, "recheck", "acme-bsky", "--since", "2023-04-01", "--pace", "0")
    assert result.exit_code == 0, result.output
    assert "acme-bsky: rate limited (429) in the middle of a batch; waiting 1s" in result.output
    assert rows(tmp_path)[ALICE][1] == 1374.549
    assert result.output.splitlines()[-1].startswith(
        "acme-bsky: checked 56 of 56 unanswered mention(s), 2 newly answered"
    )
    assert set(bluesky.walked()) == set(THREADS)


def test_a_long_rate_limit_stops_with_exit_1_and_the_printed_command_continues(
    tmp_path: Path, history: Path, bluesky: Bluesky
) -> None:
    # The first thread of batch 2 answers 429 for an hour: longer than --max-wait, so the
    # walk stops and says how to go on. Newest first, batch 1 is skeet and chain[0:19].
    first_of_batch_2 = _chain()[19]["post"]["uri"]
    bluesky.limited[first_of_batch_2] = Reply.json(
        {"error": "RateLimitExceeded"}, status=429, **{"Retry-After": "3600"}
    )
    result = monitor(history, "recheck", "acme-bsky", "--since", "2023-04-01", "--pace", "0")
    assert result.exit_code == 1, result.output
    assert "acme-bsky: stopped: rate limited (429)" in result.output
    assert "the platform allows more after" in result.output
    hint = next(line for line in result.output.splitlines() if "to continue:" in line)
    assert rows(tmp_path)[SKEET][0] == "answered"  # batch 1 was stored before the stop
    assert rows(tmp_path)[ALICE][0] == "open"

    walked_before = len(bluesky.walked())
    args = hint.split("to continue: monitor ", 1)[1].split()
    result = monitor(history, *args, "--pace", "0")
    assert result.exit_code == 0, result.output
    assert rows(tmp_path)[ALICE][1] == 1374.549
    # the rerun starts where the batch before the error started (a connector may have paused
    # inside it): batch 1's 19 unanswered mentions and the 36 older ones; skeet is answered
    again = bluesky.walked()[walked_before:]
    assert again[0] == _chain()[0]["post"]["uri"] and SKEET not in again
    assert len(again) == MENTIONS - 1


def test_a_feed_that_sees_replies_in_its_poll_has_nothing_to_recheck(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path / "monitor.db"}"

[[feeds]]
name = "blog"
type = "rss"
url = "http://127.0.0.1:9/feed.xml"
""",
        encoding="utf-8",
    )
    result = monitor(config, "recheck", "blog")
    assert result.exit_code == 2
    assert "blog's platform sees replies in its normal poll; nothing to recheck" in result.output
    assert monitor(config, "recheck", "nope").exit_code == 2
    assert monitor(config, "recheck", "blog", "--since", "yesterday").exit_code == 2


def test_a_feed_with_its_rechecks_turned_off_is_bad_usage(tmp_path: Path) -> None:
    # with max_rechecks = 0 the connector walks nothing: a walk would report all checked
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path / "monitor.db"}"

[[feeds]]
name = "acme-gh"
type = "github"
query = "acme"
max_rechecks = 0
""",
        encoding="utf-8",
    )
    result = monitor(config, "recheck", "acme-gh")
    assert result.exit_code == 2, result.output
    assert "acme-gh: max_rechecks = 0 turns its re-checks off" in result.output


def test_an_expired_mention_answered_late_gets_its_ttfr(tmp_path: Path, history: Path) -> None:
    # `monitor run`'s sweep expires open mentions older than sla.expire_after (30 days), so
    # a month of history is mostly expired by the time anyone re-checks it
    with sqlite3.connect(tmp_path / "monitor.db") as db:
        db.execute("UPDATE mention SET status = 'expired' WHERE external_id = ?", (ALICE,))
    result = monitor(history, "recheck", "acme-bsky", "--since", "2023-04-01", "--pace", "0")
    assert result.exit_code == 0, result.output
    assert rows(tmp_path)[ALICE][:2] == ("answered", 1374.549)


def answered_updates(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "monitor.db") as db:
        query = "SELECT count(*) FROM alert WHERE kind = 'answered_update'"
        return int(db.execute(query).fetchone()[0])


@pytest.mark.parametrize(("max_age", "updates"), [("1d", 0), ("5000d", 2)])
def test_history_older_than_alerts_max_age_queues_no_slack_update(
    tmp_path: Path,
    bluesky: Bluesky,
    monkeypatch: pytest.MonkeyPatch,
    max_age: str,
    updates: int,
) -> None:
    # Every mention got an alert when it was stored (as a monitor running since 2023 would
    # have sent). Answers found in a month of history would thread one Slack reply under
    # each: only mentions younger than [alerts] max_age get theirs.
    monkeypatch.setenv("BSKY_TEST_TOKEN", "env-token")
    config = write_config(tmp_path, bluesky.server.url)
    text = config.read_text(encoding="utf-8")
    config.write_text(text + '\n[alerts]\non = ["all"]\nmax_age = "5000d"\n', encoding="utf-8")
    assert monitor(config, "backfill", "acme-bsky").exit_code == 0
    config.write_text(text + f'\n[alerts]\non = ["all"]\nmax_age = "{max_age}"\n', "utf-8")
    result = monitor(config, "recheck", "acme-bsky", "--since", "2023-04-01", "--pace", "0")
    assert result.exit_code == 0, result.output
    assert rows(tmp_path)[ALICE][0] == "answered"
    assert answered_updates(tmp_path) == updates


def test_calls_are_paced_by_the_mentions_they_walk(
    tmp_path: Path, history: Path, bluesky: Bluesky
) -> None:
    """--pace 0.5: a batch of 20 is followed by 10 s before the next call; none after the last."""
    from connectors.http import make_client
    from monitor.config import load_config
    from monitor.ingest.pipeline import Pipeline
    from monitor.ingest.recheck import HistoryRecheck
    from monitor.store.db import open_store

    config = load_config(str(history))
    engine = open_store(config.storage.resolved_url())
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        clock[0] += seconds

    with make_client(timeout=10) as client:
        walk = HistoryRecheck(
            Pipeline(config, engine, client),
            config.feed("acme-bsky"),
            datetime(2023, 4, 1, tzinfo=UTC),
            datetime(2023, 5, 1, tzinfo=UTC),
            pace=0.5,
            sleep=sleep,
            monotonic=lambda: clock[0],
        )
        outcome = walk.run()
    engine.dispose()
    assert outcome.stopped is None
    assert outcome.progress.checked == MENTIONS
    assert slept == [0.0, 10.0, 10.0]  # before batches 1, 2 and 3 (of 20, 20 and 16)


def test_batches_cover_every_unanswered_mention_once_with_equal_times(engine: Engine) -> None:
    """SQLite and PostgreSQL: newest first, ties on created_at split by id, range inclusive,
    answered, handled and other feeds' mentions left out."""
    from monitor.config import parse_config
    from monitor.ingest.pipeline import Pipeline
    from monitor.store.db import session
    from monitor.store.models import Mention

    config = parse_config(
        {"feeds": [{"name": "acme-bsky", "type": "bluesky", "query": "acme", **BSKY_TOKEN}]}
    )
    day = datetime(2023, 4, 21, tzinfo=UTC)
    statuses = ["open", "expired", "answered", "handled", "open", "open", "expired"]
    with session(engine) as s:
        for n, status in enumerate(statuses):
            for feed in ("acme-bsky", "other"):
                s.add(
                    Mention(
                        platform="bluesky",
                        feed=feed,
                        external_id=f"{feed}-{n}",
                        created_at=day + timedelta(hours=n // 3),  # three per hour: ties
                        fetched_at=day,
                        status=status,
                    )
                )
        s.commit()
    pipeline = Pipeline(config, engine, httpx.Client())
    seen: list[str] = []
    place: tuple[datetime, int] | None = None
    while batch := pipeline.recheck_candidates(
        "acme-bsky", since=day, until=day + timedelta(hours=2), limit=2, before=place
    ):
        seen += [m.external_id for m in batch]
        last = batch[-1]
        assert last.id is not None  # read back from the database, so it has one
        place = (last.created_at, last.id)
    # hours 2, 1, 0; within an hour the higher id first; 2 (answered), 3 (handled) left out
    assert seen == ["acme-bsky-6", "acme-bsky-5", "acme-bsky-4", "acme-bsky-1", "acme-bsky-0"]


def test_a_thread_that_keeps_failing_stops_the_walk_after_three_tries(
    tmp_path: Path, history: Path, bluesky: Bluesky
) -> None:
    broken = _chain()[19]["post"]["uri"]  # the first of batch 2
    server_error = Reply.json({"error": "InternalServerError"}, status=503, **{"Retry-After": "0"})
    bluesky.server.route(
        THREAD_PATH,
        lambda r: server_error if r.query["uri"][0] == broken else bluesky._thread(r),
    )
    result = monitor(history, "recheck", "acme-bsky", "--since", "2023-04-01", "--pace", "0")
    assert result.exit_code == 1, result.output
    assert "acme-bsky: stopped: the platform failed (503) (3 tries)" in result.output
    # a failure is not a rate limit: batch 1 is not walked again, only batch 2 is tried
    assert bluesky.walked().count(broken) == 3 and len(bluesky.walked()) == 20 + 3
    assert rows(tmp_path)[SKEET][0] == "answered"


@pytest.mark.parametrize(
    ("status", "headers", "cut", "wait"),
    [
        (200, {"X-RateLimit-Remaining": "299"}, False, None),
        (200, {"X-RateLimit-Remaining": "1"}, True, None),  # Mastodon ends its walk here
        (200, {"X-RateLimit-Remaining": "0.0"}, True, None),  # Reddit's form
        (200, {"X-RateLimit-Remaining": "soon"}, False, None),
        (404, {}, False, None),  # a deleted post: skipped by the connector, not a cut
        (429, {"Retry-After": "7"}, True, 7.0),
        (503, {}, True, None),
    ],
)
def test_answer_watch_names_the_answers_after_which_a_walk_may_have_ended_early(
    status: int, headers: dict[str, str], cut: bool, wait: float | None
) -> None:
    from monitor.ingest.recheck import AnswerWatch

    watch = AnswerWatch()
    watch(httpx.Response(200))
    watch(httpx.Response(status, headers=headers))
    failure = watch.cut_short()
    assert (failure is not None) == cut
    if failure is not None:
        assert failure.wait == wait
        assert failure.rate_limited == (status != 503)


def test_a_rate_limit_at_every_second_batch_ends_the_walk_instead_of_looping(
    history: Path, bluesky: Bluesky
) -> None:
    """A platform that pauses inside every walk (Stack Exchange's `backoff`) raises at the
    start of the next call; the walk steps back to the batch before, which then goes through.
    That success must not clear the count, or the two batches alternate for ever."""
    from connectors.errors import RateLimited
    from connectors.http import make_client
    from monitor.config import load_config
    from monitor.ingest.pipeline import Pipeline
    from monitor.ingest.recheck import MAX_WAITS, HistoryRecheck
    from monitor.store.db import open_store

    config = load_config(str(history))
    engine = open_store(config.storage.resolved_url())
    calls: list[str] = []
    with make_client(timeout=10) as client:
        pipeline = Pipeline(config, engine, client)
        walk_batch = pipeline.recheck_mentions

        def recheck_mentions(feed: Any, batch: Any, now: Any, **kwargs: Any) -> Any:
            calls.append(batch[0].external_id)
            assert len(calls) < 50, "the walk went back and forth without end"
            if len(calls) % 2 == 0:  # every call after one that went through is refused
                raise RateLimited("paused by the platform", retry_after=0)
            return walk_batch(feed, batch, now, **kwargs)

        pipeline.recheck_mentions = recheck_mentions  # type: ignore[method-assign,assignment]
        walk = HistoryRecheck(
            pipeline,
            config.feed("acme-bsky"),
            datetime(2023, 4, 1, tzinfo=UTC),
            datetime(2023, 5, 1, tzinfo=UTC),
            pace=0,
            sleep=lambda _seconds: None,
        )
        outcome = walk.run()
    engine.dispose()
    assert outcome.stopped is not None and "paused by the platform" in outcome.stopped
    assert len(calls) <= 2 * (MAX_WAITS + 1)
