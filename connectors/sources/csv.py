"""A CSV export of reviews or survey answers (G2, Capterra, Yelp, an NPS tool) read by column name.

- Polls: the file at `path` (relative to the config file); no network.
- Auth / rate limit: none.
- Mapping: `columns = {id = "Review ID", text = "...", created_at = "...", ...}` names the header
  of each field; only id, text and created_at are required. A mapped header missing from the
  file is an error naming it. `rating` is 1-5 stars, `score` a 0-10 survey score (NPS).
- Times: `time_format` (strptime) if given, else ISO 8601; a time without a zone is in
  `timezone` (default UTC).
- Cursor: "<data rows consumed>:<digest of the text consumed>", so rows appended later are
  picked up; if the consumed part changed (the file was replaced by a new export) the whole
  file is read again, and the pipeline's dedupe by id drops what it has. A last row without a
  line end may be half-written: it is taken once the file has not grown for one poll.
- Brand reply: a row with `reply_time` (and `reply_text`) is the business's answer, a
  BrandReply to that row's id (`seen_modified_only` if `reply_time_is_modified`). Reply text
  without a time is recorded at the poll time, with a warning.
- Quirks: a bad row is reported with its line number and skipped; nothing else is lost. The
  default encoding `utf-8-sig` also reads plain UTF-8 and drops Excel's byte-order mark.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import (
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.errors import MalformedResponse
from connectors.text import clean_text, html_to_text


class CSVColumns(BaseModel):
    """Header names in the file for each field; None means the file has no such column."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: str
    """header of the unique review id"""
    text: str
    """header of the review text"""
    created_at: str
    """header of the review time"""
    author: str | None = None
    """header of the reviewer's name"""
    rating: str | None = None
    """header of the star rating (of 5)"""
    score: str | None = None
    """header of a 0-10 survey score (NPS)"""
    reply_text: str | None = None
    """header of the brand's reply text"""
    reply_time: str | None = None
    """header of the brand's reply time (gives the TTFR)"""
    language: str | None = None
    """header of the language code"""
    url: str | None = None
    """header of the review's link"""
    title: str | None = None
    """header of the review title"""


class CSVOptions(ConnectorOptions):
    path: str
    """the CSV file, relative to the config file"""
    columns: CSVColumns
    """which header holds each field: the `[feeds.columns]` table below"""
    platform: str = Field(default="csv", min_length=1)
    """platform name stored on the mentions, e.g. g2"""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    """one character; \";\" for many European exports"""
    encoding: str = "utf-8-sig"
    """file encoding: utf-8-sig also reads plain UTF-8; cp1252 for old Excel"""
    time_format: str | None = None
    """strptime format of the times; omit for ISO 8601"""
    timezone: str = "UTC"
    """IANA zone for times written without one"""
    reply_time_is_modified: bool = False
    """true if the export's reply time is a last-edit time (no exact TTFR)"""

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (try utf-8, cp1252, latin-1)") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. UTC, Europe/Amsterdam)") from None
        return value


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


Record = tuple[int, int, list[str] | str]  # first line, last line, the fields or what is wrong


def _records(lines: list[str], start: int, delimiter: str, width: int) -> Iterator[Record]:
    """The records of lines[start:], numbered by physical line (1-based, header included).

    A stray quote makes the csv module read on to the next quote, swallowing the rows in
    between; a multi-line record with the wrong number of fields is taken to be that, so it
    is reported alone and reading starts again on its next line: nothing else is lost.
    """
    pos = start
    while pos < len(lines):
        reader = csv.reader(iter(lines[pos:]), delimiter=delimiter)
        while True:
            before = reader.line_num
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield pos + before + 1, pos + reader.line_num, f"not valid CSV: {exc}"
                continue
            first, last = pos + before + 1, pos + reader.line_num
            if last > first and len(row) != width:
                yield (
                    first,
                    first,
                    f"an unbalanced quote ({len(row)} fields over lines "
                    + (
                        f"{first}-{last}, the header has {width}); reading on from line {first + 1}"
                    ),
                )
                pos = first  # the index of the line after `first`
                break
            yield first, last, row


def _parse_cursor(cursor: str | None) -> tuple[int, str, int | None]:
    """(rows consumed, digest of their text, file size when a last row was held back)."""
    parts = (cursor or "").split(":")
    try:
        rows = int(parts[0])
        digest = parts[1] if len(parts) > 1 else ""
        held_size = int(parts[2]) if len(parts) > 2 and parts[2] else None
    except ValueError:
        return 0, "", None
    return max(rows, 0), digest, held_size


class CSVConnector(Connector[CSVOptions]):
    """Mentions (and brand replies) from a CSV file with a configured column mapping."""

    name = "csv"
    platform = "csv"
    default_interval = 300

    @property
    def path(self) -> Path:
        path = Path(self.options.path).expanduser()
        return path if path.is_absolute() else self.config_dir / path

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise MalformedResponse(f"cannot read {self.path}: {exc.strerror}") from exc
        try:
            text = data.decode(options.encoding)
        except UnicodeDecodeError as exc:
            raise MalformedResponse(
                f"{self.path.name} is not {options.encoding} (byte {exc.start}): "
                "set `encoding` for this feed, e.g. cp1252 or latin-1"
            ) from exc
        # newline="" splits on line ends only, as the csv module expects (not on U+2028)
        lines = io.StringIO(text, newline="").readlines()
        rows_done, digest, held_size = _parse_cursor(state.cursor)
        result = PollResult(state=FeedCursor(cursor=state.cursor or "0:"))
        if not text.strip():
            return result  # nothing exported yet
        reader = csv.reader(iter(lines), delimiter=options.delimiter)
        header = [name.strip() for name in next(reader)]
        index = self._column_index(header)
        records = list(_records(lines, reader.line_num, options.delimiter, len(header)))
        if len(records) > rows_done and not text.endswith(("\n", "\r")):
            # a last row without a line end may still be being written: take it only once
            # the file has stayed the same size for one poll
            if held_size != len(data):
                records.pop()
                held_size = len(data)
            else:
                held_size = None
        else:
            held_size = None
        if rows_done:
            consumed_lines = records[rows_done - 1][1] if rows_done <= len(records) else None
            if consumed_lines is None or _digest("".join(lines[:consumed_lines])) != digest:
                result.warnings.append(
                    f"{self.path.name} changed above the saved position (a new export?); "
                    "reading it all again, known ids are ignored"
                )
                rows_done = 0
        for first, _last, row in records[rows_done:]:
            if isinstance(row, str):
                result.warnings.append(f"{self.path.name} line {first}: {row}")
                continue
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            try:
                mention, reply, warning = self._row(row, header, index, now, first)
            except ValueError as exc:
                result.warnings.append(f"{self.path.name} line {first}: {exc}")
                continue
            if warning:
                result.warnings.append(warning)
            result.mentions.append(mention)
            if reply is not None:
                result.brand_replies.append(reply)
        end_line = records[-1][1] if records else 1
        rows = len(records)
        consumed = "".join(lines[:end_line]) if records else ""
        cursor = f"{rows}:{_digest(consumed)}" if rows else "0:"
        if held_size is not None:
            cursor += f":{held_size}"
        result.state = FeedCursor(cursor=cursor)
        result.bytes_received = len(data)
        return result

    def _column_index(self, header: list[str]) -> dict[str, int]:
        index: dict[str, int] = {}
        for field, column in self.options.columns.model_dump().items():
            if column is None:
                continue
            try:
                index[field] = header.index(column.strip())
            except ValueError:
                raise MalformedResponse(
                    f"{self.path.name}: column {column!r} (columns.{field}) is not in the "
                    f"header; the header has: {', '.join(repr(h) for h in header)}"
                ) from None
        return index

    def _row(
        self,
        row: list[str],
        header: list[str],
        index: dict[str, int],
        now: datetime,
        line: int,
    ) -> tuple[MentionRecord, BrandReply | None, str | None]:
        """A row's mention, its reply if the export has one, and a warning about the reply."""
        if len(row) > len(header):
            raise ValueError(f"{len(row)} fields but the header has {len(header)}")

        def get(field: str) -> str:
            position = index.get(field)
            if position is None:
                return ""
            if position >= len(row):
                if field in ("id", "text", "created_at"):
                    raise ValueError(f"{len(row)} fields, no {header[position]!r}")
                return ""
            return row[position].strip()

        options = self.options
        external_id = get("id")
        if not external_id:
            raise ValueError(f"{options.columns.id!r} is empty")
        mention = MentionRecord(
            platform=options.platform,
            external_id=external_id,
            created_at=self._time(get("created_at"), options.columns.created_at),
            text=html_to_text(get("text")),
            url=get("url") or None,
            author=get("author") or None,
            title=clean_text(html_to_text(get("title"))) or None,
            language=get("language").lower() or None,
            rating=_rating(get("rating")),
            score=_score(get("score")),
        )
        reply_text = html_to_text(get("reply_text")) or None
        reply_time = get("reply_time")
        if not reply_time and not reply_text:
            return mention, None, None
        warning = None
        if reply_time:
            when = self._time(reply_time, options.columns.reply_time or "reply_time")
            modified_only = options.reply_time_is_modified
        else:
            when, modified_only = now, True
            warning = (
                f"{self.path.name} line {line}: a reply without a reply time; "
                "recorded at the poll time"
            )
        identity = self.identities[0] if self.identities else None
        reply = BrandReply(
            platform=options.platform,
            external_id=f"{external_id}:reply",
            in_reply_to=external_id,
            created_at=when,
            author=identity.handle if identity else None,
            url=mention.url,
            text=reply_text,
            bot=identity.bot if identity else False,
            seen_modified_only=modified_only,
        )
        return mention, reply, warning

    def _time(self, value: str, column: str) -> datetime:
        if not value:
            raise ValueError(f"{column!r} is empty")
        options = self.options
        try:
            if options.time_format:
                parsed = datetime.strptime(value, options.time_format)
            else:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            expected = options.time_format or "ISO 8601"
            raise ValueError(f"{column!r} value {value!r} is not a time ({expected})") from None
        if parsed.tzinfo is None:
            zone: tzinfo = ZoneInfo(options.timezone)
            parsed = parsed.replace(tzinfo=zone)
        return parsed.astimezone(UTC)


def _number(value: str, what: str) -> float:
    try:
        return float(value.replace(",", "."))
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a number") from None


def _rating(value: str) -> float | None:
    if not value:
        return None
    rating = _number(value, "rating")
    if not 1 <= rating <= 5:
        raise ValueError(f"rating {value!r} is not between 1 and 5 stars")
    return rating


def _score(value: str) -> int | None:
    if not value:
        return None
    score = _number(value, "score")
    if not score.is_integer() or not 0 <= score <= 10:
        raise ValueError(f"score {value!r} is not a whole number from 0 to 10")
    return int(score)
