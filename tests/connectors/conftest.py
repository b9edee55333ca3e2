"""Fixtures of the connector tests: a real HTTP server on 127.0.0.1 for a test's routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.http_server import LocalServer, local_server


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A started server with no routes yet; it stops after the test."""
    with local_server() as started:
        yield started
