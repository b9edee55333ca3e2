"""The reads before the ingest decides: which of a page's mentions and replies are stored.

Each lookup is one statement per platform and 500 ids, built once per dialect: columns, not
ORM rows (a poll mostly brings new ids), and building the statement each time cost more than
SQLite spends running it (bench/README.md)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlmodel import Session

from connectors import MentionRecord
from monitor.ingest.decide import Answer, MentionKey, Page, ReplyRow, Stored
from monitor.store.bulk import listed, one_of
from monitor.store.models import BrandReplyRow, Mention, table_of

_CHUNK = 500  # ids per IN (...) query: below SQLite's and PostgreSQL's parameter limits
_T = TypeVar("_T")
_MENTION = table_of(Mention)
_REPLY = table_of(BrandReplyRow)
_REPLY_COLUMNS = [_REPLY.c[name] for name in ReplyRow.__dataclass_fields__]
_ANSWER_COLUMNS = [_MENTION.c[name] for name in Answer.__dataclass_fields__]


def stored_ids(
    session: Session, records: Sequence[MentionRecord]
) -> dict[MentionKey, tuple[int, bool]]:
    """(id, edited_after_reply) of the stored mentions among `records`."""
    by_platform: dict[str, list[str]] = {}
    for record in records:
        by_platform.setdefault(record.platform, []).append(record.external_id)
    return {
        (platform, external_id): (id_, edited)
        for platform, external_id, id_, edited in _lookup(session, _stored_ids, by_platform)
    }


def stored(
    session: Session,
    page: Page,
    ids: dict[MentionKey, tuple[int, bool]],
    fresh: Sequence[MentionRecord],
) -> Stored:
    """What the decision reads besides `ids`: the stored rows of the page's replies, the
    stored mentions they answer, and the stored non-bot replies to those and to `fresh`."""
    replies: dict[MentionKey, ReplyRow] = {}
    targets: dict[MentionKey, Answer] = {}
    if page.replies:
        keys: dict[str, list[str]] = {}
        answered: dict[str, list[str]] = {}
        for reply in page.replies:
            keys.setdefault(reply.platform, []).append(reply.external_id)
            answered.setdefault(reply.platform, []).append(reply.in_reply_to)
        for row in _lookup(session, _replies_by_key, keys):
            replies[(row.platform, row.external_id)] = ReplyRow(*row)
        for row in _lookup(session, _mentions_by_key, answered):
            targets[(row.platform, row.external_id)] = Answer(*row)
    asked: dict[str, list[str]] = {}
    for platform, external_id in [*targets, *((r.platform, r.external_id) for r in fresh)]:
        asked.setdefault(platform, []).append(external_id)
    # usually no row: a new mention's reply comes later (bench/ingest_bench.py)
    answers = [ReplyRow(*row) for row in _lookup(session, _answers_to, asked)]
    return Stored(ids, replies, targets, answers)


def _lookup(session: Session, statement: Any, by_platform: dict[str, list[str]]) -> Iterable[Any]:
    """Run `statement(dialect)` for each platform and chunk of its ids."""
    dialect = session.get_bind().dialect.name
    built = statement(dialect)
    for platform, ids in by_platform.items():
        for chunk in _chunks(sorted(set(ids))):
            params = {"platform": platform, "ids": listed(dialect, chunk)}
            yield from session.execute(built, params)


def _chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@lru_cache(maxsize=4)
def _stored_ids(dialect: str) -> Select[tuple[str, str, int, bool]]:
    """(platform, external_id, id, edited_after_reply) of the mentions among :ids."""
    table = _MENTION
    columns = table.c.platform, table.c.external_id, table.c.id, table.c.edited_after_reply
    return select(*columns).where(
        table.c.platform == bindparam("platform"), one_of(dialect, table.c.external_id, "ids")
    )


@lru_cache(maxsize=4)
def _mentions_by_key(dialect: str) -> Select[Any]:
    """The `Answer` columns of the mentions among :ids on :platform."""
    return select(*_ANSWER_COLUMNS).where(
        _MENTION.c.platform == bindparam("platform"),
        one_of(dialect, _MENTION.c.external_id, "ids"),
    )


@lru_cache(maxsize=4)
def _replies_by_key(dialect: str) -> Select[Any]:
    """The `ReplyRow` columns of the brand replies among :ids on :platform."""
    return select(*_REPLY_COLUMNS).where(
        _REPLY.c.platform == bindparam("platform"), one_of(dialect, _REPLY.c.external_id, "ids")
    )


@lru_cache(maxsize=4)
def _answers_to(dialect: str) -> Select[Any]:
    """The non-bot brand replies to :ids on :platform, by the (platform, in_reply_to) index."""
    return select(*_REPLY_COLUMNS).where(
        _REPLY.c.platform == bindparam("platform"),
        one_of(dialect, _REPLY.c.in_reply_to, "ids"),
        _REPLY.c.bot.is_(False),
    )
