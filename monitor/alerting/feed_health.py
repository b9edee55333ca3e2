"""Feed health as alerts: a feed failing N times in a row, or silent too long, and recovery."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from connectors.durations import format_duration
from connectors.redact import redact_urls
from monitor.alerting.queue import about_feed, is_queued, queue_alert
from monitor.alerting.routing import Router
from monitor.config import Config, FeedConfig
from monitor.states import AlertKind
from monitor.store.models import Alert, FeedState

log = logging.getLogger(__name__)


def _raise(
    session: Session, router: Router, feed: str, kind: AlertKind, key: str, body: str, now: datetime
) -> Alert | None:
    """Queue one alert about `feed` for `key`, unless it was queued before (decided once)."""
    return queue_alert(session, about_feed(router, kind, feed, key, body), now)


# The pipeline keeps "<ErrorClass>: <message>" (the class decides retries); a person reads
# the message, which already says what to do (connectors/errors.py).
_ERROR_CLASS = re.compile(r"^[A-Z][A-Za-z]*(?:Error|Response|Limited|Unavailable): ")


def human_error(error: str | None) -> str:
    """The reason a person reads: "HTTP 404 Not Found at https://...: check the feed's url"."""
    if not error:
        return "unknown error"
    # errors stored by older versions may still carry a URL's query or credentials
    return _ERROR_CLASS.sub("", redact_urls(error), count=1)


def _incident(state: FeedState) -> int:
    return int(state.failing_since.timestamp()) if state.failing_since else 0


def after_failure(
    session: Session, config: Config, router: Router, state: FeedState, now: datetime
) -> Alert | None:
    """Called with the failure counted; alerts once when the streak reaches the threshold."""
    if state.consecutive_failures == 1 or state.failing_since is None:
        state.failing_since = now
    if state.consecutive_failures != config.alerts.feed_failures:
        return None
    since = format_duration((now - state.failing_since).total_seconds())
    body = (
        f"Feed {state.feed} is failing: {state.consecutive_failures} polls in a row for {since}\n"
        f"{human_error(state.last_error)}\n"
        f"Other feeds keep running. `monitor status` shows every feed; the next try is "
        f"{state.next_poll_after:%Y-%m-%d %H:%M} UTC."
    )
    return _raise(
        session,
        router,
        state.feed,
        AlertKind.FEED_HEALTH,
        f"feed_health:{state.feed}:{_incident(state)}",
        body,
        now,
    )


def after_success(
    session: Session, router: Router, state: FeedState, new_items: int, now: datetime
) -> Alert | None:
    """Called before the failure count is reset; says "recovered" where a problem was told."""
    alert = None
    if state.consecutive_failures:
        key = f"feed_health:{state.feed}:{_incident(state)}"
        alert = _recovered(session, router, state.feed, key, "polls again", now)
        state.failing_since = None
    if new_items and state.last_item_at is not None:
        alert = after_new_items(session, router, state.feed, state.last_item_at, now) or alert
    if new_items or state.last_item_at is None:
        state.last_item_at = now  # the silence clock starts at the first good poll
    return alert


def after_new_items(
    session: Session, router: Router, feed: str, last_item_at: datetime, now: datetime
) -> Alert | None:
    """New items on a feed that had none since `last_item_at`: "recovered" if told quiet."""
    key = f"feed_quiet:{feed}:{int(last_item_at.timestamp())}"
    return _recovered(session, router, feed, key, "has new items again", now)


def _recovered(
    session: Session, router: Router, feed: str, key: str, what: str, now: datetime
) -> Alert | None:
    """Says "Feed X recovered" once, and only where the problem `key` was told."""
    # asked by every poll that brings new items to a feed that had some (was it told quiet?):
    # is_queued runs a statement built once, 0.03 ms (an ORM select built each time: 0.3 ms);
    # feed_health: and feed_quiet: keys are only ever queued as feed_health alerts
    if not is_queued(session, key):
        return None
    body = f"Feed {feed} recovered: it {what}"
    return _raise(session, router, feed, AlertKind.FEED_RECOVERED, f"recovered:{key}", body, now)


def check_silence(session: Session, config: Config, router: Router, now: datetime) -> list[Alert]:
    """Feeds with `expect_activity_within` that brought nothing new for longer than that."""
    alerts: list[Alert] = []
    watched: dict[str, FeedConfig] = {
        f.name: f for f in config.feeds if f.enabled and f.expect_activity_within
    }
    if not watched:
        return alerts
    states = session.exec(select(FeedState).where(col(FeedState.feed).in_(list(watched))))
    for state in states:
        limit = watched[state.feed].expect_activity_within
        if state.last_item_at is None or limit is None:
            continue
        silent = (now - state.last_item_at).total_seconds()
        if silent <= limit:
            continue
        body = (
            f"Feed {state.feed} has brought nothing new for {format_duration(silent)} "
            f"(expected activity within {format_duration(limit)})\n"
            "The feed answers, but is it still the right query, URL or token scope?"
        )
        key = f"feed_quiet:{state.feed}:{int(state.last_item_at.timestamp())}"
        alert = _raise(session, router, state.feed, AlertKind.FEED_HEALTH, key, body, now)
        if alert is not None:
            alerts.append(alert)
    return alerts


def quiet_deadline(state: FeedState, feed: FeedConfig) -> datetime | None:
    if state.last_item_at is None or feed.expect_activity_within is None:
        return None
    return state.last_item_at + timedelta(seconds=feed.expect_activity_within)
