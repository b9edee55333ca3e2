"""Which tables Alembic compares: ours, not the job queue's (procrastinate_*, PostgreSQL only)."""

from __future__ import annotations


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))
