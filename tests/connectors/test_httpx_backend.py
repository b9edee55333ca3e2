"""The one reach into httpx internals (connectors/httpx_backend.py) still lands: every transport
the platform client may use opens its connections through the deadline backend."""

from __future__ import annotations

import httpx
import pytest

from connectors import httpx_backend
from connectors.deadline import DeadlineBackend
from connectors.http import PoolPerHost, make_client
from tests.support.http_server import Reply, local_server


def test_every_host_pool_uses_the_deadline_backend() -> None:
    with local_server() as server, make_client(timeout=5) as client:
        server.route("/ok", Reply(200, b"ok"))
        client.get(f"{server.url}/ok")
        [transport] = httpx_backend.transports(client)
        assert isinstance(transport, PoolPerHost)
        pools = list(transport._pools.values())
        assert pools, "no host pool was made"
        for pool in pools:
            assert isinstance(httpx_backend.backend_of(pool.transport), DeadlineBackend)


def test_with_a_proxy_every_httpx_transport_uses_the_deadline_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    with make_client(timeout=5) as client:
        transports = httpx_backend.transports(client)
        proxied = [t for t in transports if isinstance(t, httpx.HTTPTransport)]
        assert len(proxied) >= 2, transports  # the direct one and the proxy's
        for transport in proxied:
            assert isinstance(httpx_backend.backend_of(transport), DeadlineBackend)


def test_install_refuses_a_transport_it_does_not_understand() -> None:
    class Elsewhere(httpx.HTTPTransport):
        def __init__(self) -> None:  # no `_pool`: what a reshaped httpx would look like
            pass

    with pytest.raises(RuntimeError, match=r"httpx_backend\.py needs updating"):
        httpx_backend.install(Elsewhere(), DeadlineBackend())
