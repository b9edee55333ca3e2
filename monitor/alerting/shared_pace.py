"""Each Slack channel's last post time in the database, so that one message a second per
channel holds across workers (PostgreSQL; one delivery job runs at a time cluster-wide)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

# The database's clock on both sides: two hosts' clocks may differ by more than the pace.
_SINCE = text(
    "SELECT EXTRACT(EPOCH FROM clock_timestamp() - last_post_at) FROM channel_pace"
    " WHERE channel = :channel"
)
_RECORD = text(
    "INSERT INTO channel_pace (channel, last_post_at) VALUES (:channel, clock_timestamp())"
    " ON CONFLICT (channel) DO UPDATE SET last_post_at = clock_timestamp()"
)


class SharedPace:
    """`seconds_since(channel)` read before a post, `record(channel)` written after it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def seconds_since(self, channel: str) -> float | None:
        with self.engine.connect() as conn:
            since = conn.execute(_SINCE, {"channel": channel}).scalar()
        return None if since is None else float(since)

    def record(self, channel: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(_RECORD, {"channel": channel})
