"""How many Mastodon streaming events a second `stream()` parses and matches on one core.

A child process replays the recorded user stream (tests/fixtures/mastodon_stream/) over a
local socket as fast as it can, `repeat` times; this process reads it with a `public` feed of
five keyword rules and counts events. The child has its own core and GIL, so the figure is
the connector's: HTTP read, SSE framing, JSON, the poller's record, the matching.

    python bench/mastodon_stream_bench.py [--repeat 5000] [--rate 1000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors import TransientError
from connectors.sources.mastodon_stream import MastodonStreamConnector, MastodonStreamOptions
from tests.support.sse_server import Plan, SSEServer, events_only, recorded

KEYWORDS = ["acme", "cars", "acme cloud", "outage", "ソニー"]


def _serve(repeat: int, rate: float | None, ready: Any, port: Any, done: Any) -> None:
    server = SSEServer()
    server.default = Plan(parts=events_only(recorded()), repeat=repeat, rate=rate)
    server.start()
    assert server._server is not None
    port.value = server._server.server_address[1]
    ready.set()
    done.wait()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5000, help="times the recording is sent")
    parser.add_argument("--rate", type=float, default=None, help="events/s (default: flat out)")
    args = parser.parse_args()
    context = multiprocessing.get_context("fork")
    ready, done, port = context.Event(), context.Event(), context.Value("i", 0)
    served = (args.repeat, args.rate, ready, port, done)
    child = context.Process(target=_serve, args=served, daemon=True)
    child.start()
    ready.wait(10)
    os.environ["BENCH_TOKEN"] = "not-a-token"
    source = MastodonStreamConnector(
        MastodonStreamOptions(stream="public", keywords=KEYWORDS, token_env="BENCH_TOKEN"),
        feed_name="bench",
        base_url=f"http://127.0.0.1:{port.value}",
    )
    events = matched = 0
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        for event in source.stream(None, threading.Event()):
            if event.alive:
                continue
            events += 1
            matched += event.found is not None
    except TransientError:
        pass  # the replay is over: the server closed the stream
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done.set()
    child.join(5)
    size = sum(len(p) for p in events_only(recorded()))
    print(f"events: {events} ({matched} matched), {events / wall:,.0f} events/s wall")
    print(f"cpu: {cpu:.2f} s for {wall:.2f} s wall ({cpu / wall:.0%} of one core)")
    print(f"{events / cpu:,.0f} events per CPU second; mean event {size / 6:,.0f} bytes")


if __name__ == "__main__":
    main()
