"""Feed types are the modules of connectors/sources/: found by name, one connector each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import connectors
from connectors import REGISTRY, ConnectorUnavailable, connector_class, known_types
from connectors.base import Connector
from connectors.registry import defined_connector
from connectors.sources.hn import HackerNewsConnector

SOURCES = Path(connectors.__file__).parent / "sources"


def test_every_module_in_sources_is_a_feed_type_named_after_it() -> None:
    modules = sorted(p.stem for p in SOURCES.glob("*.py") if not p.stem.startswith("_"))
    assert known_types() == modules
    assert {"hn", "csv", "rss", "youtube"} <= set(REGISTRY)


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_each_source_module_defines_the_one_connector_of_its_type(type_name: str) -> None:
    cls = connector_class(type_name)
    assert issubclass(cls, Connector)
    assert cls.__module__ == f"connectors.sources.{type_name}"


def test_hn_is_the_hacker_news_connector() -> None:
    assert connector_class("hn") is HackerNewsConnector


def test_an_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(ConnectorUnavailable, match="unknown feed type 'lemmy'; known types: "):
        connector_class("lemmy")


def test_a_module_with_two_connectors_or_none_is_refused() -> None:
    class First(HackerNewsConnector):
        pass

    class Second(HackerNewsConnector):
        pass

    namespace: dict[str, Any] = {"First": First, "Second": Second, "Imported": Connector}
    with pytest.raises(
        TypeError, match="must define one public Connector subclass, found First, Second"
    ):
        defined_connector(namespace, __name__)
    with pytest.raises(TypeError, match="found none"):
        defined_connector({"Imported": HackerNewsConnector}, __name__)
    assert defined_connector({"First": First, "_Private": Second}, __name__) is First
