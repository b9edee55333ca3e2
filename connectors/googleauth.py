"""Google service-account access tokens, fetched through our own httpx client.

google-auth signs the service-account assertion; the token request itself goes through the
injected `httpx.Client` (an adapter implementing `google.auth.transport.Request`), so timeouts,
the User-Agent, proxies and test transports apply to it like to every other request, and the
key file's `token_uri` can point at a local test server. Imported lazily: google-auth is an
optional dependency (`pip install google-auth`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from google.auth import exceptions as google_exceptions
from google.auth import transport
from google.oauth2 import service_account

from connectors.errors import AuthError, TransientError


class _Response(transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxRequest(transport.Request):
    """google-auth's transport interface over an httpx client."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            response = self._client.request(
                method,
                url,
                content=body,
                headers=dict(headers or {}),
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise google_exceptions.TransportError(f"{exc.__class__.__name__}: {exc}") from exc
        return _Response(response)


class ServiceAccountToken:
    """A service account's bearer token for one scope, refreshed only when it expires."""

    def __init__(self, key_file: Path, scope: str, *, env_name: str) -> None:
        self.env_name = env_name
        try:
            self._credentials = service_account.Credentials.from_service_account_file(
                str(key_file), scopes=[scope]
            )
        except OSError as exc:
            raise AuthError(
                f"cannot read the service-account key file {key_file} named by {env_name}: "
                f"{exc.strerror or exc}"
            ) from exc
        except (ValueError, KeyError) as exc:
            raise AuthError(
                f"{key_file} (named by {env_name}) is not a service-account JSON key: {exc}; "
                "create a key under IAM > Service accounts > Keys > Add key > JSON"
            ) from exc

    def token(self, client: httpx.Client) -> str:
        if not self._credentials.valid:
            try:
                self._credentials.refresh(HttpxRequest(client))
            except google_exceptions.RefreshError as exc:
                if getattr(exc, "retryable", False):
                    raise TransientError(f"Google's token endpoint failed: {exc}") from exc
                raise AuthError(
                    f"Google refused the service account in {self.env_name} ({exc}): the key "
                    "may be deleted or disabled; create a new JSON key for the service account"
                ) from exc
            except google_exceptions.TransportError as exc:
                raise TransientError(f"cannot reach Google's token endpoint: {exc}") from exc
        return str(self._credentials.token)
