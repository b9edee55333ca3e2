"""Pick the alert sink: Slack when a token is in the environment, the console otherwise."""

from __future__ import annotations

from alerts.base import Sink
from alerts.console import ConsoleSink
from alerts.slack import SlackSink
from monitor.config import Config


def make_sink(config: Config) -> Sink:
    token = config.slack.token()
    if not token:
        return ConsoleSink()
    return SlackSink(token, base_url=config.slack.api_url, timeout=config.slack.timeout)
