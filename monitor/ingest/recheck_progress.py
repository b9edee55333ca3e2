"""How `monitor recheck` shows its walk: a progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import click

from connectors.durations import format_duration
from monitor.ingest.recheck import Progress

LINE_EVERY = 10.0  # seconds between two plain lines while waiting out a rate limit


class BarDisplay:
    """click's bar: mentions checked of the total, replies found, a rate-limit wait counting."""

    def __init__(self, feed: str, total: int) -> None:
        self._status = ""
        self._bar: Any = click.progressbar(
            length=total,
            label=f"recheck {feed}",
            show_pos=True,
            item_show_func=lambda _item: self._status,
        )
        self._shown = 0

    def __enter__(self) -> BarDisplay:
        self._bar.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.__exit__(kind, exc, tb)

    def __call__(self, progress: Progress) -> None:
        self._status = f"{progress.answered:,} answered"
        if progress.waiting:
            self._status += f", {progress.reason}: waiting {format_duration(progress.waiting)}"
        self._bar.update(progress.checked - self._shown)
        self._shown = progress.checked
        self._bar.render_progress()


class LineDisplay:
    """One line per batch (a log, a pipe, cron mail), and one per LINE_EVERY while waiting."""

    def __init__(self, feed: str, total: int) -> None:
        self._feed = feed
        self._last: tuple[int, int] | None = None
        self._waited_at = 0.0
        click.echo(f"{feed}: {total:,} unanswered mention(s) to check")

    def __enter__(self) -> LineDisplay:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def __call__(self, progress: Progress) -> None:
        if progress.waiting:
            now = time.monotonic()
            if now - self._waited_at >= LINE_EVERY:
                self._waited_at = now
                click.echo(
                    f"{self._feed}: {progress.reason}; waiting {format_duration(progress.waiting)}"
                )
            return
        self._waited_at = 0.0
        shown = (progress.checked, progress.answered)
        if shown != self._last and (progress.checked or progress.answered):
            self._last = shown
            click.echo(
                f"{self._feed}: {progress.checked:,}/{progress.total:,} checked, "
                f"{progress.answered:,} answered"
            )
