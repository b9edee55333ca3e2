"""Meta Graph API calls shared by the Facebook, Instagram and Threads connectors.

What the three share and nothing platform-specific:

- `graph_get`: one GET through `connectors.http.fetch`. The token goes as the documented
  `access_token` query parameter (every Graph, Instagram and Threads reference shows it; a
  URL's query is hidden by connectors/redact.py wherever a URL is shown or logged) and, when
  an app secret is given, `appsecret_proof` = hex HMAC-SHA256 of the token keyed by the app
  secret (https://developers.facebook.com/docs/graph-api/guides/secure-requests). The error
  envelope `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}` is read
  before the status: Graph answers most refusals with a 400 whatever they mean
  (https://developers.facebook.com/docs/graph-api/guides/error-handling).
- `usage_wait`: when to resume from the usage headers (X-App-Usage, X-Page-Usage,
  X-Business-Use-Case-Usage), so a connector slows down before Meta throttles it
  (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
- `next_page`: the next page of a list, from `paging.next` only when it points at the API's
  own host (a hostile answer must not send the token elsewhere), else `paging.cursors.after`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from connectors.apijson import json_object, loads
from connectors.errors import (
    AuthError,
    ConnectorError,
    MalformedResponse,
    NotFoundError,
    RateLimited,
    TransientError,
)
from connectors.http import MAX_RETRY_AFTER, check_response, fetch, parse_retry_after
from connectors.text import clean_text

# Usage at or above this percentage of any budget waits before the next call: Meta throttles
# at 100 % and a throttled app stays blocked for up to an hour (the window rolls).
USAGE_THRESHOLD = 90.0
# How long to wait at the threshold when the header gives no time: a tenth of the hour the
# platform window rolls over (app and page usage are per rolling hour).
USAGE_WAIT = 600.0
# At or above 100 % without an estimate: the whole rolling window.
EXHAUSTED_WAIT = 3600.0
# A rate-limit error code without Retry-After or a BUC estimate.
DEFAULT_RATE_LIMIT_WAIT = 300.0

# characters of Graph's own error message quoted in an error (as X and Tripadvisor do)
MESSAGE_SHOWN = 300

USAGE_HEADERS = ("x-app-usage", "x-page-usage", "x-business-use-case-usage")
_PERCENT_KEYS = ("call_count", "total_cputime", "total_time")

# codes from the error-handling guide and the rate-limiting page
_RATE_CODES = {4, 17, 32, 341, 368, 613} | set(range(80001, 80015))
_PERMISSION_CODES = {3, 10} | set(range(200, 300))
_TRANSIENT_CODES = {1, 2}
_EXPIRED_SUBCODES = {463, 467}
_TOKEN_SUBCODE_HINTS = {
    458: "the app is not installed for the user who made the token",
    459: "the user must log in at facebook.com to clear a checkpoint",
    460: "the user changed their password",
    463: "the token has expired",
    464: "the user is not confirmed",
    467: "the token is invalid (logged out, or revoked)",
    492: "the user who made the token no longer has a role on the Page",
}
# paging parameters that are ours to send, never copied from a `paging.next` URL
_OWN_PARAMS = {"access_token", "appsecret_proof"}


class GraphDeprecated(MalformedResponse):
    """Graph code 12: the field or edge is not served in this API version (the Page
    recommendations of /{page-id}/ratings since v22.0). The caller decides whether the rest
    of its work goes on."""


def appsecret_proof(token: str, app_secret: str) -> str:
    """hex HMAC-SHA256 of the token keyed by the app secret, as Graph checks it."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def graph_get(
    client: httpx.Client,
    base_url: str,
    path: str,
    params: Mapping[str, str] | None = None,
    *,
    token: str,
    token_env: str,
    app_secret: str | None = None,
    what: str = "Graph API",
) -> tuple[httpx.Response, dict[str, Any]]:
    """One GET of `base_url/path` (or of `path` when it is an absolute URL on base_url's
    host, a `next_page`) with the token: (response, JSON object), or the mapped error.
    A 304 (a proxy's, or a conditional request's) comes back as (response, {}).

    `token_env` names the env var the token came from, for the operator's fix; `what` names
    the call in errors ("Facebook /{page-id}/posts")."""
    url = path if "://" in path else f"{base_url.rstrip('/')}/{path.lstrip('/')}"
    if "://" in path and not same_origin(path, base_url):
        raise MalformedResponse(f"{what}: refused a page URL on another host than {base_url}")
    sent = {**(params or {}), "access_token": token}
    if app_secret:
        sent["appsecret_proof"] = appsecret_proof(token, app_secret)
    response, body = fetch(client, url, params=sent, check=None)
    if response.status_code == 304:  # only after a conditional request: nothing to read
        return response, {}
    data = json_object(body, what=what)
    secrets = (token, sent.get("appsecret_proof", ""))
    error = graph_error(response, data, token_env=token_env, what=what, secrets=secrets)
    if error is not None:
        raise error
    if response.status_code >= 400:
        check_response(response)
    if data is None:
        raise MalformedResponse(f"{what}: not a JSON object")
    return response, data


def graph_error(
    response: httpx.Response,
    data: dict[str, Any] | None,
    *,
    token_env: str,
    what: str = "Graph API",
    secrets: tuple[str, ...] = (),
) -> ConnectorError | None:
    """The error the Graph envelope in `data` stands for, or None when there is none."""
    error = data.get("error") if data else None
    if not isinstance(error, dict):
        return None
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    message = clean_text(str(error.get("message") or ""))
    for secret in secrets:  # "Malformed access token EAAB..." quotes the token
        if secret:
            message = message.replace(secret, "***")
    if len(message) > MESSAGE_SHOWN:  # shown in logs, stored, sent to Slack
        message = message[:MESSAGE_SHOWN] + "..."
    kind = str(error.get("type") or "")
    label = f"code {code}" + (f"/{subcode}" if subcode is not None else "")
    text = f"{what} {response.status_code} {kind} ({label}): {message}".replace(" ()", "")
    if code == 190 or code == 102:
        hint = _TOKEN_SUBCODE_HINTS.get(subcode or 0, "the token is expired or invalid")
        renew = (
            "create a new long-lived token"
            if subcode in _EXPIRED_SUBCODES or subcode is None
            else "fix that, then create a new token"
        )
        return AuthError(f"{text}; {hint}: {renew} and put it in {token_env}")
    if code in _RATE_CODES:
        return RateLimited(text, retry_after=rate_limit_wait(response.headers))
    if code in _PERMISSION_CODES:
        return AuthError(
            f"{text}; the token in {token_env} lacks a permission (the message names it): "
            "grant it to the app (App Review / Advanced Access for Pages you do not manage) "
            "and create a new token"
        )
    if code == 803 or (code == 100 and (subcode == 33 or "does not exist" in message)):
        return NotFoundError(f"{text}; deleted, or a wrong id in the feed's options")
    if code == 12:
        return GraphDeprecated(f"{text}; not served in the API version of the feed's base_url")
    if code in _TRANSIENT_CODES or error.get("is_transient") is True:
        return TransientError(
            text, retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )
    if response.status_code >= 500:
        return TransientError(text)
    return MalformedResponse(f"{text}; check the feed's options")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    if isinstance(headers, httpx.Headers):  # case-insensitive already
        value: str | None = headers.get(name)
        return value
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _usages(headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every usage object of the usage headers: one per app/page header, one per business
    object and type in X-Business-Use-Case-Usage. An unreadable header counts as absent:
    absence is not headroom, but it is no reason to stop either."""
    found: list[dict[str, Any]] = []
    for name in USAGE_HEADERS:
        raw = _header(headers, name)
        if not raw:
            continue
        try:
            value = loads(raw)
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        if name == "x-business-use-case-usage":
            for entries in value.values():  # {business-object-id: [{type, ...}]}
                if isinstance(entries, list):
                    found.extend(e for e in entries if isinstance(e, dict))
        else:
            found.append(value)
    return found


def _usage_seconds(headers: Mapping[str, str], threshold: float) -> float | None:
    """Seconds to wait from the usage headers, or None below the threshold."""
    wait: float | None = None
    for usage in _usages(headers):
        regain = usage.get("estimated_time_to_regain_access")
        percents = [
            float(usage[k])
            for k in _PERCENT_KEYS
            if isinstance(usage.get(k), int | float) and not isinstance(usage.get(k), bool)
        ]
        highest = max(percents, default=0.0)
        seconds: float | None = None
        if isinstance(regain, int | float) and not isinstance(regain, bool) and regain > 0:
            seconds = float(regain) * 60.0  # documented in minutes
        elif highest >= 100.0:
            seconds = EXHAUSTED_WAIT
        elif highest >= threshold:
            seconds = USAGE_WAIT
        if seconds is not None:
            wait = max(wait or 0.0, min(seconds, MAX_RETRY_AFTER))
    return wait


def usage_wait(
    headers: Mapping[str, str], now: datetime, *, threshold: float = USAGE_THRESHOLD
) -> datetime | None:
    """When to call again, from the usage headers of an answer, or None when no budget is at
    `threshold` percent: BUC's `estimated_time_to_regain_access` (minutes) when given, the
    rolling hour at 100 %, `USAGE_WAIT` at the threshold. The latest of all budgets wins."""
    seconds = _usage_seconds(headers, threshold)
    return now + timedelta(seconds=seconds) if seconds is not None else None


def rate_limit_wait(headers: Mapping[str, str]) -> float:
    """Seconds to wait after a rate-limit error: Retry-After, else the usage headers (a
    throttled answer carries them at 100 %), else `DEFAULT_RATE_LIMIT_WAIT`."""
    retry_after = parse_retry_after(_header(headers, "retry-after"))
    if retry_after:
        return retry_after
    return _usage_seconds(headers, USAGE_THRESHOLD) or DEFAULT_RATE_LIMIT_WAIT


def same_origin(url: str, base_url: str) -> bool:
    """Is `url` on the scheme, host and port of `base_url`?"""
    try:
        a, b = urlsplit(url), urlsplit(base_url)
        return (a.scheme.lower(), a.hostname, a.port) == (b.scheme.lower(), b.hostname, b.port)
    except ValueError:
        return False


def next_page(
    data: dict[str, Any], base_url: str, path: str, params: Mapping[str, str]
) -> tuple[str, dict[str, str]] | None:
    """(path or URL, params) for the page after `data`, None on the last page.

    Graph says there is a next page by `paging.next`. On base_url's host it is followed
    with its own query (less the token and proof, which `graph_get` adds); anywhere else it
    is not, and the same `path` is asked again with `after` = `paging.cursors.after`."""
    paging = data.get("paging")
    if not isinstance(paging, dict):
        return None
    following = paging.get("next")
    if not isinstance(following, str) or not following:
        return None
    if same_origin(following, base_url):
        split = urlsplit(following)
        query = {k: v for k, v in parse_qsl(split.query) if k not in _OWN_PARAMS}
        return f"{split.scheme}://{split.netloc}{split.path}", query
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if isinstance(after, str) and after:
        return path, {**params, "after": after}
    return None


def graph_time(value: Any) -> datetime | None:
    """A Graph or Threads time ("2021-08-10T18:45:03+0000", or with Z, or without a zone:
    UTC) as aware UTC; None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
