"""The connector base: a connector's options are its declared model, typed and validated."""

from __future__ import annotations

from datetime import datetime
from typing import get_args

import httpx
import pytest

from connectors.base import Connector, ConnectorOptions, FeedCursor, PollResult
from connectors.registry import connector_class, known_types


class ProbeOptions(ConnectorOptions):
    site: str = "example.test"
    """a key only this connector has"""


class ProbeConnector(Connector[ProbeOptions]):
    name = "probe"
    platform = "probe"

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        return PollResult(state=FeedCursor(cursor=self.options.site))


def test_the_options_model_is_the_one_the_class_is_declared_with() -> None:
    assert ProbeConnector.Options is ProbeOptions
    options = ProbeConnector.Options.model_validate({"site": "acme.test"})
    connector = ProbeConnector(options, feed_name="probe")
    result = connector.poll(httpx.Client(), FeedCursor(), datetime.now())
    assert result.state.cursor == "acme.test"


@pytest.mark.parametrize("type_name", known_types())
def test_every_connector_declares_its_options_once(type_name: str) -> None:
    cls = connector_class(type_name)
    declared = [get_args(base) for base in cls.__orig_bases__ if get_args(base)]  # type: ignore[attr-defined]
    assert declared == [(cls.Options,)], f"{cls.__name__} is not Connector[{cls.Options.__name__}]"
