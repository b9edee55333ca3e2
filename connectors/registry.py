"""The explicit registry of connector types, resolved lazily so one broken import stays local."""

from __future__ import annotations

import importlib
from typing import Any

from connectors.base import Connector
from connectors.errors import ConnectorUnavailable

# type -> "module:Class". Adding a connector is adding one line here.
REGISTRY: dict[str, str] = {
    "rss": "connectors.rss:RSSConnector",
    "jsonl": "connectors.jsonl:JSONLConnector",
    "mastodon": "connectors.mastodon:MastodonConnector",
    "bluesky": "connectors.bluesky:BlueskyConnector",
    "reddit": "connectors.reddit:RedditConnector",
    "hn": "connectors.hn:HackerNewsConnector",
    "github": "connectors.github:GitHubConnector",
    "discourse": "connectors.discourse:DiscourseConnector",
    "appstore": "connectors.appstore:AppStoreConnector",
    "googleplay": "connectors.googleplay:GooglePlayConnector",
    "trustpilot": "connectors.trustpilot:TrustpilotConnector",
    "googlebusiness": "connectors.googlebusiness:GoogleBusinessConnector",
    "csv": "connectors.csv_import:CSVConnector",
    "stackexchange": "connectors.stackexchange:StackExchangeConnector",
    "youtube": "connectors.youtube:YouTubeConnector",
}


def known_types() -> list[str]:
    return sorted(REGISTRY)


def connector_class(type_name: str) -> type[Connector[Any]]:
    """Return the class registered as `type_name`, or raise ConnectorUnavailable."""
    try:
        target = REGISTRY[type_name]
    except KeyError:
        raise ConnectorUnavailable(
            f"unknown feed type {type_name!r}; known types: {', '.join(known_types())}"
        ) from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConnectorUnavailable(
            f"feed type {type_name!r} needs the package {exc.name!r}; install it with pip"
        ) from exc
    cls: type[Connector[Any]] = getattr(module, class_name)
    return cls
