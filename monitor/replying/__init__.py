"""Answering a mention from Slack: the writer, the exactly-once attempt, the recording."""
