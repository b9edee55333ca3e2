"""Pick the alert sink: Slack when a token is in the environment, the console otherwise."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from alerts.base import AlertMessage, SendResult, Sink
from alerts.console import ConsoleSink
from alerts.slack import SlackSink
from monitor.config import Config


def clicks_served(config: Config) -> str | None:
    """How Slack clicks reach us (monitor/slack/app.py), or None when nothing serves them."""
    slack = config.slack
    ways = []
    if slack.app_token():
        ways.append(f"Socket Mode ({slack.app_token_env})")
    if slack.http_port and slack.signing_secret():
        ways.append(f"the HTTP endpoint on {slack.http_host}:{slack.http_port}")
    return " and ".join(ways) or None


class WithoutButtons:
    """A sink whose messages carry no Claim/Snooze/Dismiss: nothing would answer a click."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.name = sink.name

    def post(self, channel: str, message: AlertMessage, thread_ts: str | None = None) -> SendResult:
        return self.sink.post(channel, replace(message, buttons=False), thread_ts=thread_ts)

    def update(self, channel: str, ts: str, message: AlertMessage) -> SendResult:
        return self.sink.update(channel, ts, replace(message, buttons=False))

    def find_posted(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> str | None:
        return self.sink.find_posted(channel, key, oldest, thread_ts=thread_ts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sink, name)


def make_sink(config: Config) -> Sink:
    token = config.slack.token()
    if not token:
        return ConsoleSink()
    sink = SlackSink(token, base_url=config.slack.api_url, timeout=config.slack.timeout)
    return sink if clicks_served(config) else WithoutButtons(sink)
