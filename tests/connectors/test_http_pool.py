"""The shared HTTP client: one connection pool per host, and httpx's own path behind a proxy."""

from __future__ import annotations

import threading

import httpx
import pytest

from connectors.http import PoolPerHost, make_client
from tests.support.http_server import Reply, local_server


def _pools(client: httpx.Client) -> dict[tuple[str, str, int | None], httpx.HTTPTransport]:
    transport = client._transport
    assert isinstance(transport, PoolPerHost)
    return transport._pools


def test_each_host_gets_its_own_pool_and_keeps_its_connection_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with local_server() as one, local_server() as two, make_client() as client:
        for server in (one, two):
            server.route("/feed", Reply(200, b"<rss/>", {"ETag": '"v1"'}))
        for _ in range(3):
            assert client.get(f"{one.url}/feed").content == b"<rss/>"
            assert client.get(f"{two.url}/feed").status_code == 200
        pools = _pools(client)
        ports = sorted(port for _, _, port in pools)
        assert ports == sorted(int(s.url.rsplit(":", 1)[1]) for s in (one, two))
        for pool in pools.values():
            # three requests one after another on one kept-alive connection per host
            assert len(pool._pool.connections) == 1
        # one TLS context for all pools: each of its own would load the CA bundle again
        contexts = {id(pool._pool._ssl_context) for pool in pools.values()}
        assert len(contexts) == 1
        assert len(one.requests) == len(two.requests) == 3
    # closing the client closed every pool's connections and dropped the pools
    assert all(pool._pool.connections == [] for pool in pools.values())
    assert _pools(client) == {}


def test_concurrent_first_requests_to_one_host_share_one_pool() -> None:
    with local_server() as server, make_client() as client:
        server.route("/feed", Reply(200, b"ok", delay=0.05))
        threads = [
            threading.Thread(target=lambda: client.get(f"{server.url}/feed")) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert len(server.requests) == 8
        [pool] = _pools(client).values()
        assert 1 <= len(pool._pool.connections) <= 8


def test_with_a_proxy_in_the_environment_httpx_routes_through_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    with make_client() as client:
        assert not isinstance(client._transport, PoolPerHost)
        proxied = client._transport_for_url(httpx.URL("https://example.com/feed"))
        assert proxied is not client._transport  # the proxy's transport, from the environment
