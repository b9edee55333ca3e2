"""The shared HTTP client: one connection pool per host, closed when its host goes quiet, and
httpx's own path behind a proxy."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from connectors.http import PoolPerHost, make_client
from tests.support.http_server import LocalServer, Reply, local_server

NO_PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NO_PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


def _pools(transport: httpx.BaseTransport) -> dict[int, httpx.HTTPTransport]:
    """port -> that host's transport (every test server is http://127.0.0.1:port)."""
    assert isinstance(transport, PoolPerHost)
    pools: dict[int, httpx.HTTPTransport] = {}
    for (_, _, port), pool in transport._pools.items():
        assert port is not None  # every test server's URL names its port
        pools[port] = pool.transport
    return pools


def _port(server: LocalServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_each_host_gets_its_own_pool_and_keeps_its_connection_alive() -> None:
    with local_server() as one, local_server() as two, make_client() as client:
        for server in (one, two):
            server.route("/feed", Reply(200, b"<rss/>", {"ETag": '"v1"'}))
        for _ in range(3):
            assert client.get(f"{one.url}/feed").content == b"<rss/>"
            assert client.get(f"{two.url}/feed").status_code == 200
        pools = _pools(client._transport)
        assert sorted(pools) == sorted([_port(one), _port(two)])
        for pool in pools.values():
            # three requests one after another on one kept-alive connection per host
            assert len(pool._pool.connections) == 1
        # one TLS context for all pools: each of its own would load the CA bundle again
        assert len({id(pool._pool._ssl_context) for pool in pools.values()}) == 1
        assert len(one.requests) == len(two.requests) == 3
    # closing the client closed every pool's connections and dropped the pools
    assert all(pool._pool.connections == [] for pool in pools.values())
    assert _pools(client._transport) == {}


def test_a_quiet_hosts_pool_and_sockets_are_closed_but_never_one_in_use() -> None:
    transport = PoolPerHost(httpx.Limits(keepalive_expiry=0.2))
    with local_server() as quiet, local_server() as slow, local_server() as busy:
        quiet.route("/feed", Reply(200, b"q"))
        slow.route("/feed", Reply(200, b"slow body", delay=2.0))
        busy.route("/feed", Reply(200, b"b"))
        with httpx.Client(transport=transport) as client:
            assert client.get(f"{quiet.url}/feed").content == b"q"
            quiet_pool = _pools(transport)[_port(quiet)]
            answer: list[bytes] = []
            in_flight = threading.Thread(
                target=lambda: answer.append(client.get(f"{slow.url}/feed").content)
            )
            in_flight.start()
            time.sleep(0.3)  # the quiet host is idle past keepalive_expiry now
            assert client.get(f"{busy.url}/feed").content == b"b"  # its close prunes
            assert sorted(_pools(transport)) == sorted([_port(slow), _port(busy)])
            assert quiet_pool._pool.connections == []  # its kept-alive socket is closed
            in_flight.join(timeout=5)
            assert answer == [b"slow body"]  # the pool in use was left alone
            # a host that comes back gets a new pool
            assert client.get(f"{quiet.url}/feed").content == b"q"
            assert _port(quiet) in _pools(transport)


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
        [pool] = _pools(client._transport).values()
        assert 1 <= len(pool._pool.connections) <= 8


def test_a_failed_request_releases_its_pool() -> None:
    transport = PoolPerHost(httpx.Limits(keepalive_expiry=60.0))
    with httpx.Client(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            client.get("http://127.0.0.1:9/feed")  # the discard port: nothing listens
        [pool] = transport._pools.values()
        assert pool.in_flight == 0


def test_with_a_proxy_in_the_environment_httpx_routes_through_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    with make_client() as client:
        assert not isinstance(client._transport, PoolPerHost)
        proxied = client._transport_for_url(httpx.URL("https://example.com/feed"))
        assert proxied is not client._transport  # the proxy's transport, from the environment


def test_beyond_max_keepalive_hosts_the_least_recently_used_idle_pools_close_at_once() -> None:
    transport = PoolPerHost(httpx.Limits(max_keepalive_connections=2, keepalive_expiry=60.0))
    servers = [LocalServer() for _ in range(4)]
    for server in servers:
        server.route("/feed", Reply(200, b"ok"))
        server.start()
    try:
        with httpx.Client(transport=transport) as client:
            for server in servers:
                assert client.get(f"{server.url}/feed").status_code == 200
            # four hosts polled, long before keepalive_expiry: the two most recent stay
            assert sorted(_pools(transport)) == sorted(_port(s) for s in servers[2:])
    finally:
        for server in servers:
            server.stop()
