"""What a config holds secret, and the log filter that keeps it out of every log line.

A secret is the value of every environment variable a `*_env` key names (the Slack
tokens and signing secret, platform keys, private feed URLs, the database URL), and the
password of the database URL however it is given. `*_path_env` keys name a file, not a
secret: their values (paths) stay readable in errors.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel

from connectors.redact import Secrets, redact_urls
from monitor.config import Config, FeedConfig


def _env_names(model: BaseModel) -> Iterator[str]:
    """The variables named by the `*_env` keys of `model` and of the models inside it."""
    for key, value in model:
        if isinstance(value, str) and key.endswith("_env") and not key.endswith("_path_env"):
            yield value
        elif isinstance(value, BaseModel):
            yield from _env_names(value)
        elif isinstance(value, list | tuple | dict):
            items = value.values() if isinstance(value, dict) else value
            for item in items:
                if isinstance(item, BaseModel):
                    yield from _env_names(item)


def _values(names: Iterable[str]) -> list[str]:
    return [value for name in dict.fromkeys(names) if (value := os.environ.get(name))]


def _feed_env_names(feed: FeedConfig) -> list[str]:
    """The variables a feed's options name, and its `reply` table's (the write token)."""
    names = list(_env_names(feed.options))
    if feed.reply_options is not None:
        names += _env_names(feed.reply_options)
    return names


def feed_secrets(feed: FeedConfig) -> list[str]:
    """The secret values one feed's options name (its keys, tokens, private URL, and the
    write credentials of its `reply` table)."""
    return _values(_feed_env_names(feed))


def config_secrets(config: Config) -> list[str]:
    """Every secret value the config names, and the database URL's password."""
    names = list(_env_names(config))
    for feed in config.feeds:
        names += _feed_env_names(feed)
    values = _values(names)
    try:
        password = urlsplit(config.storage.resolved_url()).password  # may be in `url`
    except ValueError:
        password = None
    return [*values, unquote(password)] if password else values


class RedactingFilter(logging.Filter):
    """Hides secrets and URL queries/userinfo in a record's message, args and traceback.

    Installed on the root handlers, so it sees the records of every logger that propagates
    (httpx's "HTTP Request: GET <url>", httpcore's response headers, slack_sdk, ours) at
    every level. The record is rendered here, once: `msg` becomes the redacted text and the
    traceback is kept as redacted `exc_text`, so no formatter renders the original."""

    def __init__(self, secrets: Secrets | None = None) -> None:
        super().__init__()
        self.secrets = secrets or Secrets()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # wrong args: logging would report it; show what there is
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.secrets.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        if record.exc_text:
            record.exc_text = self.secrets.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.secrets.redact(record.stack_info)
        return True


LOG_FILTER = RedactingFilter()


def install_log_filter() -> RedactingFilter:
    """Put the filter on every root handler, once."""
    for handler in logging.getLogger().handlers:
        if LOG_FILTER not in handler.filters:
            handler.addFilter(LOG_FILTER)
    return LOG_FILTER


def log_uncaught_errors() -> None:
    """Route uncaught exceptions, in the main thread and in others, through logging, so
    their tracebacks pass the filter too (Python prints them to stderr itself otherwise)."""
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught


def _log_uncaught(
    kind: type[BaseException], value: BaseException, traceback: TracebackType | None
) -> None:
    if not issubclass(kind, Exception):  # Ctrl-C and friends: Python's own message
        sys.__excepthook__(kind, value, traceback)
        return
    if not logging.getLogger().handlers:  # before the CLI set logging up
        logging.basicConfig()
        install_log_filter()
    logging.getLogger("monitor").critical("uncaught error", exc_info=(kind, value, traceback))


def _log_thread_uncaught(args: Any) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    logging.getLogger("monitor").critical("uncaught error in thread %s", name, exc_info=exc_info)


def safe_error(text: str, feed: FeedConfig | None = None) -> str:
    """An error text fit to store or show: the feed's secrets and every URL's query and
    userinfo hidden."""
    if feed is None:
        return redact_urls(text)
    return Secrets(feed_secrets(feed)).redact(text)
