"""A reply whose platform answer names no account (X) is shown under the brand's handle."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from connectors.replies.base import PostedReply, ReplyTarget
from monitor.config import parse_config
from monitor.replying.service import ReplyService

AT = datetime(2026, 8, 1, tzinfo=UTC)
TARGET = ReplyTarget("x", "acme-x", "1", AT, "hi")


def _service(engine: Engine, identities: list[dict[str, object]]) -> ReplyService:
    config = parse_config({"brand": {"name": "Acme", "identities": identities}})
    return ReplyService(config, engine)


def test_the_identity_with_the_account_id_names_the_reply(sqlite_engine: Engine) -> None:
    service = _service(
        sqlite_engine,
        [
            {"platform": "x", "handle": "AcmeHelp", "id": "42"},
            {"platform": "x", "handle": "Acme", "id": "7"},
            {"platform": "mastodon", "handle": "acme"},
        ],
    )
    named = service._named(TARGET, PostedReply("9", AT, author_id="7"))
    assert named.author == "Acme"
    # two candidates and no id to tell them apart: no guess
    assert service._named(TARGET, PostedReply("9", AT)).author is None


def test_the_only_identity_names_it_and_a_named_answer_is_kept(sqlite_engine: Engine) -> None:
    service = _service(
        sqlite_engine,
        [{"platform": "x", "handle": "Acme"}, {"platform": "x", "handle": "AcmeBot", "bot": True}],
    )
    assert service._named(TARGET, PostedReply("9", AT)).author == "Acme"
    kept = PostedReply("9", AT, author="acme_support")
    assert service._named(TARGET, kept).author == "acme_support"
