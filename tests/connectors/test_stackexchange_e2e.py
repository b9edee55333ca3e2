"""The stackexchange connector through a real socket: gzip JSON from a local server."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

from connectors import BrandIdentity, FeedCursor, MentionRecord
from connectors.http import make_client
from connectors.sources.stackexchange import StackExchangeConnector
from tests.connectors.conformance import fixture_bytes
from tests.support.dry_run import dry_run_poll
from tests.support.http_server import LocalServer, Reply, Request

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _gzip(name: str) -> Reply:
    # the API compresses every response (https://api.stackexchange.com/docs/compression)
    body = gzip.compress(fixture_bytes("stackexchange", name))
    return Reply(200, body, {"Content-Type": "application/json", "Content-Encoding": "gzip"})


def _questions(request: Request) -> Reply:
    if request.path.endswith("/answers"):
        return _gzip("question_4_answers_has_more_2014.json")
    return _gzip("question_13_comments_with_reply_to_user_2014.json")


def _serve(server: LocalServer) -> None:
    server.route("/search/advanced", _gzip("questions_tagged_openshift-enterprise_2014.json"))
    server.route("/questions/*", _questions)


def test_poll_and_recheck_over_a_real_socket(server: LocalServer) -> None:
    _serve(server)
    connector = StackExchangeConnector(
        StackExchangeConnector.Options.model_validate(
            {"site": "stackoverflow", "tagged": "openshift-enterprise", "max_pages": 1}
        ),
        feed_name="acme-so",
        identities=[BrandIdentity("stackexchange", handle="Dinah", account_id="356")],
        base_url=server.url,
    )
    question_4 = MentionRecord(
        "stackexchange", "stackoverflow:q:4", NOW, "", url="https://stackoverflow.com/q/4"
    )
    with make_client() as client:
        result = connector.poll(client, FeedCursor(), NOW)
        replies = connector.recheck(client, [question_4], NOW)

    search = server.requests[0]
    assert search.path == "/search/advanced"
    assert search.query["tagged"] == ["openshift-enterprise"]
    assert search.query["order"] == ["asc"] and search.query["filter"] == ["withbody"]
    assert "gzip" in search.headers["accept-encoding"]
    assert len(result.mentions) == 8
    assert result.mentions[0].external_id == "stackoverflow:q:27406879"
    # the poll asked for the new questions' answers: the recorded page holds Dinah's answer
    # to question 4 (a reply may be stored before its mention arrives)
    assert [(r.external_id, r.in_reply_to) for r in result.brand_replies] == [
        ("stackoverflow:a:305467", "stackoverflow:q:4")
    ]
    [reply] = replies
    assert reply.in_reply_to == question_4.external_id
    assert reply.created_at == datetime(2008, 11, 20, 14, 36, 42, tzinfo=UTC)  # 1227191802
    assert [r.path for r in server.requests[-2:]] == [
        "/questions/4/answers",
        "/questions/4/comments",
    ]


def test_cli_dry_run_lists_the_mentions_and_writes_no_database(
    server: LocalServer, tmp_path: Path
) -> None:
    _serve(server)
    done, database = dry_run_poll(
        tmp_path,
        identity={"platform": "stackexchange", "handle": "Dinah", "id": "356", "bot": False},
        feed={
            "name": "acme-so",
            "type": "stackexchange",
            "interval": "5m",
            "base_url": server.url,
            "site": "stackoverflow",
            "tagged": "openshift-enterprise",
            "max_pages": 1,
        },
    )
    assert done.returncode == 0, done.stderr
    assert "stackexchange:stackoverflow:q:27406879" in done.stdout
    assert "by sriraman" in done.stdout
    assert not database.exists()
