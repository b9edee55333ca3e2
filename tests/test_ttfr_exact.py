"""A TTFR from a thread not read in full is never silently wrong: read to the end, or say so.

The recorded long YouTube thread Ugw5zYU6n9pmIgAZWvN4AaABAg (tests/fixtures/youtube): kun liu's
comment at 2019-12-01T03:36:10Z and three replies by kun liu on two comments.list pages,
newest first: 04:46:31 and 04:46:20 on page 1, 04:46:00 on page 2. With kun liu as the brand
the first reply is at 04:46:00, TTFR 1 h 9 min 50 s = 4190 s; reading page 1 alone gives
04:46:20 = 4210 s. Everything runs through a real HTTP server on 127.0.0.1, the real
connector and pipeline, and a real SQLite file.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from connectors.http import make_client
from monitor.alerting.messages import mention_message, thread_message
from monitor.config import Config, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.reports.query import Window, build_report
from monitor.reports.render_csv_json import render_csv, render_json
from monitor.reports.render_html import render_html
from monitor.reports.render_text import render_text
from monitor.store.db import session
from monitor.store.models import Alert, BrandReplyRow, Mention
from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import LocalServer, Reply, Request, local_server

THREAD = "Ugw5zYU6n9pmIgAZWvN4AaABAg"
KUN_LIU = "UCNvMBmCASzTNNX8lW3JRMbw"
CHANNEL_ID = "UCa-vrCLQHviTOVnEKDOdetQ"
CREATED = datetime(2019, 12, 1, 3, 36, 10, tzinfo=UTC)
FIRST_REPLY = datetime(2019, 12, 1, 4, 46, 0, tzinfo=UTC)  # on page 2
FIRST_ON_PAGE_1 = datetime(2019, 12, 1, 4, 46, 20, tzinfo=UTC)
NOW = datetime(2019, 12, 1, 6, 0, tzinfo=UTC)
JSON = {"Content-Type": "application/json; charset=UTF-8"}


def _thread_by_id() -> bytes:
    """commentThreads?id= for the thread now: the recorded listing item (recorded before the
    replies, totalReplyCount 0) counting its three replies, still without a `replies` part,
    as tests/connectors/test_youtube.py serves it."""
    listing = json.loads(
        fixture_bytes("youtube", "commentThreads_allThreadsRelatedToChannelId_2019.json")
    )
    item = copy.deepcopy(next(i for i in listing["items"] if i["id"] == THREAD))
    item["snippet"]["totalReplyCount"] = 3
    return json.dumps({**listing, "items": [item]}).encode()


def _youtube(server: LocalServer) -> None:
    listing = fixture_bytes("youtube", "commentThreads_allThreadsRelatedToChannelId_2019.json")
    by_id = _thread_by_id()
    pages = {
        None: fixture_bytes("youtube", "comments_parentId_Ugw5z_page1_2019.json"),
        "page2": fixture_bytes("youtube", "comments_parentId_Ugw5z_page2_2019.json"),
    }

    def threads(request: Request) -> Reply:
        if "id" not in request.query:
            return Reply(200, listing, JSON)
        # ?id= answers the threads asked for, as YouTube does: the long thread counting its
        # replies, the others as recorded
        asked = set(request.query["id"][0].split(","))
        recorded = json.loads(listing)
        items = [json.loads(by_id)["items"][0]] if THREAD in asked else []
        items += [i for i in recorded["items"] if i["id"] in asked and i["id"] != THREAD]
        return Reply(200, json.dumps({**recorded, "items": items}).encode(), JSON)

    def comments(request: Request) -> Reply:
        if request.query["parentId"] != [THREAD]:  # no recording of other threads' replies
            empty = {**json.loads(pages[None]), "items": []}
            empty.pop("nextPageToken", None)
            return Reply(200, json.dumps(empty).encode(), JSON)
        token = request.query.get("pageToken")
        return Reply(200, pages[None if token is None else "page2"], JSON)

    server.route("/commentThreads", threads)
    server.route("/comments", comments)


def _config(server: LocalServer, brand: bool, **options: Any) -> Config:
    """kun liu wrote the comment and the replies: the comment is stored as a mention by a
    poll before kun liu's channel is the brand (a brand adding its channel later); the
    re-checks then run with it."""
    identities = [{"platform": "youtube", "handle": "kun liu", "id": KUN_LIU}] if brand else []
    return parse_config(
        {
            "brand": {"name": "Acme", "identities": identities},
            "business_hours": {"timezone": "UTC", "weekly": {"sun": "00:00-24:00"}},
            "feeds": [
                {
                    "name": "yt",
                    "type": "youtube",
                    "base_url": server.url,
                    "channel_id": CHANNEL_ID,
                    **options,
                }
            ],
        }
    )


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    monkeypatch.setenv("YOUTUBE_API_KEY", "AIza-test")
    with local_server() as running:
        _youtube(running)
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client() as made:
        yield made


def _stored(engine: Engine) -> Mention:
    with session(engine) as s:
        found = s.exec(select(Mention).where(Mention.external_id == THREAD)).one()
        s.expunge(found)
        return found


def _poll_then_recheck(
    server: LocalServer, engine: Engine, client: httpx.Client, **options: Any
) -> Pipeline:
    report = Pipeline(_config(server, brand=False), engine, client).poll("yt", now=NOW)
    assert report.ok, report.error
    pipeline = Pipeline(_config(server, brand=True, **options), engine, client)
    recheck = pipeline.recheck("yt", now=NOW)
    assert recheck is not None and recheck.ok, recheck
    return pipeline


def test_the_earliest_reply_on_a_later_page_gives_the_true_ttfr(
    server: LocalServer, sqlite_engine: Engine, client: httpx.Client
) -> None:
    """A feed polling one page at a time (max_pages = 1) still reads every reply page: the
    re-check's walk has its own bound. Before, it stopped at max_pages and stored 4210 s."""
    _poll_then_recheck(server, sqlite_engine, client, max_pages=1)
    mention = _stored(sqlite_engine)
    assert mention.created_at == CREATED
    assert mention.first_response_at == FIRST_REPLY
    assert mention.ttfr_seconds == 4190
    assert mention.ttfr_business_seconds == 4190  # Sunday 1 December is open all day here
    assert mention.ttfr_exact is True
    pages = [
        r.query.get("pageToken")
        for r in server.requests
        if r.path == "/comments" and r.query["parentId"] == [THREAD]
    ]
    assert len(pages) == 2 and pages[0] is None


def test_a_walk_stopped_by_its_bound_marks_the_ttfr_not_exact_in_reports_and_slack(
    server: LocalServer, sqlite_engine: Engine, client: httpx.Client
) -> None:
    """max_reply_pages = 1 stops before page 2: 4210 s is stored, marked as an upper bound,
    and every report format and the Slack answered note say so."""
    _poll_then_recheck(server, sqlite_engine, client, max_reply_pages=1)
    mention = _stored(sqlite_engine)
    assert mention.first_response_at == FIRST_ON_PAGE_1
    assert mention.ttfr_seconds == 4210
    assert mention.ttfr_exact is False

    window = Window(CREATED.replace(hour=0), NOW, NOW, ZoneInfo("UTC"))
    report = build_report(sqlite_engine, window, "platform", charts=True)
    assert (report.total.answered, report.total.ttfr_not_exact) == (1, 1)
    text = render_text(report)
    header = next(line for line in text.splitlines() if line.startswith("platform "))
    youtube = next(line for line in text.splitlines() if line.startswith("youtube "))
    end = header.index("not exact") + len("not exact")  # numbers are right-aligned
    assert youtube[:end].split()[-1] == "1", (header, youtube)
    assert json.loads(render_json(report))["total"]["ttfr_not_exact"] == 1
    csv_lines = render_csv(report).splitlines()
    assert csv_lines[0].split(",")[-1] == "ttfr_not_exact"
    assert csv_lines[-1].split(",")[-1] == "1"
    page = render_html(report)
    assert "not exact (≤)</th>" in page  # the response-times table's column
    assert "1 answered, 1 not exact (≤)" in page  # the median tile's detail

    alert = Alert(
        key="k", kind="answered_update", channel="#c", next_attempt_at=NOW, created_at=NOW
    )
    note = thread_message(alert, mention, NOW).headline
    assert (
        note == "Answered by kun liu after ≤ 1h 10m (≤ 1h 10m business) (thread not read in full)"
    )
    first = mention_message(
        Alert(key="m", kind="mention", channel="#c", next_attempt_at=NOW, created_at=NOW),
        mention,
        NOW,
    )
    assert first.answered is not None and "after ≤ 1h 10m" in first.answered
    assert first.answered.endswith("(thread not read in full)")


def test_a_later_full_walk_corrects_an_answered_mention(
    server: LocalServer, sqlite_engine: Engine, client: httpx.Client
) -> None:
    """The mention is answered at 4210 s (not exact) by a bounded walk; the next scheduled
    re-check picks it again (answered, not exact) and, reading both pages, finds the
    04:46:00 reply: first response, both TTFRs and the SLA verdict corrected, marked exact,
    and a new answered note queued for Slack."""
    _poll_then_recheck(server, sqlite_engine, client, max_reply_pages=1)
    before = _stored(sqlite_engine)
    assert (before.status, before.ttfr_seconds, before.ttfr_exact) == ("answered", 4210, False)
    with session(sqlite_engine) as s:
        s.add(
            Alert(
                key="root",
                mention_id=before.id,
                kind="mention",
                channel="#c",
                slack_ts="1.2",
                state="sent",
                next_attempt_at=NOW,
                created_at=NOW,
            )
        )
        s.commit()

    full = Pipeline(_config(server, brand=True), sqlite_engine, client)
    report = full.recheck("yt", now=NOW)
    assert report is not None and report.ok, report

    after = _stored(sqlite_engine)
    assert after.status == "answered"
    assert after.first_response_at == FIRST_REPLY
    assert (after.ttfr_seconds, after.ttfr_business_seconds) == (4190, 4190)
    assert after.ttfr_exact is True
    with session(sqlite_engine) as s:
        keys = s.exec(select(Alert.key).where(col(Alert.kind) == "answered_update")).all()
        unseen = s.exec(
            select(BrandReplyRow.earlier_unseen).order_by(col(BrandReplyRow.created_at))
        ).all()
    stamp = int(FIRST_REPLY.timestamp())
    assert f"answered_update:{after.id}:{stamp}" in keys
    assert unseen == [False, False, False], "the full walk cleared the mark on every reply"
    # proven exact: the next sweep leaves it alone (no quota spent on it again)
    walked = len(server.requests)
    report = full.recheck("yt", now=NOW)
    assert report is not None and report.ok
    asked = [",".join(r.query.get("id", [])) for r in server.requests[walked:]]
    assert asked and not any(THREAD in ids for ids in asked), asked
