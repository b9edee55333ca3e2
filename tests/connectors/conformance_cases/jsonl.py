"""Conformance case for the jsonl connector: a local file, so the HTTP cases do not apply."""

from pathlib import Path
from typing import Any

import httpx

from tests.connectors.conformance import ConformanceCase

LINES = (
    '{"id": "a1", "platform": "import", "created_at": "2026-01-05T10:00:00Z", "text": "slow"}\n'
    '{"id": "a2", "platform": "import", "created_at": "2026-01-05T11:00:00+01:00", "text": "ok"}\n'
)


def _prepare(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "mentions.jsonl").write_text(LINES)
    (tmp_path / "empty.jsonl").write_text("")
    return {"path": str(tmp_path / "mentions.jsonl")}


def _unused(request: httpx.Request) -> httpx.Response:
    raise AssertionError("the jsonl connector must not use the network")


CASE = ConformanceCase(
    options={"path": "mentions.jsonl"},
    happy=_unused,
    empty=_unused,
    min_mentions=2,
    http=False,
    prepare=_prepare,
    cursor_key=int,
)
