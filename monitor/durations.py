"""Moved to connectors.durations (connectors use it, and they must not import monitor)."""

from connectors.durations import Duration, format_duration, parse_duration

__all__ = ["Duration", "format_duration", "parse_duration"]
