"""Alert sinks: Slack and the console. They render and send; they never know a platform."""

from alerts.base import AlertMessage, SendResult, Sink

__all__ = ["AlertMessage", "SendResult", "Sink"]
