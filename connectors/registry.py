"""Feed types are the modules of connectors/sources/, found by name and imported when used."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from connectors import sources
from connectors.base import Connector
from connectors.errors import ConnectorUnavailable

# type -> module, or "module:Class" (tests register stand-ins so). Adding a source is adding a
# module to connectors/sources/: it is listed without being imported, so one broken import
# (a missing optional package) fails only the feeds of its type.
REGISTRY: dict[str, str] = {
    info.name: f"{sources.__name__}.{info.name}"
    for info in pkgutil.iter_modules(sources.__path__)
    if not info.name.startswith("_")
}


def known_types() -> list[str]:
    return sorted(REGISTRY)


def connector_class(type_name: str) -> type[Connector[Any]]:
    """Return the connector of feed type `type_name`, or raise ConnectorUnavailable."""
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
    if class_name:
        named: type[Connector[Any]] = getattr(module, class_name)
        return named
    return defined_connector(module.__dict__, module_name)


def defined_connector(namespace: dict[str, Any], module_name: str) -> type[Connector[Any]]:
    """The one public Connector subclass a source module defines (not one it imports)."""
    found = [
        value
        for name, value in namespace.items()
        if isinstance(value, type)
        and issubclass(value, Connector)
        and value.__module__ == module_name
        and not name.startswith("_")
    ]
    if len(found) != 1:
        names = ", ".join(sorted(c.__name__ for c in found)) or "none"
        raise TypeError(f"{module_name} must define one public Connector subclass, found {names}")
    return found[0]
