"""The console sink: prints alerts when no Slack token is set (the demo, first tries)."""

from __future__ import annotations

import itertools
import sys
from datetime import datetime
from typing import TextIO

from alerts.base import AlertMessage, SendResult

_ICONS = {"negative": "[NEG]", "unscored": "[???]", "positive": "[POS]", "neutral": "[NEU]"}


class ConsoleSink:
    """Writes one readable block per alert to a stream."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._counter = itertools.count(1)
        self.posted: dict[str, str] = {}

    def _write(self, channel: str, message: AlertMessage, prefix: str) -> None:
        icon = _ICONS.get(message.sentiment or "", "[---]")
        lines = [f"{prefix} {channel} {icon} {message.headline}"]
        if message.source:
            lines.append(
                f"    {message.source}  by {message.author or 'unknown'}  {message.age or ''}"
            )
        if message.text:
            text = message.text if len(message.text) <= 300 else message.text[:299] + "…"
            lines.extend("    > " + line for line in text.splitlines()[:6])
        if message.answered:
            lines.append(f"    ✔ {message.answered}")
        if message.url:
            lines.append(f"    {message.url}")
        print("\n".join(lines), file=self.stream, flush=True)

    def post(self, channel: str, message: AlertMessage, thread_ts: str | None = None) -> SendResult:
        self._write(channel, message, f"  ↳ in thread {thread_ts}:" if thread_ts else "ALERT")
        ts = f"console.{next(self._counter)}"
        self.posted[message.key] = ts
        return SendResult(ok=True, ts=ts, channel=channel)

    def update(self, channel: str, ts: str, message: AlertMessage) -> SendResult:
        self._write(channel, message, "UPDATE")
        return SendResult(ok=True, ts=ts, channel=channel)

    def find_posted(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> str | None:
        return self.posted.get(key)
