"""How fast the bluesky_stream connector parses and matches Jetstream events on one core.

The replay server (tests/support/jetstream_server.py) runs in a child process and sends the
recorded production stretch `--repeat` times as fast as it can (posts, identity and account
events: what the feed subscribes to); this process reads it through `stream()` with five
keyword rules and one hashtag, and reports events per second of wall time and of its own
CPU time (the figure for one core: the server's work is not counted).

    .venv/bin/python bench/jetstream_parse.py --repeat 2000
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.base import BrandIdentity
from connectors.sources.bluesky_stream import BlueskyStreamConnector
from tests.support.jetstream_server import JetstreamReplay

KEYWORDS = ["acme", "government", "debunked", "primátorem", "ジャードゥーガル"]


def serve(repeat: int, ready: multiprocessing.Queue[str]) -> None:
    server = JetstreamReplay()
    server.repeat = repeat
    server.start()
    ready.put(server.url)
    time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1000)
    args = parser.parse_args()
    ready: multiprocessing.Queue[str] = multiprocessing.Queue()
    child = multiprocessing.Process(target=serve, args=(args.repeat, ready), daemon=True)
    child.start()
    url = ready.get(timeout=30)
    connector = BlueskyStreamConnector(
        BlueskyStreamConnector.Options.model_validate(
            {"keywords": KEYWORDS, "hashtags": ["HowToTellAiToShutUp"]}
        ),
        feed_name="bench",
        identities=[BrandIdentity("bluesky", account_id="did:plc:u4lmvw4wwzaql3z5kcf3r7h4")],
        base_url=url,
    )
    expected = 20 * args.repeat  # the recording's posts, identity and account events
    stop = threading.Event()
    count = found = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for event in connector.stream(None, stop):
        if event.alive:
            continue
        count += 1
        found += event.found is not None
        if count >= expected:
            break
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    child.terminate()
    print(
        f"{count} events ({found} matched) in {wall:.2f} s wall, {cpu:.2f} s CPU: "
        f"{count / wall:,.0f} events/s wall, {count / cpu:,.0f} events/s per core"
    )


if __name__ == "__main__":
    main()
