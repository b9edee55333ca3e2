"""The error tree: a 404 is NotFoundError, and every class's name is cut where a person reads."""

from __future__ import annotations

import inspect

import httpx
import pytest

from connectors import errors
from connectors.errors import ConnectorError, MalformedResponse, NotFoundError
from connectors.http import check_response
from monitor.alerting.feed_health import human_error


@pytest.mark.parametrize(("status", "reason"), [(404, "Not Found"), (410, "Gone")])
def test_a_missing_page_is_not_found_with_where_and_what_to_do(status: int, reason: str) -> None:
    request = httpx.Request("GET", "https://feeds.example/blog/feed.xml?token=s3cret")
    with pytest.raises(NotFoundError) as caught:
        check_response(httpx.Response(status, request=request))
    assert str(caught.value) == (
        f"HTTP {status} {reason} at https://feeds.example/blog/feed.xml: check the feed's url"
    )
    # callers that caught every MalformedResponse for a 404 still do
    assert isinstance(caught.value, MalformedResponse)


def test_other_refusals_are_not_taken_for_a_missing_page() -> None:
    request = httpx.Request("GET", "https://api.example/items/1")
    with pytest.raises(MalformedResponse) as caught:
        check_response(httpx.Response(400, request=request))
    assert not isinstance(caught.value, NotFoundError)


@pytest.mark.parametrize(
    "cls",
    [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, ConnectorError)],
)
def test_every_error_class_is_cut_from_the_message_a_person_reads(cls: type) -> None:
    # the pipeline stores "<Class>: <message>"; monitor/alerting/feed_health.py shows the
    # message alone
    assert human_error(f"{cls.__name__}: check the feed's url") == "check the feed's url"
