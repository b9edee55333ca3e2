"""A stream connector whose connections play what the test scripted: the runner tested
without a platform. Each `stream()` call takes the next script: events, then how it ends."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from connectors.base import ConnectorOptions
from connectors.streams import StreamConnector, StreamEvent


@dataclass
class Script:
    """One connection: its events (a float is a pause of that many seconds), then `end`: an
    exception to raise, or None to stay open silently until stopped. A connection with
    events, or none and no `end`, opens first (an `alive` event); one with no events and an
    `end` is refused."""

    events: list[StreamEvent | float] = field(default_factory=list)
    end: Exception | None = None


SCRIPTS: deque[Script] = deque()
CURSORS: list[str | None] = []  # the cursor each connection was opened with


class FakeStreamOptions(ConnectorOptions):
    fill_feed: str | None = None
    """the polled feed that fills a gap"""


class FakeStreamConnector(StreamConnector[FakeStreamOptions]):
    """Test double of a live stream."""

    name = "fake_stream"
    platform = "fake"
    Options = FakeStreamOptions

    def stream(self, cursor: str | None, stop: threading.Event) -> Iterator[StreamEvent]:
        CURSORS.append(cursor)
        script = SCRIPTS.popleft() if SCRIPTS else Script()
        if script.events or script.end is None:  # no events, then an error: refused
            yield StreamEvent(cursor=None, at=None, alive=True)  # connected, as a platform's
        for item in script.events:
            if isinstance(item, float):
                if stop.wait(item):
                    return
                continue
            yield item
            if stop.is_set():
                return
        if script.end is not None:
            raise script.end
        stop.wait()
