"""A connector with a bug, and `python -m tests.support.buggy_connector ...`: the monitor CLI
with it registered as `type = "buggy"`, for end-to-end tests of a real `monitor run`."""

from __future__ import annotations

from datetime import datetime

import httpx

from connectors.base import Connector, ConnectorOptions, FeedCursor, PollResult
from connectors.http import fetch


class BuggyConnector(Connector[ConnectorOptions]):
    """Fetches its page (so a test can count its polls), then trips over it: the kind of
    error no connector error names, as a platform's new field would cause."""

    name = "buggy"
    platform = "buggy"
    default_interval = 60

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        _, body = fetch(client, f"{self.base_url}/page")
        return PollResult(bytes_received=len(body) // 0)


if __name__ == "__main__":
    from connectors import registry
    from monitor.cli import main

    registry.REGISTRY["buggy"] = "tests.support.buggy_connector:BuggyConnector"
    main()
