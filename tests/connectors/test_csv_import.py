"""The csv connector: a Yelp-shaped export built from recordings, appended rows, bad rows."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors import BrandIdentity, FeedCursor, MalformedResponse, PollResult
from connectors.sources.csv import CSVConnector, CSVOptions
from tests.connectors.conformance import FIXTURES, fixture_bytes
from tests.connectors.conformance_cases.csv import YELP_COLUMNS
from tests.support.dry_run import dry_run_poll
from tests.support.mock_http import mock_client

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
YELP = json.loads(
    fixture_bytes("csv", "business_reviews_gary-danko_2022-09_3_excerpts_TRANSCRIBED.json")
)
YELP_OPTIONS: dict[str, Any] = {
    "path": "reviews.csv",
    "platform": "yelp",
    "columns": YELP_COLUMNS,
    "time_format": "%Y-%m-%d %H:%M:%S",
    "timezone": "America/Los_Angeles",
}


def _connector(tmp_path: Path, **options: Any) -> CSVConnector:
    return CSVConnector(
        CSVOptions.model_validate({**YELP_OPTIONS, **options}),
        feed_name="yelp-export",
        identities=[BrandIdentity("yelp", handle="Gary Danko")],
        config_dir=tmp_path,
    )


def _poll(connector: CSVConnector, state: FeedCursor | None = None) -> PollResult:
    with mock_client(lambda r: httpx.Response(599)) as client:
        return connector.poll(client, state or FeedCursor(), NOW)


@pytest.fixture
def yelp_file(tmp_path: Path) -> Path:
    target = tmp_path / "reviews.csv"
    shutil.copy(FIXTURES / "csv" / "yelp_export_from_recordings.csv", target)
    return target


def test_yelp_export_maps_columns_and_keeps_the_recorded_values(
    tmp_path: Path, yelp_file: Path
) -> None:
    result = _poll(_connector(tmp_path))
    recorded = {r["id"]: r for r in YELP["reviews"]}
    assert [m.external_id for m in result.mentions] == [
        "eC0QYbq3kJIlnswekVlvOg",
        "GTh70ZNWEBT3gcqUi5qcew",
        "rGwk222b3sekNGgeHxODvw",
    ]
    for mention in result.mentions:
        review = recorded[mention.external_id]
        assert mention.platform == "yelp"
        assert mention.text == review["text"], "nothing of the text is lost"
        assert mention.author == review["user"]["name"]
        assert mention.rating == float(review["rating"])
        assert mention.url == review["url"]
    # "2022-09-24 04:59:34" in San Francisco (PDT, UTC-7)
    assert result.mentions[0].created_at == datetime(2022, 9, 24, 11, 59, 34, tzinfo=UTC)


def test_a_row_with_a_reply_time_yields_a_brand_reply_to_that_row(
    tmp_path: Path, yelp_file: Path
) -> None:
    result = _poll(_connector(tmp_path))
    reply = next(r for r in result.brand_replies if r.in_reply_to == "GTh70ZNWEBT3gcqUi5qcew")
    assert reply.platform == "yelp"
    assert reply.external_id == "GTh70ZNWEBT3gcqUi5qcew:reply"
    assert reply.created_at == datetime(2022, 9, 26, 16, 15, tzinfo=UTC)
    assert reply.seen_modified_only is False
    assert reply.author == "Gary Danko"
    assert reply.text is not None and reply.text.startswith("Sophie, thank you")
    review = result.mentions[1]
    assert reply.created_at - review.created_at == (
        datetime(2022, 9, 26, 16, 15, tzinfo=UTC) - datetime(2022, 9, 26, 1, 59, 40, tzinfo=UTC)
    )


def test_bad_rows_are_reported_by_line_number_and_nothing_else_is_lost(
    tmp_path: Path, yelp_file: Path
) -> None:
    result = _poll(_connector(tmp_path))
    assert len(result.mentions) == 3
    bad = [w for w in result.warnings if "line 4" in w or "line 6" in w]
    assert len(bad) == 2
    assert "reviews.csv line 4" in bad[0] and "'25/09/2022 10:00' is not a time" in bad[0]
    assert "reviews.csv line 6" in bad[1] and "rating '7' is not between 1 and 5" in bad[1]
    # line 5 has a reply text but no reply date: kept, timed at the poll, and said so
    assert any("line 5" in w and "without a reply time" in w for w in result.warnings)
    late = next(r for r in result.brand_replies if r.in_reply_to == "rGwk222b3sekNGgeHxODvw")
    assert (late.created_at, late.seen_modified_only) == (NOW, True)
    assert result.state.cursor is not None and result.state.cursor.startswith("5:")


def test_appended_rows_are_picked_up_on_the_next_poll(tmp_path: Path, yelp_file: Path) -> None:
    connector = _connector(tmp_path)
    first = _poll(connector)
    with yelp_file.open("a", newline="") as handle:
        handle.write("NEW1,Ana R.,1,2022-09-27 08:00:00,Cold food and rude staff.,,,\r\n")
        handle.write("NEW2,Bo K.,x,2022-09-27 09:00:00,Rating is not a number,,,\r\n")
    second = _poll(connector, first.state)
    assert [m.external_id for m in second.mentions] == ["NEW1"]
    assert second.mentions[0].rating == 1.0
    assert second.warnings == ["reviews.csv line 8: rating 'x' is not a number"]
    assert second.state.cursor is not None and second.state.cursor.startswith("7:")
    third = _poll(connector, second.state)
    assert (third.mentions, third.warnings) == ([], [])


def test_a_replaced_export_is_read_again_from_the_top(tmp_path: Path, yelp_file: Path) -> None:
    connector = _connector(tmp_path)
    first = _poll(connector)
    lines = yelp_file.read_bytes().split(b"\r\n")
    # a fresh export, newest first: a new row at the top, the old rows below
    new_row = b"TOP1,New Person,5,2022-09-28 10:00:00,Great,,,"
    yelp_file.write_bytes(b"\r\n".join([lines[0], new_row, *lines[1:]]))
    second = _poll(connector, first.state)
    assert any("changed above the saved position" in w for w in second.warnings)
    assert second.mentions[0].external_id == "TOP1"
    assert len(second.mentions) == 4, "the old rows come again; the pipeline dedupes by id"


def test_a_last_row_without_a_line_end_waits_until_the_file_stops_growing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reviews.csv"
    header = "Review ID,Reviewer,Rating,Date,Review,Owner Response,Owner Response Date,URL\n"
    path.write_text(
        header + "A1,Ann,4,2022-09-27 08:00:00,Fine,,,\nA2,Bob,2,2022-09-27 09:00:00,Half wr"
    )
    connector = _connector(tmp_path)
    first = _poll(connector)
    assert [m.external_id for m in first.mentions] == ["A1"]
    second = _poll(connector, first.state)  # same size: the writer has finished
    assert [(m.external_id, m.text) for m in second.mentions] == [("A2", "Half wr")]
    third = _poll(connector, second.state)
    assert third.mentions == []


def test_missing_mapped_column_is_an_error_naming_it(tmp_path: Path, yelp_file: Path) -> None:
    columns = {**YELP_COLUMNS, "reply_time": "Response Date"}
    with pytest.raises(MalformedResponse) as caught:
        _poll(_connector(tmp_path, columns=columns))
    message = str(caught.value)
    assert "'Response Date' (columns.reply_time)" in message
    assert "'Owner Response Date'" in message, "the header the file has is listed"


def test_nps_survey_with_semicolons_scores_languages_and_iso_times(tmp_path: Path) -> None:
    (tmp_path / "nps.csv").write_text(
        "Response;Submitted;Score;Comment;Lang\n"
        "r1;2026-11-02T09:15:00+01:00;9;Heel tevreden;NL\n"
        "r2;2026-11-02T10:00:00;3;Too expensive;en\n"
        "r3;2026-11-02T11:00:00Z;11;Out of range;en\n"
        "r4;2026-11-02T12:00:00Z;6.5;Not whole;en\n",
        encoding="utf-8",
    )
    connector = CSVConnector(
        CSVOptions.model_validate(
            {
                "path": "nps.csv",
                "platform": "survey",
                "delimiter": ";",
                "timezone": "Europe/Amsterdam",
                "columns": {
                    "id": "Response",
                    "created_at": "Submitted",
                    "score": "Score",
                    "text": "Comment",
                    "language": "Lang",
                },
            }
        ),
        feed_name="nps",
        config_dir=tmp_path,
    )
    result = _poll(connector)
    assert [(m.external_id, m.score, m.language) for m in result.mentions] == [
        ("r1", 9, "nl"),
        ("r2", 3, "en"),
    ]
    assert result.mentions[0].created_at == datetime(2026, 11, 2, 8, 15, tzinfo=UTC)
    # zoneless: Amsterdam (CET, UTC+1 in November)
    assert result.mentions[1].created_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert result.warnings == [
        "nps.csv line 4: score '11' is not a whole number from 0 to 10",
        "nps.csv line 5: score '6.5' is not a whole number from 0 to 10",
    ]


def test_multiline_text_is_one_row_and_a_stray_quote_loses_only_its_row(tmp_path: Path) -> None:
    (tmp_path / "reviews.csv").write_text(
        "Review ID,Reviewer,Rating,Date,Review,Owner Response,Owner Response Date,URL\n"
        'M1,Ann,5,2022-09-27 08:00:00,"Line one\nline two, with a comma",,,\n'
        'Q1,Bob,2,2022-09-27 09:00:00,"a stray quote,,,\n'
        "Q2,Cy,3,2022-09-27 10:00:00,After the stray quote,,,\n"
        "Q3,Di,4,2022-09-27 11:00:00,Last row,,,\n"
    )
    result = _poll(_connector(tmp_path))
    assert [m.external_id for m in result.mentions] == ["M1", "Q2", "Q3"]
    assert result.mentions[0].text == "Line one\nline two, with a comma"
    [warning] = result.warnings
    assert warning.startswith("reviews.csv line 4: an unbalanced quote")


def test_wrong_encoding_is_an_error_that_names_the_option(tmp_path: Path) -> None:
    (tmp_path / "reviews.csv").write_bytes(
        b"Review ID,Reviewer,Rating,Date,Review,Owner Response,Owner Response Date,URL\n"
        b"E1,Zo\xe9,5,2022-09-27 08:00:00,Caf\xe9 au lait,,,\n"
    )
    with pytest.raises(MalformedResponse, match="set `encoding`"):
        _poll(_connector(tmp_path))
    result = _poll(_connector(tmp_path, encoding="cp1252"))
    assert (result.mentions[0].author, result.mentions[0].text) == ("Zoé", "Café au lait")


def test_unknown_time_zone_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        CSVOptions.model_validate({**YELP_OPTIONS, "timezone": "Mars/Olympus"})


def test_cli_dry_run_lists_the_rows_and_writes_no_database(tmp_path: Path, yelp_file: Path) -> None:
    done, database = dry_run_poll(
        tmp_path,
        brand="Gary Danko",
        identity={"platform": "yelp", "handle": "Gary Danko", "bot": False},
        feed={
            "name": "yelp-export",
            "type": "csv",
            "interval": "5m",
            **YELP_OPTIONS,
        },
    )
    assert done.returncode == 0, done.stderr
    assert "yelp:eC0QYbq3kJIlnswekVlvOg" in done.stdout
    assert "James T." in done.stdout
    assert "reviews.csv line 4" in done.stderr
    assert not database.exists()
