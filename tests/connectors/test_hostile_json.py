"""JSON a hostile platform sends is a MalformedResponse, never a RecursionError that no
connector error names: one module parses it for every connector (connectors/apijson.py)."""

from __future__ import annotations

import pytest

from connectors.apijson import decode_json, json_object, loads
from connectors.errors import MalformedResponse
from connectors.http import fetch, make_client
from tests.support.http_server import Reply, local_server

DEEP = b"[" * 200_000 + b"]" * 200_000


def test_a_document_nested_200000_deep_is_malformed_not_a_recursion_error() -> None:
    with pytest.raises(MalformedResponse, match="nested too deeply"):
        decode_json(DEEP, "Algolia search_by_date")
    assert json_object(b'{"a": ' + DEEP + b"}", what="Stack Exchange /search") is None
    with pytest.raises(ValueError, match="nested too deeply"):
        loads(DEEP.decode())


def test_a_body_that_lies_about_its_content_encoding_is_malformed() -> None:
    with local_server() as server, make_client(timeout=5) as client:
        server.route("/gz", Reply(200, b"not gzip at all", {"Content-Encoding": "gzip"}))
        with pytest.raises(MalformedResponse, match="Content-Encoding"):
            fetch(client, f"{server.url}/gz")
