"""Every registered connector passes the same cases: happy, empty, 304, 429, 500, junk, cursor."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors import (
    REGISTRY,
    Connector,
    FeedCursor,
    MalformedResponse,
    RateLimited,
    TransientError,
    connector_class,
)
from tests.connectors.conformance import ConformanceCase
from tests.support.mock_http import mock_client, poll_with

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TYPES = sorted(REGISTRY)


def _case(type_name: str) -> ConformanceCase:
    module = importlib.import_module(f"tests.connectors.conformance_cases.{type_name}")
    case: ConformanceCase = module.CASE
    return case


@pytest.fixture(params=TYPES)
def type_name(request: pytest.FixtureRequest) -> str:
    """Each test below runs once for every registered connector type."""
    name: str = request.param
    return name


@pytest.fixture
def case(type_name: str) -> ConformanceCase:
    return _case(type_name)


@pytest.fixture
def http_case(case: ConformanceCase, type_name: str) -> ConformanceCase:
    if case.stream:
        pytest.skip(f"{type_name} is a live stream; its own tests replay a stream server")
    if not case.http:
        pytest.skip(f"{type_name} reads a local file; HTTP status cases do not apply")
    return case


@pytest.fixture
def polled_case(case: ConformanceCase, type_name: str) -> ConformanceCase:
    if case.stream:
        pytest.skip(f"{type_name} is a live stream; its own tests replay a stream server")
    return case


@pytest.fixture
def connector(
    type_name: str, case: ConformanceCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Connector[Any]:
    if case.stream:
        pytest.skip(f"{type_name} is a live stream: its tests replay a recorded stream")
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    options = dict(case.options)
    if case.prepare:
        options.update(case.prepare(tmp_path))
    cls = connector_class(type_name)
    return cls(
        cls.Options.model_validate(options),
        feed_name=f"conformance-{type_name}",
        config_dir=tmp_path,
    )


def _reading(connector: Connector[Any], case: ConformanceCase, path: Path) -> Any:
    """The options of a file-reading connector pointed at another file."""
    return connector.Options.model_validate({**case.options, "path": str(path)})


def test_every_registered_type_has_a_case_and_documents_itself(
    type_name: str, case: ConformanceCase
) -> None:
    assert case.options is not None
    cls = connector_class(type_name)
    module = importlib.import_module(cls.__module__)
    assert module.__doc__ and len(module.__doc__.splitlines()) >= 3, "module docstring too thin"
    assert cls.name == type_name
    assert cls.default_interval >= 30


@pytest.mark.usefixtures("polled_case")
def test_happy_page_yields_normalised_mentions(
    case: ConformanceCase, connector: Connector[Any]
) -> None:
    result = poll_with(connector, case.happy, NOW)
    assert len(result.mentions) >= case.min_mentions
    ids = [(m.platform, m.external_id) for m in result.mentions]
    assert len(ids) == len(set(ids)), "a page must not repeat a mention"
    for mention in result.mentions:
        assert mention.external_id
        assert mention.created_at.tzinfo is not None
        assert mention.created_at.utcoffset() == UTC.utcoffset(None)
        assert isinstance(mention.text, str)
    assert result.state != FeedCursor(), "a successful poll must leave state to continue from"


@pytest.mark.usefixtures("polled_case")
def test_empty_page_is_not_an_error(
    case: ConformanceCase, connector: Connector[Any], tmp_path: Path
) -> None:
    if not case.http:
        connector.options = _reading(connector, case, tmp_path / "empty.jsonl")
    result = poll_with(connector, case.empty, NOW)
    assert result.mentions == []


@pytest.mark.usefixtures("http_case")
def test_not_modified_parses_nothing(connector: Connector[Any]) -> None:
    state = FeedCursor(cursor="c1", etag='"v1"', last_modified="Mon, 01 Jan 2026 00:00:00 GMT")
    with mock_client(lambda request: httpx.Response(304)) as client:
        result = connector.poll(client, state, NOW)
    assert result.mentions == [] and result.brand_replies == []
    assert result.state.cursor == "c1", "a 304 must not lose the cursor"


@pytest.mark.usefixtures("http_case")
def test_429_raises_rate_limited_with_retry_after(connector: Connector[Any]) -> None:
    handler = lambda request: httpx.Response(429, headers={"Retry-After": "7"}, json={})  # noqa: E731
    with mock_client(handler) as client, pytest.raises(RateLimited) as caught:
        connector.poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == 7


@pytest.mark.usefixtures("http_case")
def test_500_raises_transient(connector: Connector[Any]) -> None:
    with (
        mock_client(lambda request: httpx.Response(500, text="oops")) as client,
        pytest.raises(TransientError) as caught,
    ):
        connector.poll(client, FeedCursor(), NOW)
    assert not isinstance(caught.value, RateLimited)


@pytest.mark.usefixtures("polled_case")
def test_malformed_body_raises_malformed_response(
    case: ConformanceCase, connector: Connector[Any], tmp_path: Path
) -> None:
    if not case.http:
        connector.options = _reading(connector, case, tmp_path / "missing.jsonl")
    handler = lambda request: httpx.Response(200, content=case.malformed_body)  # noqa: E731
    with mock_client(handler) as client, pytest.raises(MalformedResponse):
        connector.poll(client, FeedCursor(), NOW)


@pytest.mark.usefixtures("polled_case")
def test_cursor_moves_forward_and_repeats_nothing_new(
    case: ConformanceCase, connector: Connector[Any]
) -> None:
    with mock_client(case.happy) as client:
        first = connector.poll(client, FeedCursor(), NOW)
        second = connector.poll(client, first.state, NOW)
    first_ids = {m.external_id for m in first.mentions}
    assert {m.external_id for m in second.mentions} <= first_ids
    assert second.state.cursor is not None or first.state.cursor is None
    if first.state.cursor is not None and second.state.cursor is not None:
        assert case.cursor_key(second.state.cursor) >= case.cursor_key(first.state.cursor)
