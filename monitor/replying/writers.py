"""The writer a feed answers with, when it has one and its write credentials are set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.logins import TokenStore
from connectors.replies.base import Replier, ReplyTarget
from connectors.replies.registry import replier_class
from monitor.config import Config, FeedConfig
from monitor.store.models import Mention


def replier_for(
    feed: FeedConfig, logins: TokenStore | None = None, config_dir: Path | None = None
) -> Replier[Any] | None:
    """The feed's writer, built from its `reply` keys; None when it has none."""
    options = feed.reply_options
    writer = replier_class(feed.type) if options is not None else None
    if options is None or writer is None:
        return None
    base_url = feed.base_url or feed.connector_cls.default_base_url or ""
    return writer(
        options,
        feed_options=feed.options,
        base_url=base_url,
        logins=logins,
        config_dir=config_dir,
    )


def reply_feeds(config: Config) -> frozenset[str]:
    """The feeds whose alerts show a Reply button: someone may reply (`[slack]
    reply_allowed`) and the feed's write credentials are set."""
    if not config.slack.reply_allowed:
        return frozenset()
    ready = set()
    for feed in config.feeds:
        writer = replier_for(feed, config_dir=config.config_dir)
        if writer is not None and writer.missing() is None:
            ready.add(feed.name)
    return frozenset(ready)


def target_of(mention: Mention) -> ReplyTarget:
    """The stored mention as a writer is given it."""
    return ReplyTarget(
        platform=mention.platform,
        feed=mention.feed,
        external_id=mention.external_id,
        created_at=mention.created_at,
        text=mention.text,
        url=mention.url,
        author=mention.author,
        author_id=mention.author_id,
        title=mention.title,
        parent_id=mention.parent_id,
        thread_id=mention.thread_id,
    )
