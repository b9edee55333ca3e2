"""Meta's write calls for the Facebook, Instagram and Threads writers: one request, its errors.

Graph, the Instagram Platform and the Threads API answer most refusals with a 400 whatever
they mean, and say what they mean in the envelope {"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}} (https://developers.facebook.com/docs/graph-api/guides/
error-handling). The code is read with the read connectors' own table
(`connectors.metagraph.graph_error`), so reading and writing agree on what a code is:
4/17/32/613/80001... rate limits (the wait from Retry-After or the usage headers), 190 the
token, 10 and 200-299 a permission, 100/33 and 803 an object that is gone, 1/2 and
`is_transient` Meta's own trouble (the reply may have been posted). A 5xx stays unknown
whatever its envelope says.

The token (and `appsecret_proof`) go in the form body of a POST and the query of a GET, as
Meta documents them; neither reaches a message: Graph sometimes quotes the token back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from connectors import metagraph
from connectors.apijson import json_object
from connectors.env import require_env
from connectors.errors import AuthError, NotFoundError, RateLimited, TransientError
from connectors.replies.base import ReplyError, ReplyRefused, ReplyUnknown, send

# characters of Meta's own words shown to the agent
WORDS = 300


@dataclass(frozen=True)
class GraphAuth:
    """The write token and, when the app requires it, the proof computed from it."""

    token: str
    token_env: str
    app_secret: str | None = None

    @classmethod
    def from_env(cls, token_env: str, what: str, app_secret_env: str | None = None) -> GraphAuth:
        """The token from `token_env` (`what` names it when unset) and, when the feed names
        one, the app secret."""
        secret = require_env(app_secret_env, "the Meta app secret") if app_secret_env else None
        token = require_env(token_env, what)
        return cls(token=token, token_env=token_env, app_secret=secret)

    def fields(self) -> dict[str, str]:
        sent = {"access_token": self.token}
        if self.app_secret:
            sent["appsecret_proof"] = metagraph.appsecret_proof(self.token, self.app_secret)
        return sent

    def secrets(self) -> tuple[str, ...]:
        return tuple(self.fields().values())


def graph_post(
    client: httpx.Client, url: str, data: dict[str, str], *, auth: GraphAuth, source: str
) -> dict[str, Any]:
    """POST a form with the token in it: the JSON object answered, or the mapped ReplyError."""
    _response, body = graph_send(
        client, "POST", url, auth=auth, source=source, data={**data, **auth.fields()}
    )
    return answer(body, source)


def graph_read(
    client: httpx.Client, url: str, params: dict[str, str], *, auth: GraphAuth, source: str
) -> dict[str, Any]:
    """GET with the token in the query: the JSON object answered, or the mapped ReplyError."""
    _response, body = graph_send(
        client, "GET", url, auth=auth, source=source, params={**params, **auth.fields()}
    )
    return answer(body, source)


def read_back(
    client: httpx.Client,
    base_url: str,
    object_id: str,
    fields: str,
    *,
    auth: GraphAuth,
    source: str,
) -> dict[str, Any]:
    """The object a create answered only the id of, read for its time and author; a failure
    is `posted_but` (it exists). The created id stands when the read omits it."""
    try:
        data = graph_read(
            client, f"{base_url}/{object_id}", {"fields": fields}, auth=auth, source=source
        )
    except ReplyError as exc:
        raise posted_but(exc, source, object_id) from exc
    return {**data, "id": data.get("id") or object_id}


def graph_send(
    client: httpx.Client, method: str, url: str, *, auth: GraphAuth, source: str, **request: Any
) -> tuple[httpx.Response, bytes]:
    """`send`, with Meta's envelope deciding what a 4xx means (a rate limit or an expired
    token arrive as a 400)."""
    meant: list[ReplyError] = []

    def refusal(response: httpx.Response, body: bytes) -> str | None:
        found = _classify(response, body, auth=auth, source=source)
        if found is None:
            return None
        error, words = found
        if error is not None:
            meant.append(error)
        return words

    try:
        return send(client, method, url, source=source, refusal=refusal, **request)
    except ReplyError as exc:
        if meant:
            raise meant[0] from exc
        raise


def _classify(
    response: httpx.Response, body: bytes, *, auth: GraphAuth, source: str
) -> tuple[ReplyError | None, str] | None:
    """(the error the envelope stands for, or None to keep `send`'s; Meta's words), or None
    without an envelope."""
    data = json_object(body, what=source)
    envelope = data.get("error") if data else None
    if not isinstance(envelope, dict):
        return None
    words = _words(envelope, auth.secrets())
    status = response.status_code
    if status >= 500 or status == 408:
        return None, words  # it may have been posted, whatever the envelope says
    meaning = metagraph.graph_error(
        response, data, token_env=auth.token_env, what=source, secrets=auth.secrets()
    )
    said = f" ({status}, {_label(envelope)}): {words}" if words else f" ({status})"
    if isinstance(meaning, RateLimited):
        wait = meaning.retry_after
        return ReplyRefused(
            f"{source} is rate limiting the brand's account{said}: nothing was posted;"
            f" try again later (wait {int(wait or 0)} s)",
            kind="rate_limited",
            retry_after=wait,
        ), words
    if isinstance(meaning, AuthError):
        return ReplyRefused(
            f"{source} refused the write token{said}: nothing was posted; ask whoever runs"
            f" the monitor to renew the token in {auth.token_env} or grant what it lacks",
            kind="auth",
        ), words
    if isinstance(meaning, NotFoundError):
        return ReplyRefused(
            f"{source} no longer has this post{said}: it was probably deleted", kind="gone"
        ), words
    if isinstance(meaning, TransientError):
        return ReplyUnknown(f"{source} failed{said}: the reply may have been posted"), words
    return ReplyRefused(f"{source} refused the reply{said}: nothing was posted", kind="invalid"), (
        words
    )


def _label(envelope: dict[str, Any]) -> str:
    code, subcode = envelope.get("code"), envelope.get("error_subcode")
    return f"code {code}" + (f"/{subcode}" if subcode is not None else "")


def _words(envelope: dict[str, Any], secrets: tuple[str, ...]) -> str:
    """Meta's message (the user-facing one when given), without any secret, cut short."""
    parts = [
        str(envelope[key]).strip()
        for key in ("message", "error_user_title", "error_user_msg")
        if isinstance(envelope.get(key), str) and str(envelope[key]).strip()
    ]
    text = " ".join(" - ".join(dict.fromkeys(parts)).split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text if len(text) <= WORDS else text[: WORDS - 1] + "…"


def answer(body: bytes, source: str) -> dict[str, Any]:
    """A 2xx body as a JSON object; anything else leaves the outcome unknown."""
    data = json_object(body, what=source)
    if data is None:
        raise ReplyUnknown(f"{source}'s answer could not be read: it may have been posted")
    return data


def created_id(data: dict[str, Any], source: str) -> str:
    """The `id` Meta answers a create with ({"id": "..."}); without it nothing is known."""
    value = data.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ReplyUnknown(f"{source} answered without the new object's id: it may be posted")
    return value.strip()


def looked(error: ReplyError, source: str) -> ReplyUnknown:
    """A failure while looking for an earlier reply: whatever it was, nothing is known."""
    return ReplyUnknown(
        f"{source} could not be asked whether the earlier reply was posted ({error.message})"
    )


def posted_but(error: ReplyError, source: str, object_id: str) -> ReplyUnknown:
    """The reply was created, but reading it back (for its time) failed."""
    return ReplyUnknown(
        f"{source} created the reply ({object_id}) but its time could not be read"
        f" ({error.message}); it will be looked for before anything is posted again"
    )


def obj(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else (a missing or null field)."""
    return value if isinstance(value, dict) else {}
