"""JSON API helpers: a GET that leaves the status to the caller, and decoding with clear errors.

`connectors.http.get_bytes` raises on any status >= 400 before the body is seen; APIs that
explain a 400 or 403 in the body (Stack Exchange `error_id`, Google `error.errors[].reason`)
need the body to pick the right error. Callers map the envelope themselves and fall back to
`connectors.http.check_response` for anything they do not recognise.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import httpx

from connectors import http
from connectors.errors import MalformedResponse
from connectors.http import MAX_BODY_BYTES


def fetch(
    client: httpx.Client,
    url: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> tuple[httpx.Response, bytes]:
    """GET with a body cap; network failures become TransientError, statuses are left alone."""
    return http.fetch(client, url, params=params, headers=headers, max_bytes=max_bytes, check=False)


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
    value = decode_json(body, source)
    if not isinstance(value, dict):
        raise MalformedResponse(f"{source}: not a JSON object")
    return value
