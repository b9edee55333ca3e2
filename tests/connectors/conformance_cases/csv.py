"""Conformance case for the csv connector: a local Yelp-shaped export, so no HTTP cases."""

import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.connectors.conformance import FIXTURES, ConformanceCase

# the header row of tests/fixtures/csv/yelp_export_from_recordings.csv, per option key
YELP_COLUMNS = {
    "id": "Review ID",
    "author": "Reviewer",
    "rating": "Rating",
    "created_at": "Date",
    "text": "Review",
    "reply_text": "Owner Response",
    "reply_time": "Owner Response Date",
    "url": "URL",
}


def _prepare(tmp_path: Path) -> dict[str, Any]:
    shutil.copy(FIXTURES / "csv" / "yelp_export_from_recordings.csv", tmp_path / "reviews.csv")
    (tmp_path / "empty.jsonl").write_text("")  # the shared empty-file case uses this name
    return {"path": "reviews.csv"}


def _unused(request: httpx.Request) -> httpx.Response:
    raise AssertionError("the csv connector must not use the network")


CASE = ConformanceCase(
    options={
        "path": "reviews.csv",
        "columns": YELP_COLUMNS,
        "time_format": "%Y-%m-%d %H:%M:%S",
        "timezone": "America/Los_Angeles",
    },
    happy=_unused,
    empty=_unused,
    min_mentions=3,
    http=False,
    prepare=_prepare,
    cursor_key=lambda cursor: int(cursor.split(":")[0]),
)
