"""Alerting: what goes into the outbox, when, to which channel, and how it reaches Slack."""
