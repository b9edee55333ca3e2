"""The one place that reaches into httpx's internals: putting a network backend in its transports.

httpx builds its httpcore pool itself and takes no network backend (httpcore's pools do,
documented). `install` swaps the backend of a pool that has no connection yet; the pool
reads it whenever it opens a connection, direct or through a proxy. pyproject.toml bounds
httpx and httpcore to the versions this was read against, and
tests/connectors/test_httpx_backend.py fails when these names move.
"""

from __future__ import annotations

import httpcore
import httpx


def install(transport: httpx.HTTPTransport, backend: httpcore.NetworkBackend) -> None:
    """Make `transport` open its connections through `backend`."""
    pool = getattr(transport, "_pool", None)
    if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError(
            "httpx.HTTPTransport no longer keeps an httpcore pool in `_pool` with a "
            "`_network_backend`: connectors/httpx_backend.py needs updating for this httpx"
        )
    pool._network_backend = backend


def backend_of(transport: httpx.HTTPTransport) -> httpcore.NetworkBackend | None:
    """The backend `transport` opens connections with (for the test that guards `install`)."""
    return getattr(getattr(transport, "_pool", None), "_network_backend", None)


def transports(client: httpx.Client) -> list[httpx.BaseTransport]:
    """Every transport `client` may send through: its own and those mounted for proxies."""
    mounted = getattr(client, "_mounts", None)
    own = getattr(client, "_transport", None)
    if not isinstance(mounted, dict) or not isinstance(own, httpx.BaseTransport):
        raise RuntimeError(
            "httpx.Client no longer keeps `_transport` and `_mounts`: "
            "connectors/httpx_backend.py needs updating for this httpx"
        )
    return [own, *(t for t in mounted.values() if t is not None)]
