"""bench/peer_bench.py's feed servers answer both tools alike: a 304 to the ETag they gave."""

from __future__ import annotations

import httpx

from bench.peer_bench import farm_call, feed_url
from bench.poll_bench import FeedFarm


def test_feed_server_answers_304_to_its_etag_and_200_once_the_feed_changed() -> None:
    farm = FeedFarm(feeds=4, hosts=2, latency=0)
    farm.start()
    try:
        servers = [server.url for server in farm.servers]
        url = feed_url(servers, 2)
        first = httpx.get(url)
        assert first.status_code == 200
        assert b"<title>feed 2</title>" in first.content
        etag = first.headers["ETag"]

        unchanged = httpx.get(url, headers={"If-None-Match": etag})
        assert unchanged.status_code == 304
        assert unchanged.content == b""

        assert farm_call(servers[0], "/bump?every=2") == {"changed": 2}  # feeds 0 and 2
        changed = httpx.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["ETag"] != etag

        stats = farm_call(servers[1], "/stats")  # the counters are the farm's, any host
        assert (stats["full"], stats["not_modified"]) == (2, 1)
    finally:
        farm.stop()
