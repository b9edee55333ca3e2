"""The discourse connector through a real socket: a local server answers with recorded payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from connectors import BrandIdentity, FeedCursor, MentionRecord
from connectors.http import make_client
from connectors.sources.discourse import DiscourseConnector, DiscourseOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply, Request

LATEST = fixture_bytes("discourse", "posts_latest_2018_topic8_user_posts_then_system_staff.json")
TOPIC_57 = fixture_bytes(
    "discourse", "topic_57_try_discourse_2013_reply_to_post_1_PARTLY_EDITED.json"
)
NOW = datetime(2018, 5, 25, tzinfo=UTC)


def _latest(request: Request) -> Reply:
    if "before" in request.query:
        return Reply.json({"latest_posts": []})  # older pages were not recorded
    return Reply(200, LATEST, {"Content-Type": "application/json; charset=utf-8"})


def _serve(server: LocalServer) -> None:
    server.route("/posts.json", _latest)
    server.route("/t/57.json", Reply(200, TOPIC_57, {"Content-Type": "application/json"}))


def test_poll_and_recheck_over_a_real_socket(server: LocalServer) -> None:
    _serve(server)
    latest = DiscourseConnector(
        DiscourseOptions(latest=True),
        feed_name="acme-forum",
        identities=[BrandIdentity("discourse", handle="splattne")],
        base_url=server.url,
    )
    search = DiscourseConnector(
        DiscourseOptions(query="sandbox"),
        feed_name="acme-forum-search",
        identities=[BrandIdentity("discourse", handle="splattne")],
        base_url=server.url,
    )
    with make_client() as client:
        first = latest.poll(client, FeedCursor(), NOW)
        second = latest.poll(client, first.state, NOW)
        replies = search.recheck(
            client,
            [MentionRecord("discourse", "t/57/1", NOW, "open question")],
            NOW,
        )

    assert first.mentions[-1].external_id == "t/8/17"
    assert first.state.cursor == "29"
    # the second poll finds nothing above id 29 on the first page and stops there
    assert [m.external_id for m in second.mentions] == []
    assert [r.path for r in server.requests] == ["/posts.json", "/posts.json", "/t/57.json"]
    assert [(r.external_id, r.in_reply_to) for r in replies] == [("t/57/14", "t/57/1")]


def test_cli_dry_run_lists_the_mention_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    _serve(server)
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "discourse", "handle": "acme_support", "bot": False},
        feed={
            "name": "acme-forum",
            "type": "discourse",
            "interval": "5m",
            "base_url": server.url,
            "latest": True,
            "backfill": "3650d",
        },
    )
    assert done.returncode == 0, done.stderr
    assert "discourse:t/8/17" in done.stdout
    assert "ukilfqevjozbcgxrhnp" in done.stdout
    assert not database.exists()
