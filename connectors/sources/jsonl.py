"""A file of mentions, one JSON object a line: imports, exports of other tools, and the demo.

- Polls: the file at `path` (relative to the config file), from the byte offset saved last.
- Auth / rate limit: none.
- Cursor: the byte offset after the last complete line, so appended lines are picked up
  and a half-written last line waits for the next poll.
- Lines: `{"kind": "mention", "platform", "id", "created_at", "text", "author", "author_id",
  "url", "title", "language", "rating", "score", "parent_id"}`; `{"kind": "reply", "platform",
  "id", "in_reply_to", "created_at", "author", "url", "text", "bot"}` is a brand reply.
  `rating` is 1-5 stars and `score` a whole 0-10 survey score (NPS), checked as the csv source
  checks its columns (a number or a numeric string).
- Quirks: a bad line is reported with its line number and skipped; nothing else is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from connectors.apijson import loads
from connectors.base import (
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.errors import MalformedResponse
from connectors.sources.csv import _rating, _score


class JSONLOptions(ConnectorOptions):
    path: str
    """the file, one JSON object a line, relative to the config file"""
    platform: str = "import"
    """platform name stored on mentions whose line names none"""


def parse_time(value: Any) -> datetime:
    """ISO 8601 (a trailing Z allowed) or epoch seconds, to aware UTC."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if not isinstance(value, str) or not value:
        raise ValueError("created_at is missing")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"created_at {value!r} has no time zone")
    return parsed.astimezone(UTC)


def _optional_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return None if value is None else str(value)


def _field(obj: dict[str, Any], key: str) -> str:
    """A number as the csv source reads its cell: JSON null or absent is empty."""
    value = obj.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} {value!r} is not a number")
    return str(value).strip()


class JSONLConnector(Connector[JSONLOptions]):
    """Mentions and brand replies from a JSON Lines file."""

    name = "jsonl"
    platform = "import"
    default_interval = 60

    @property
    def path(self) -> Path:
        path = Path(self.options.path).expanduser()
        return path if path.is_absolute() else self.config_dir / path

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise MalformedResponse(f"cannot read {self.path}: {exc.strerror}") from exc
        offset = int(state.cursor or 0)
        if offset > len(data):
            offset = 0  # the file was replaced by a shorter one: read it again, dedupe holds
        end = data.rfind(b"\n", offset) + 1 if not data.endswith(b"\n") else len(data)
        chunk = data[offset:end] if end > offset else b""
        result = PollResult(state=FeedCursor(cursor=str(max(end, offset))))
        first_line = data[:offset].count(b"\n") + 1
        for number, raw in enumerate(chunk.splitlines(), start=first_line):
            if not raw.strip():
                continue
            try:
                obj = loads(raw)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
                if obj.get("kind", "mention") == "reply":
                    result.brand_replies.append(self._reply(obj))
                else:
                    result.mentions.append(self._mention(obj))
            except (ValueError, KeyError, TypeError) as exc:
                result.warnings.append(f"{self.path.name} line {number}: {exc}")
        result.bytes_received = len(chunk)
        return result

    def _mention(self, obj: dict[str, Any]) -> MentionRecord:
        return MentionRecord(
            platform=str(obj.get("platform") or self.options.platform),
            external_id=str(obj["id"]),
            created_at=parse_time(obj.get("created_at")),
            text=str(obj.get("text") or ""),
            url=_optional_str(obj, "url"),
            author=_optional_str(obj, "author"),
            author_id=_optional_str(obj, "author_id"),
            title=_optional_str(obj, "title"),
            language=_optional_str(obj, "language"),
            rating=_rating(_field(obj, "rating")),
            score=_score(_field(obj, "score")),
            parent_id=_optional_str(obj, "parent_id"),
            thread_id=_optional_str(obj, "thread_id"),
        )

    def _reply(self, obj: dict[str, Any]) -> BrandReply:
        return BrandReply(
            platform=str(obj.get("platform") or self.options.platform),
            external_id=str(obj["id"]),
            in_reply_to=str(obj["in_reply_to"]),
            created_at=parse_time(obj.get("created_at")),
            author=_optional_str(obj, "author"),
            url=_optional_str(obj, "url"),
            text=_optional_str(obj, "text"),
            bot=bool(obj.get("bot", False)),
        )
