"""Durations written by people ("90s", "5m", "4h", "2d") read as seconds."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like "15m"; raise ValueError with a readable text."""
    if isinstance(value, bool):
        raise ValueError('must be a duration such as 300, "5m" or "4h"')
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f'must be a duration such as 300, "5m" or "4h", not {value!r}')


def format_duration(seconds: float | None) -> str:
    """A short human form: 45s, 12m, 3h 05m, 2d 4h."""
    if seconds is None:
        return "-"
    seconds = round(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds}s"
    if seconds < 3600:
        return f"{sign}{seconds // 60}m"
    if seconds < 86400:
        return f"{sign}{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{sign}{seconds // 86400}d {seconds % 86400 // 3600}h"


Duration = Annotated[float, BeforeValidator(parse_duration)]
