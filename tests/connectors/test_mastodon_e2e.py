"""The mastodon connector through a real socket: a local server answers with recorded payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from connectors import BrandIdentity, FeedCursor, MentionRecord
from connectors.http import make_client
from connectors.sources.mastodon import MastodonConnector, MastodonOptions
from tests.connectors.conformance import fixture_bytes
from tests.connectors.recorded import recorded_reply
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply

NOW = datetime(2026, 8, 2, 12, 0, tzinfo=UTC)


def test_poll_and_recheck_over_a_real_socket(server: LocalServer) -> None:
    server.route(
        "/api/v1/timelines/tag/hoot", recorded_reply("mastodon", "timeline_tag_hoot_local_instance")
    )
    server.route(
        "/api/v1/statuses/110446983926957470/context",
        Reply(
            200,
            fixture_bytes("mastodon", "context_110446983926957470_mastodon_social_2023.json"),
        ),
    )
    connector = MastodonConnector(
        MastodonOptions(tag="hoot"),
        feed_name="acme-mastodon",
        identities=[BrandIdentity("mastodon", handle="halcy")],
        base_url=server.url,
    )
    with make_client() as client:
        first = connector.poll(client, FeedCursor(), NOW)
        second = connector.poll(client, first.state, NOW)
        replies = connector.recheck(
            client,
            [MentionRecord("mastodon", "110446983926957470", NOW, "open mention")],
            NOW,
        )

    assert [m.external_id for m in first.mentions] == ["117020593741189701"]
    assert first.state.cursor == "117020593741189701"
    # the second poll asks for what is newer than the cursor and repeats nothing
    assert server.requests[1].query["min_id"] == ["117020593741189701"]
    assert server.requests[1].headers["if-none-match"] == 'W/"1959be2cab840530950fde53c158e465"'
    assert second.mentions == []
    assert [(r.external_id, r.in_reply_to) for r in replies] == [
        ("110446984249325790", "110446983926957470")
    ]


def test_cli_dry_run_lists_the_mention_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    server.route(
        "/api/v1/timelines/tag/hoot", recorded_reply("mastodon", "timeline_tag_hoot_local_instance")
    )
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "mastodon", "handle": "acme_support", "bot": False},
        feed={
            "name": "acme-mastodon",
            "type": "mastodon",
            "interval": "5m",
            "base_url": server.url,
            "tag": "hoot",
            "backfill": "3650d",
        },
    )
    assert done.returncode == 0, done.stderr
    assert "mastodon:117020593741189701" in done.stdout
    assert "mastodonpy_test_2" in done.stdout
    assert not database.exists()
