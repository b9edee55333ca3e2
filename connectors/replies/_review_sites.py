"""What the review-site writers share: reading an answer, Google's error body, the token step."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from connectors.apijson import decode_json
from connectors.errors import AuthError, ConnectorError, ConnectorUnavailable, TransientError
from connectors.replies.base import ReplyError, ReplyRefused, ReplyUnknown, send

# An HTML tag as a platform that strips tags sees one ("<b>", "</p>", "<!--"): "a < b" and
# "<3" are not tags and pass.
_TAG = re.compile(r"<[A-Za-z/!?]")


def answer_object(body: bytes, source: str, what: str) -> dict[str, Any]:
    """The platform's 2xx answer as a JSON object; anything else leaves the outcome unknown
    (the write was accepted, but what it created cannot be read)."""
    try:
        found = decode_json(body, source)
    except ConnectorError as exc:
        raise ReplyUnknown(f"{source}'s answer to {what} could not be read ({exc})") from exc
    if not isinstance(found, dict):
        raise ReplyUnknown(f"{source}'s answer to {what} is not a JSON object")
    return found


def google_error(_response: httpx.Response, body: bytes) -> str | None:
    """Google APIs explain a refusal as {"error": {"code", "message", "status"}}."""
    try:
        found = decode_json(body, "Google")
    except ConnectorError:
        return None
    error = found.get("error") if isinstance(found, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else None


def google_request(
    client: httpx.Client, method: str, url: str, *, source: str, what: str, **request: Any
) -> dict[str, Any]:
    """One call to a Google API (Play, Business Profile): its JSON object, or the mapped
    ReplyError with Google's own words."""
    _response, body = send(client, method, url, source=source, refusal=google_error, **request)
    return answer_object(body, source, what)


def html_tag_problem(text: str, why: str) -> str | None:
    """Why `text` would not be shown as typed where HTML tags are stripped or read as markup;
    `why` says what the platform does with them ("Google Play removes HTML tags")."""
    found = _TAG.search(text)
    if found is None:
        return None
    snippet = text[found.start() : found.start() + 12].split(">")[0] + ">"
    return f"{why}, so {snippet!r} would not appear as typed; rewrite it without angle brackets."


@contextmanager
def before_posting(source: str) -> Iterator[None]:
    """Getting the write credentials (a token request, a key file): whatever fails here, the
    reply was not sent, so it is a refusal the agent may retry, never an unknown outcome."""
    try:
        yield
    except ReplyUnknown as exc:
        raise ReplyRefused(
            f"{source} did not hand out a token ({exc.message}): nothing was posted; try again",
            kind="unreachable",
        ) from exc
    except ReplyError:
        raise
    except (TransientError, httpx.TransportError) as exc:
        raise ReplyRefused(
            f"{source}'s token endpoint could not be reached ({exc}): nothing was posted;"
            " try again in a minute",
            kind="unreachable",
        ) from exc
    except (AuthError, ConnectorUnavailable) as exc:
        raise ReplyRefused(
            f"{source}'s write credentials cannot be used: {exc}; nothing was posted",
            kind="auth",
        ) from exc


def token_request(
    client: httpx.Client,
    url: str,
    *,
    source: str,
    refusal: Callable[[httpx.Response, bytes], str | None] | None = None,
    **request: Any,
) -> dict[str, Any]:
    """One token request (POST): its JSON answer, or a refusal (nothing was posted yet)."""
    with before_posting(source):
        _response, body = send(client, "POST", url, source=source, refusal=refusal, **request)
        return answer_object(body, source, "the token request")
