"""Decoding a platform's JSON: hostile depth refused, and errors that name who sent it.

Connectors call these directly with the source in the message ("Discourse /posts.json").
An API that explains a refusal in its body is read with `connectors.http.fetch(check=None)`
and its envelope with `json_object`.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

from connectors.errors import MalformedResponse


def loads(data: bytes | str) -> Any:
    """`json.loads`, where a document nested too deeply to parse is a ValueError like any
    other undecodable one (json raises RecursionError: 200,000 "[" are enough). Every JSON
    a connector reads goes through here."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None


def json_object(body: bytes, *, what: str) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one (the caller decides what that means).

    A gzip body whose Content-Encoding header was lost on the way (a proxy) is inflated here:
    Stack Exchange compresses every response.
    """
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise MalformedResponse(f"{what}: broken gzip body") from exc
    try:
        value = loads(body)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, too deep
        return None
    return value if isinstance(value, dict) else None


def decode_json(body: bytes, source: str) -> Any:
    """The body as JSON, or MalformedResponse naming what sent it ("Discourse /posts.json")."""
    try:
        return loads(body)
    except ValueError as exc:
        raise MalformedResponse(f"{source}: not JSON ({exc})") from None


def decode_json_object(body: bytes, source: str) -> dict[str, Any]:
    """The body as a JSON object, or MalformedResponse naming what sent it."""
    value = decode_json(body, source)
    if not isinstance(value, dict):
        raise MalformedResponse(f"{source}: not a JSON object")
    return value
