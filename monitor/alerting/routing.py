"""Which channel an alert goes to: the first matching route, else the feed's or the default."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.business_hours import DAYS
from monitor.config import Config, QuietHoursConfig, RouteConfig
from monitor.mention_filter import Subject

DEFAULT_ROUTE = "default"
HEALTH_KINDS = ("feed_health", "feed_recovered", "spike")
ROUTE_CACHE = 4096  # remembered routing decisions
# kind, feed, platform, sentiment, rating, language: all that `route` decides by
_Key = tuple[str, str | None, str | None, str | None, float | None, str | None]


@dataclass(frozen=True)
class Destination:
    route: str
    channel: str


class Router:
    """Matches alerts to the operator's `[[routes]]` in order."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.routes = {route.name: route for route in config.routes}
        # Routing depends on these six values and the (fixed) config only; a page's alerts
        # repeat a handful of combinations (bench/ingest_bench.py: 3 % of ingest time).
        self._decided: dict[_Key, Destination] = {}
        # a route with a `match` query reads the mention itself: no cached decision then
        self._matching = any(route.match for route in config.routes)

    def route(
        self,
        *,
        kind: str,
        feed: str | None,
        platform: str | None = None,
        sentiment: str | None = None,
        rating: float | None = None,
        language: str | None = None,
        subject: Subject | None = None,
    ) -> Destination:
        """`subject`: the mention the alert is about, for routes with a `match` query."""
        key = (kind, feed, platform, sentiment, rating, language)
        if self._matching:
            return self._route(key, subject)
        found = self._decided.get(key)
        if found is None:
            if len(self._decided) >= ROUTE_CACHE:
                self._decided.clear()  # a bound; the keys are few in practice
            found = self._decided[key] = self._route(key)
        return found

    def _route(self, key: _Key, subject: Subject | None = None) -> Destination:
        kind, feed = key[0], key[1]
        for route in self.config.routes:
            query = route.mention_filter
            if query is not None and (subject is None or not query.matches(subject)):
                continue
            if _matches(route, *key):
                return Destination(route.name, route.channel)
        if kind in HEALTH_KINDS and self.config.alerts.health_channel:
            return Destination(DEFAULT_ROUTE, self.config.alerts.health_channel)
        feed_config = self.config.find_feed(feed) if feed is not None else None
        channel = (
            feed_config.channel
            if feed_config and feed_config.channel
            else self.config.slack.default_channel
        )
        return Destination(DEFAULT_ROUTE, channel)

    def get(self, name: str | None) -> RouteConfig | None:
        return self.routes.get(name or "")


def _matches(
    route: RouteConfig,
    kind: str,
    feed: str | None,
    platform: str | None,
    sentiment: str | None,
    rating: float | None,
    language: str | None,
) -> bool:
    checks: list[tuple[Sequence[str], str | None]] = [
        (route.kinds, kind),
        (route.feeds, feed),
        (route.platforms, platform),
        (route.sentiments, sentiment),
        (route.languages, language),
    ]
    if any(allowed and value not in allowed for allowed, value in checks):
        return False
    if route.min_rating is not None and (rating is None or rating < route.min_rating):
        return False
    return not (route.max_rating is not None and (rating is None or rating > route.max_rating))


def quiet_until(quiet: QuietHoursConfig, now: datetime) -> datetime | None:
    """The end of the quiet window `now` falls in, or None when the route is awake."""
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    start, end = _clock(quiet.start), _clock(quiet.end)
    # the window started today or, for overnight windows, yesterday
    for days_back in (0, 1):
        day = local.date() - timedelta(days=days_back)
        if DAYS[day.weekday()] not in quiet.days:
            continue
        opens = datetime.combine(day, start, zone)
        closes = datetime.combine(day if end > start else day + timedelta(days=1), end, zone)
        if opens <= local < closes:
            return closes
    return None


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def mention_subject(mention: object) -> Subject:
    """What a route's `match` judges of a stored mention (a Mention row or a NewMention)."""
    return Subject(
        text=getattr(mention, "text", "") or "",
        title=getattr(mention, "title", None),
        author=getattr(mention, "author", None),
        author_id=getattr(mention, "author_id", None),
        url=getattr(mention, "url", None),
        platform=getattr(mention, "platform", "") or "",
        language=getattr(mention, "language", None),
        rating=getattr(mention, "rating", None),
        sentiment=getattr(mention, "sentiment", None),
        is_reply=getattr(mention, "parent_id", None) is not None,
    )
