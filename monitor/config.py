"""The operator's TOML file, validated: every problem is one line naming its key path."""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from connectors import BrandIdentity, ConnectorUnavailable, connector_class
from connectors.base import Connector, ConnectorOptions, Narrowing
from connectors.durations import Duration, parse_duration
from connectors.logins import TokenStore
from connectors.replies.base import ReplyOptions
from connectors.replies.registry import replier_class
from monitor.business_hours import DAYS, BusinessCalendar, country_holidays, parse_ranges
from monitor.mention_filter import FilterSyntaxError, MentionFilter, parse_filter
from monitor.store_url import redact, url_problem

MIN_INTERVAL = 30.0
DEFAULT_DATABASE = "sqlite:///monitor.db"

MINUTE, HOUR, DAY, YEAR = 60.0, 3600.0, 86400.0, 365 * 86400.0
# No duration goes beyond this: operators write "36500d" for "all of the history", and a
# larger number is a typo (and, far enough, a datetime overflow when subtracted from now).
LONGEST = 100 * YEAR


def _spoken(seconds: float) -> str:
    """A bound in the unit a person would write it in: 30 seconds, 10 minutes, 20 years."""
    for unit, size in (("year", YEAR), ("day", DAY), ("hour", HOUR), ("minute", MINUTE)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


def _within(low: float, high: float, *, above: bool = False) -> Callable[[float], float]:
    """A check that a duration is within [low, high] (or (low, high] with `above`): refuses
    nan, inf, negatives and absurd values, naming the bound in words."""

    def check(value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f'must be a finite duration such as 300, "5m" or "4h", not {value}')
        if above and value <= low:
            raise ValueError(f"must be more than {_spoken(low)}")
        if value < low:
            raise ValueError(f"must be at least {_spoken(low)}")
        if value > high:
            raise ValueError(f"must be at most {_spoken(high)}")
        return value

    return check


def _bounded(low: float, high: float, *, above: bool = False) -> AfterValidator:
    return AfterValidator(_within(low, high, above=above))


# the durations of the config, by what they measure
Timeout = Annotated[Duration, _bounded(0, 10 * MINUTE, above=True)]
SlackTimeout = Annotated[Duration, _bounded(1, 5 * MINUTE)]  # slack_sdk wants whole seconds
Interval = Annotated[Duration, _bounded(MIN_INTERVAL, 30 * DAY)]
Target = Annotated[Duration, _bounded(0, YEAR, above=True)]
Age = Annotated[Duration, _bounded(0, LONGEST)]


class ConfigError(Exception):
    """The config is unusable; `problems` holds one "key.path: what is wrong" per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorageConfig(_Section):
    url: str = Field(
        default=DEFAULT_DATABASE,
        description="SQLAlchemy URL: `sqlite:///file.db` or `postgresql://user@host/db` "
        "(PostgreSQL needs the `postgres` extra)",
    )
    url_env: str | None = Field(
        default=None,
        description="env var holding the database URL (wins over `url`); unset is an error",
    )

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        problem = url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def source(self) -> str:
        """The key the database URL comes from, for error lines."""
        return f"storage.url_env ({self.url_env})" if self.url_env else "storage.url"

    def resolved_url(self) -> str:
        """The database URL; ConfigError when `url_env` names a variable that is unset or holds
        no usable URL (falling back to `url` would open a second, empty store)."""
        if not self.url_env:
            return self.url
        value = os.environ.get(self.url_env, "").strip()
        if not value:
            raise ConfigError(
                [
                    f"storage.url_env: {self.url_env} is not set; export the database URL in "
                    f"it, or remove url_env to use storage.url"
                ]
            )
        problem = url_problem(value)
        if problem is not None:
            raise ConfigError(
                [f"storage.url_env: {self.url_env} holds {redact(value)!r}: {problem}"]
            )
        return value


def _slack_id(kinds: str, what: str, where: str) -> Any:
    """A validator for Slack IDs, so a name (`@ana`) is refused with where to find the ID."""
    shape = re.compile(rf"^[{kinds}][A-Z0-9]{{2,20}}$")

    def check(value: str) -> str:
        value = value.strip()
        if not shape.match(value):
            raise ValueError(f"{value[:40]!r} is not a Slack {what} ID ({where})")
        return value

    return AfterValidator(check)


SlackUserId = Annotated[
    str, _slack_id("UW", "user", "U0123ABCD: profile -> ⋮ -> Copy member ID; not a name")
]
SlackGroupId = Annotated[
    str, _slack_id("S", "user group", "S0123ABCD, as usergroups.list shows it; not a handle")
]
SlackUserOrGroupId = Annotated[
    str, _slack_id("UWS", "user or user group", "U0123ABCD for a person, S0123ABCD for a group")
]


class SlackConfig(_Section):
    token_env: str = Field(
        default="SLACK_BOT_TOKEN", description="env var holding the bot token (xoxb-...)"
    )
    default_channel: str = Field(
        default="#brand-alerts", description="channel for feeds without their own `channel`"
    )
    api_url: str = Field(
        default="https://slack.com/api/",
        description="Slack Web API root: GovSlack, a proxy or a test double",
    )
    timeout: SlackTimeout = Field(default=10.0, description="per Slack API call (1 s to 5 min)")
    # Buttons and /monitor: docs/slack_app.md
    app_token_env: str = Field(
        default="SLACK_APP_TOKEN",
        description="env var holding the app-level token (xapp-...); set: Socket Mode inside `run`",
    )
    signing_secret_env: str = Field(
        default="SLACK_SIGNING_SECRET",
        description="env var holding the signing secret, for the HTTP endpoint",
    )
    http_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve buttons and /monitor over HTTP on this port instead of Socket Mode",
    )
    http_host: str = Field(
        default="127.0.0.1", description="address the HTTP endpoint listens on (behind TLS)"
    )
    command: str = Field(
        default="/monitor",
        pattern=r"^/[a-z0-9_-]{1,31}$",
        description="the slash command, as in the app manifest",
    )
    # Who may press Claim, Mark handled, Snooze and Dismiss (docs/slack_app.md)
    allowed_users: list[SlackUserId] = Field(
        default_factory=list,
        description="Slack user IDs (U… or W…) who may press the alert buttons;"
        " with `allowed_groups` also empty, anyone in the workspace may",
    )
    allowed_groups: list[SlackGroupId] = Field(
        default_factory=list,
        description="Slack user group IDs (S…) whose members may press the alert buttons"
        " (bot scope `usergroups:read`; membership is re-read every 5 minutes)",
    )

    reply_allowed: list[SlackUserOrGroupId] = Field(
        default_factory=list,
        description="who may answer customers from Slack as the brand: user IDs (U…) and user"
        " group IDs (S…); empty: the Reply button is not shown (docs/replying.md)",
    )

    def reply_access(self) -> tuple[list[str], list[str]]:
        """`reply_allowed` split into (users, groups)."""
        groups = [who for who in self.reply_allowed if who.startswith("S")]
        return [who for who in self.reply_allowed if not who.startswith("S")], groups

    def env_warnings(self) -> list[str]:
        """The optional Slack app's variables that a written key or `http_port` asks for and
        this environment does not set (the bot token has its own line in `check-config`)."""
        warnings = []
        if "app_token_env" in self.model_fields_set and not self.app_token():
            warnings.append(
                f"slack.app_token_env names {self.app_token_env}, which is not set; "
                "Socket Mode (buttons, /monitor) stays off"
            )
        if self.http_port is not None and not self.signing_secret():
            warnings.append(
                f"slack.signing_secret_env names {self.signing_secret_env}, which is not set; "
                "the HTTP endpoint on http_port refuses every request until it is"
            )
        return warnings

    def token(self) -> str | None:
        return os.environ.get(self.token_env) or None

    def app_token(self) -> str | None:
        return os.environ.get(self.app_token_env) or None

    def signing_secret(self) -> str | None:
        return os.environ.get(self.signing_secret_env) or None


def supported_languages() -> frozenset[str]:
    """ISO 639-1 codes the bundled language detector knows (lingua loads only when asked)."""
    from lingua import Language

    return frozenset(language.iso_code_639_1.name.lower() for language in Language.all())


class SentimentConfig(_Section):
    """How mentions get a label; docs/sentiment.md explains the order of decisions."""

    class Rule(_Section):
        """Phrases that force a label (`neutral` phrases are only hidden from the scorer)."""

        name: str | None = Field(
            default=None,
            max_length=30,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
            description="shown as the source `rule:<name>`; defaults to `<language>-<label>`",
        )
        language: str = Field(default="*", description="ISO 639-1 code, or * for every language")
        label: Literal["negative", "positive", "neutral"] = Field(
            description="neutral: the phrases are hidden from scoring (product names)"
        )
        phrases: list[str] = Field(
            min_length=1, description="case and accents ignored; a trailing * matches endings"
        )

        @field_validator("language")
        @classmethod
        def _language_code(cls, value: str) -> str:
            value = value.strip().lower()
            if value != "*" and not (len(value) == 2 and value.isascii() and value.isalpha()):
                raise ValueError(
                    "must be an ISO 639-1 code such as 'nl', or '*' for every language"
                )
            return value

        @field_validator("phrases")
        @classmethod
        def _phrases(cls, value: list[str]) -> list[str]:
            cleaned = [" ".join(p.split()) for p in value]
            for phrase in cleaned:
                if not phrase.rstrip("*"):
                    raise ValueError("a phrase must contain at least one letter or digit")
                if "*" in phrase.rstrip("*") or phrase.endswith("**"):
                    raise ValueError(
                        f"{phrase!r}: '*' is only allowed once, at the end (a word prefix)"
                    )
            return cleaned

        @property
        def display_name(self) -> str:
            return self.name or f"{self.language.replace('*', 'any')}-{self.label}"

    negative_below: float = Field(
        default=-0.1, ge=-1.0, le=1.0, description="polarity at or below this is negative"
    )
    positive_above: float = Field(
        default=0.1, ge=-1.0, le=1.0, description="polarity at or above this is positive"
    )
    languages: list[str] = Field(
        default_factory=lambda: "en nl de fr es pt it et af sv da nb fi pl".split(),
        min_length=1,
        description="ISO 639-1 codes the detector chooses from (each costs memory)",
    )
    brand_names: list[str] = Field(
        default_factory=list,
        description="the brand's and its products' names: ignored when detecting the language",
    )
    min_language_confidence: float = Field(
        default=0.5, ge=0.0, le=1.0, description="below this the language is `und`"
    )
    scorers: dict[str, Literal["textblob", "emoji", "none"]] = Field(
        default_factory=lambda: dict[str, Literal["textblob", "emoji", "none"]](
            {"en": "textblob", "*": "emoji"}
        ),
        description="text scorer per language; `*` for the others",
    )
    builtin_rules: bool = Field(default=True, description="ship the complaint word lists")
    plain_statements: bool = Field(
        default=False,
        description="news/press feeds only: 20+ word texts with no complaint hint are `neutral`"
        ", not `unscored` (it also hides third-person complaints)",
    )
    rules: list[Rule] = Field(
        default_factory=list, description="operator phrases, checked before the built-in ones"
    )
    rating_negative_at_most: float = Field(default=2.0, ge=0.0, le=5.0, description="stars of 5")
    rating_positive_at_least: float = Field(default=4.0, ge=0.0, le=5.0, description="stars of 5")

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        codes = [code.strip().lower() for code in value]
        unknown = [code for code in codes if code not in supported_languages()]
        if unknown:
            known = " ".join(sorted(supported_languages()))
            raise ValueError(f"unknown language code(s) {', '.join(unknown)}; known: {known}")
        return list(dict.fromkeys(codes))

    @field_validator("scorers")
    @classmethod
    def _scorer_languages(cls, value: dict[str, str]) -> dict[str, str]:
        for language, scorer in value.items():
            two_letters = len(language) == 2 and language.isascii() and language.islower()
            if language != "*" and not (two_letters and language.isalpha()):
                raise ValueError(f"{language!r}: keys are ISO 639-1 codes such as 'en', or '*'")
            if scorer == "textblob" and language != "en":
                raise ValueError(
                    f"{language}: textblob scores English only; use [[sentiment.rules]] instead"
                )
        return value

    @field_validator("positive_above", "rating_positive_at_least")
    @classmethod
    def _thresholds_ordered(cls, value: float, info: Any) -> float:
        lower = {
            "positive_above": "negative_below",
            "rating_positive_at_least": "rating_negative_at_most",
        }
        other = lower[info.field_name]
        if other in info.data and info.data[other] >= value:
            raise ValueError(f"must be higher than {other} ({info.data[other]})")
        return value


class BusinessHoursConfig(_Section):
    """Opening hours for business-time TTFR and SLAs: weekly ranges in a zone, minus holidays."""

    timezone: str = Field(default="UTC", description="IANA zone, e.g. `Europe/Amsterdam`")
    weekly: dict[str, str] = Field(
        default_factory=lambda: dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-17:00"),
        description='per day (`mon`..`sun`): `"09:00-17:00"`, `"09:00-12:00, 13:00-17:00"`; '
        "a missing day is closed",
    )
    holidays: list[date] = Field(default_factory=list, description="closed dates (local)")
    holiday_country: str | None = Field(
        default=None, description="add public holidays from the `holidays` package, e.g. `NL`"
    )
    holiday_subdivision: str | None = Field(default=None, description="e.g. `BY` for Bavaria")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: dict[str, str]) -> dict[str, str]:
        for day, ranges in value.items():
            if day not in DAYS:
                raise ValueError(f"{day!r} is not a day; use {', '.join(DAYS)}")
            try:
                parse_ranges(ranges)
            except ValueError as exc:
                raise ValueError(f"{day}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _country(self) -> BusinessHoursConfig:
        if self.holiday_country:
            try:
                country_holidays(self.holiday_country, self.holiday_subdivision)
            except NotImplementedError:
                raise ValueError(
                    f"holiday_country {self.holiday_country!r} / subdivision "
                    f"{self.holiday_subdivision!r} is not known to the holidays package"
                ) from None
        return self

    def calendar(self) -> BusinessCalendar:
        lookup = (
            country_holidays(self.holiday_country, self.holiday_subdivision)
            if self.holiday_country
            else None
        )
        return BusinessCalendar(
            self.timezone,
            {day: parse_ranges(ranges) for day, ranges in self.weekly.items()},
            self.holidays,
            lookup,
        )


class SLATarget(_Section):
    """A response-time target; unset keys fall back to the level above."""

    target: Target | None = Field(
        default=None, description="time to first response allowed (at most a year)"
    )
    clock: Literal["business", "calendar"] | None = Field(
        default=None, description="count business hours or all hours"
    )
    at_risk: float | None = Field(
        default=None, gt=0.0, lt=1.0, description="share of the target that makes it at risk"
    )


class SLAConfig(_Section):
    target: Target = Field(
        default=4 * 3600, description="default time to first response (at most a year)"
    )
    clock: Literal["business", "calendar"] = Field(
        default="business", description="count only business hours, or every hour"
    )
    at_risk: float = Field(
        default=0.75, gt=0.0, lt=1.0, description="alert when this share is used"
    )
    platforms: dict[str, SLATarget] = Field(
        default_factory=dict, description='per platform: `{ trustpilot = { target = "24h" } }`'
    )
    expire_after: Annotated[Duration, _bounded(0, LONGEST, above=True)] = Field(
        default=30 * 86400, description="open mentions older than this leave the clock (expired)"
    )
    recheck_interval: Interval = Field(
        default=600.0,
        description="how often connectors that need a thread walk re-check (30 s to 30 days)",
    )
    recheck_max_age: Age = Field(
        default=7 * 86400, description="open mentions older than this are not re-checked"
    )
    recheck_limit: int = Field(default=50, ge=1, description="mentions re-checked per feed a run")


AlertKind = Literal["negative", "unscored", "all"]


class AlertsConfig(_Section):
    on: list[AlertKind] = Field(
        default_factory=lambda: list[AlertKind](["negative"]),
        description="which mentions alert when they arrive",
    )
    max_age: Age = Field(
        default=24 * 3600,
        description="older mentions (backfill, first run) are stored but not alerted",
    )
    dispatch_interval: Annotated[Duration, _bounded(1, DAY)] = Field(
        default=5.0,
        description="how often pending alerts are retried (new ones go at once); 1 s to 1 day",
    )
    feed_failures: int = Field(
        default=3, ge=1, description="failed polls in a row before a feed_health alert"
    )
    health_channel: str | None = Field(
        default=None, description="channel for feed health and spikes (default: default_channel)"
    )
    spike_sigma: float = Field(
        default=3.0, gt=0, description="spike when the last hour exceeds mean + sigma x stddev"
    )
    spike_baseline_days: int = Field(default=14, ge=2, description="days of hourly baseline")
    spike_min_count: int = Field(
        default=5, ge=1, description="fewer mentions than this in an hour is never a spike"
    )


class QuietHoursConfig(_Section):
    """A window in which a route's alerts are held (or sent to a fallback route)."""

    timezone: str = Field(default="UTC", description="IANA zone of `start`/`end`")
    start: str = Field(description='local time the quiet window starts, e.g. "22:00"')
    end: str = Field(description='local time it ends, e.g. "07:00" (the next day if earlier)')
    days: list[str] = Field(default_factory=lambda: list(DAYS), description="days it starts on")
    fallback: str | None = Field(
        default=None, description="route that takes the alerts meanwhile (default: hold them)"
    )

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        parse_ranges(f"{value}-23:59" if value != "23:59" else "00:00-23:59")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return BusinessHoursConfig._zone(value)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        for day in value:
            if day not in DAYS:
                raise ValueError(f"{day!r} is not a day; use {', '.join(DAYS)}")
        return value


class StormConfig(_Section):
    threshold: int = Field(default=10, ge=2, description="more alerts than this in the window...")
    window: Annotated[Duration, _bounded(1, DAY)] = Field(
        default=300.0, description="...become one digest message (at most 1 day)"
    )


class RouteConfig(_Section):
    """Alerts matching every given condition go to `channel`; the first matching route wins."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="unique route name")
    channel: str = Field(description="Slack channel name or ID")
    feeds: list[str] = Field(default_factory=list, description="feed names (empty: any)")
    platforms: list[str] = Field(default_factory=list, description="platforms (empty: any)")
    sentiments: list[Literal["negative", "neutral", "positive", "unscored"]] = Field(
        default_factory=list, description="sentiment labels (empty: any)"
    )
    languages: list[str] = Field(default_factory=list, description="language codes (empty: any)")
    kinds: list[str] = Field(
        default_factory=list,
        description="alert kinds: negative, unscored, mention, sla_at_risk, sla_breached, "
        "feed_health, spike (empty: any)",
    )
    min_rating: float | None = Field(default=None, description="only ratings at least this")
    max_rating: float | None = Field(default=None, description="only ratings at most this")
    match: str | None = Field(
        default=None,
        description="only mentions this query matches, e.g. `lang:nl sentiment:negative` "
        "(docs/filters.md); alerts about no mention never match it",
    )
    mention_group: str | None = Field(
        default=None,
        pattern=r"^S[A-Z0-9]{2,20}$",
        description="Slack user group ID (S0123...) pinged on SLA breaches",
    )
    quiet_hours: QuietHoursConfig | None = Field(
        default=None, description="hold this route's alerts in a nightly window"
    )
    storm: StormConfig | None = Field(
        default=None, description="fold a burst of alerts into one digest message"
    )

    _match: MentionFilter | None = PrivateAttr(default=None)

    @field_validator("match")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        if value is not None:
            parse_filter(value)
        return value

    @property
    def mention_filter(self) -> MentionFilter | None:
        if self.match is None:
            return None
        if self._match is None:
            self._match = parse_filter(self.match)
        return self._match


class HeartbeatConfig(_Section):
    file: str | None = Field(default=None, description="touched every minute while healthy")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="serve GET /healthz on 127.0.0.1:port"
    )
    host: str = Field(default="127.0.0.1", description="address the health endpoint binds")


class FiltersConfig(_Section):
    exclude: list[str] = Field(
        default_factory=list,
        description="queries whose matches are dropped from every feed: the brand's staff "
        "accounts, job boards (docs/filters.md)",
    )

    _compiled: list[MentionFilter] | None = PrivateAttr(default=None)

    @field_validator("exclude")
    @classmethod
    def _queries(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            try:
                parse_filter(value)
            except FilterSyntaxError as exc:
                raise ValueError(f"[{index}]: {exc}") from None
        return values

    def excludes(self) -> list[MentionFilter]:
        if self._compiled is None:
            self._compiled = [parse_filter(q) for q in self.exclude]
        return self._compiled


class ReplyTemplateConfig(_Section):
    name: str = Field(min_length=1, max_length=75, description="what the agent picks in the modal")
    text: str = Field(min_length=1, max_length=3000, description="the reply it fills in")
    language: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}$",
        description="offered only for mentions in this language (ISO 639-1); none: for all",
    )


class ReplyConfig(_Section):
    templates: list[ReplyTemplateConfig] = Field(
        default_factory=list,
        description="canned replies offered in the Reply modal ([[reply.templates]])",
    )

    def templates_for(self, language: str | None) -> list[ReplyTemplateConfig]:
        """The mention's language's templates first, then those for every language."""
        own = [t for t in self.templates if language and t.language == language]
        return own + [t for t in self.templates if t.language is None]


class MetaWebhookConfig(_Section):
    enabled: bool = Field(
        default=False,
        description="serve Meta's webhook (Facebook Page comments and ratings, Instagram "
        "comments) on the HTTP endpoint of `[slack] http_port`",
    )
    path: str = Field(
        default="/meta/webhook",
        pattern=r"^/[A-Za-z0-9/_-]{1,100}$",
        description="the path of the callback URL given to Meta (not /slack/events)",
    )
    app_secret_env: str = Field(
        default="META_APP_SECRET",
        description="env var holding the Meta app's secret: checks X-Hub-Signature-256",
    )
    verify_token_env: str = Field(
        default="META_WEBHOOK_VERIFY_TOKEN",
        description="env var holding the verify token typed into the app's Webhooks settings",
    )

    def env_warnings(self) -> list[str]:
        """What an enabled webhook needs from the environment and does not have."""
        if not self.enabled:
            return []
        return [
            f"meta_webhook.{key} names {name}, which is not set; {what}"
            for key, name, what in (
                ("app_secret_env", self.app_secret_env, "every notification is refused"),
                ("verify_token_env", self.verify_token_env, "Meta cannot verify the callback URL"),
            )
            if not os.environ.get(name)
        ]

    def app_secret(self) -> str | None:
        return os.environ.get(self.app_secret_env) or None

    def verify_token(self) -> str | None:
        return os.environ.get(self.verify_token_env) or None


class SchedulerConfig(_Section):
    jitter: Annotated[Duration, _bounded(0, HOUR)] = Field(
        default=10.0, description="random delay added to each poll (at most 1 h)"
    )
    misfire_grace: Annotated[Duration, _bounded(1, DAY)] = Field(
        default=60.0, description="a poll later than this after its time is skipped (1 s to 1 day)"
    )
    http_timeout: Timeout = Field(
        default=20.0,
        description=(
            "the whole of one platform request, redirects included: connecting (10 s at "
            "most), sending, and reading the complete answer however slowly it comes "
            "(at most 10 min)"
        ),
    )
    concurrency: int = Field(default=8, ge=1, le=64, description="feeds polled at the same time")
    per_host: int = Field(
        default=4, ge=1, le=64, description="at most this many requests at once to one host"
    )


class WorkersConfig(_Section):
    """Worker mode on PostgreSQL (`monitor worker`, docs/workers.md): processes share jobs."""

    concurrency: int = Field(
        default=8, ge=1, le=64, description="jobs at once in one worker process (polls mostly wait)"
    )
    listen_notify: bool = Field(
        default=True,
        description="hear of new jobs at once; false behind PgBouncer in transaction mode",
    )
    fetch_every: Annotated[Duration, _bounded(0.1, MINUTE)] = Field(
        default=2.0, description="how often an idle worker looks for jobs besides notifications"
    )
    stalled_after: Annotated[Duration, _bounded(10, HOUR)] = Field(
        default=30.0,
        description=(
            "a worker silent this long has its jobs taken over; it stops acting well before "
            "(at least 5 s + the longest Slack call + 5 s: 22 s by default)"
        ),
    )
    stop_timeout: Annotated[Duration, _bounded(1, HOUR)] = Field(
        default=30.0, description="on SIGTERM, jobs in flight get this long to finish"
    )


class IdentityConfig(_Section):
    platform: str = Field(description="the platform name, as in the sources table")
    handle: str | None = Field(default=None, description="username / login / handle")
    id: str | None = Field(default=None, description="account id, DID or channel id")
    bot: bool = Field(default=False, description="replies by this identity don't stop the clock")

    def identity(self) -> BrandIdentity:
        return BrandIdentity(
            platform=self.platform, handle=self.handle, account_id=self.id, bot=self.bot
        )


class BrandConfig(_Section):
    name: str = Field(default="our brand", description="shown in reports and digests")
    identities: list[IdentityConfig] = Field(
        default_factory=list, description="the accounts whose replies count as the brand's"
    )


class DigestConfig(_Section):
    """The weekly digest posted to Slack: last week's headline numbers against the week before."""

    enabled: bool = Field(default=False, description="post the digest on the schedule below")
    channel: str | None = Field(default=None, description="default: `slack.default_channel`")
    day_of_week: str = Field(default="mon", description="cron day(s): `mon`, `mon-fri`, `0`")
    hour: int = Field(default=9, ge=0, le=23, description="local hour in `reports.timezone`")
    minute: int = Field(default=0, ge=0, le=59, description="minute of `hour`")
    slowest: int = Field(default=3, ge=0, le=20, description="slowest open mentions linked")
    report_url: str | None = Field(
        default=None, description="link to the full report (e.g. where the HTML is published)"
    )

    @field_validator("day_of_week")
    @classmethod
    def _cron_day(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger(day_of_week=value)
        except ValueError:
            raise ValueError(f"{value!r} is not a cron day such as mon or mon-fri") from None
        return value


class ReportsConfig(_Section):
    """Response-time reports (`monitor report`) and the weekly Slack digest."""

    timezone: str | None = Field(
        default=None,
        description="IANA zone weeks and dates are cut in; default: `business_hours.timezone`",
    )
    digest: DigestConfig = Field(
        default_factory=DigestConfig, description="the weekly manager digest posted to Slack"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


ConnectorClass = type[Connector[Any]]


class FeedConfig(BaseModel):
    """One feed; keys beyond the common ones belong to the feed's type and are checked there."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="unique; letters, digits, `-`, `_`, `.`",
    )
    type: str = Field(description="the connector: see the sources table")
    interval: Interval | None = Field(
        default=None, description="between polls, 30 s to 30 days; default: the connector's"
    )
    channel: str | None = Field(default=None, description="Slack channel for this feed's alerts")
    enabled: bool = Field(default=True, description="false keeps the feed configured, not polled")
    base_url: str | None = Field(
        default=None, description="API root: self-hosted instances, proxies, test doubles"
    )
    business_hours: BusinessHoursConfig | None = Field(
        default=None, description="this feed's own opening hours (a table like `[business_hours]`)"
    )
    sla: SLATarget | None = Field(default=None, description="this feed's own SLA target")
    expect_activity_within: Target | None = Field(
        default=None,
        description="no new item for this long raises a feed_health alert (at most a year)",
    )
    filter: str | None = Field(
        default=None,
        description="keep only the mentions this query matches (docs/filters.md); the others "
        "are counted, not stored",
    )
    reply: dict[str, Any] | None = Field(
        default=None,
        description="the write credentials that let agents answer from Slack: keys per type in"
        " docs/sources/ (docs/replying.md)",
    )

    _options: ConnectorOptions | None = PrivateAttr(default=None)
    _reply_options: ReplyOptions | None = PrivateAttr(default=None)
    _connector: ConnectorClass | None = PrivateAttr(default=None)
    _filter: MentionFilter | None = PrivateAttr(default=None)

    @field_validator("filter")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        if value is not None:
            parse_filter(value)  # FilterSyntaxError is a ValueError: "column 14: ..."
        return value

    @property
    def mention_filter(self) -> MentionFilter | None:
        """The feed's `filter`, parsed once."""
        if self.filter is None:
            return None
        if self._filter is None:
            self._filter = parse_filter(self.filter)
        return self._filter

    def env_warnings(self) -> list[str]:
        """One line per `*_env` key naming a variable this environment does not set, for
        `check-config`: without it the problem shows only when a poll fails on it."""
        warnings = [
            f"{key} names {variable}, which is not set; the feed's polls fail until it is"
            for key, variable in _unset_env(self.options)
        ]
        if self._reply_options is not None:
            warnings += [
                f"reply.{key} names {variable}, which is not set; the feed shows no Reply"
                " button until it is"
                for key, variable in _unset_env(self._reply_options)
            ]
        return warnings

    @property
    def reply_options(self) -> ReplyOptions | None:
        """The feed's validated `reply` keys; None when it has none."""
        return self._reply_options

    @property
    def options(self) -> ConnectorOptions:
        assert self._options is not None, "FeedConfig used before load_config validated it"
        return self._options

    @property
    def connector_cls(self) -> ConnectorClass:
        assert self._connector is not None
        return self._connector

    @property
    def effective_interval(self) -> float:
        return self.interval or float(self.connector_cls.default_interval)

    @property
    def streaming(self) -> bool:
        """A live stream feed (connectors/streams.py): read continuously, never polled."""
        return bool(getattr(self.connector_cls, "streaming", False))


class Config(_Section):
    storage: StorageConfig = Field(default_factory=StorageConfig, description="the database")
    slack: SlackConfig = Field(default_factory=SlackConfig, description="where alerts go")
    sentiment: SentimentConfig = Field(
        default_factory=SentimentConfig, description="how mentions get a label"
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="what is alerted")
    scheduler: SchedulerConfig = Field(
        default_factory=SchedulerConfig, description="polling pace and limits"
    )
    brand: BrandConfig = Field(
        default_factory=BrandConfig, description="the brand and its accounts"
    )
    business_hours: BusinessHoursConfig = Field(
        default_factory=BusinessHoursConfig, description="when the team answers"
    )
    sla: SLAConfig = Field(default_factory=SLAConfig, description="time to first response targets")
    reports: ReportsConfig = Field(default_factory=ReportsConfig, description="reports and digest")
    routes: list[RouteConfig] = Field(
        default_factory=list, description="alert routes, first match wins"
    )
    heartbeat: HeartbeatConfig = Field(
        default_factory=HeartbeatConfig, description="liveness for a process supervisor"
    )
    workers: WorkersConfig = Field(
        default_factory=WorkersConfig, description="worker mode on PostgreSQL"
    )
    filters: FiltersConfig = Field(
        default_factory=FiltersConfig, description="queries that drop noise from every feed"
    )
    meta_webhook: MetaWebhookConfig = Field(
        default_factory=MetaWebhookConfig,
        description="comments from Facebook and Instagram in seconds",
    )
    reply: ReplyConfig = Field(
        default_factory=ReplyConfig, description="answering customers from Slack"
    )
    feeds: list[FeedConfig] = Field(
        default_factory=list, exclude=True, description="the sources watched"
    )

    _path: Path | None = PrivateAttr(default=None)
    # name -> feed, built on first use: every poll looks its feed up, and scanning 1,000
    # feeds for each was 5 % of a cycle of 304s (bench/poll_bench.py). Rebuilt whenever
    # the list's length changed (parse_config appends to it; names are unique).
    _feed_index: dict[str, FeedConfig] = PrivateAttr(default_factory=dict)

    @property
    def config_dir(self) -> Path:
        return self._path.parent if self._path else Path.cwd()

    def identities(self) -> list[BrandIdentity]:
        return [i.identity() for i in self.brand.identities]

    def find_feed(self, name: str) -> FeedConfig | None:
        """The feed named `name`, or None; a dict lookup (the router and the SLA clocks ask
        once per mention, every poll once)."""
        if len(self._feed_index) != len(self.feeds):
            self._feed_index = {feed.name: feed for feed in self.feeds}
        return self._feed_index.get(name)

    def feed(self, name: str) -> FeedConfig:
        found = self.find_feed(name)
        if found is not None:
            return found
        known = ", ".join(f.name for f in self.feeds) or "none"
        raise ConfigError([f"no feed named {name!r} (feeds: {known})"])

    def build_connector(
        self,
        feed: FeedConfig,
        logins: TokenStore | None = None,
        narrowing: Narrowing | None = None,
    ) -> Connector[Any]:
        """The feed's connector; `narrowing` is what of its filters the platform's search may
        apply first (monitor/ingest/pushdown.py; none unless given)."""
        return feed.connector_cls(
            feed.options,
            feed_name=feed.name,
            identities=self.identities(),
            base_url=feed.base_url,
            config_dir=self.config_dir,
            logins=logins,
            narrowing=narrowing,
        )


def _unset_env(options: BaseModel) -> list[tuple[str, str]]:
    """(key, variable) for the options' `*_env` keys whose variable is unset or empty.

    Keys the operator wrote always count. Defaults count only when the feed writes no `*_env`
    key of its own: writing one (`access_token_env`, say) picks a way to log in that the
    defaults (`client_id_env`...) may not belong to."""
    named = {
        key: value
        for key, value in options
        if key.endswith("_env") and isinstance(value, str) and value
    }
    written = set(named) & options.model_fields_set
    keys = written or set(named)
    return [
        (key, named[key])
        for key in named
        if key in keys and not os.environ.get(named[key], "").strip()
    ]


@dataclass
class _Problem:
    loc: tuple[str | int, ...]
    message: str


def _key_path(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


_SECRET_HINTS = {"token", "password", "secret", "api_key", "key", "client_secret"}


def _message(
    error: Any, model: type[BaseModel] | None, extra_fields: list[str] | None = None
) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        if key in _SECRET_HINTS:
            return "unknown key: secrets are never written in the config; name an env var instead"
        fields = [*(model.model_fields if model else []), *(extra_fields or [])]
        close = difflib.get_close_matches(key, fields, n=1)
        return "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "missing":
        return "is required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model that owns the last key of `loc`, to suggest a close field name."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return model


def _problems_from(
    exc: ValidationError, root: type[BaseModel], prefix: tuple[Any, ...] = ()
) -> Iterator[_Problem]:
    for error in exc.errors():
        loc = tuple(error["loc"])
        yield _Problem(prefix + loc, _message(error, _model_at(root, loc)))


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a parsed TOML document; raise ConfigError listing every problem at once."""
    problems: list[_Problem] = []
    raw_feeds = data.get("feeds", [])
    if not isinstance(raw_feeds, list):
        raise ConfigError(["feeds: must be a list of [[feeds]] tables"])
    config = Config()
    try:
        config = Config.model_validate({k: v for k, v in data.items() if k != "feeds"})
    except ValidationError as exc:
        problems.extend(_problems_from(exc, Config))
    config._path = path
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_feeds):
        feed = _parse_feed(raw, ("feeds", index), problems)
        if feed is None:
            continue
        if feed.name in seen:
            problems.append(
                _Problem(("feeds", index, "name"), f"duplicate of feeds[{seen[feed.name]}]")
            )
        seen.setdefault(feed.name, index)
        config.feeds.append(feed)
    problems.extend(_route_problems(config))
    problems.extend(_webhook_problems(config))
    problems.extend(_stream_problems(config, seen))
    if problems:
        raise ConfigError(_format(problems, data))
    return config


def _stream_problems(config: Config, indexes: dict[str, int]) -> list[_Problem]:
    """A stream feed's `fill_feed` names a polled feed of the same network."""
    problems = []
    by_name = {feed.name: feed for feed in config.feeds}
    for feed in config.feeds:
        fill = getattr(feed.options, "fill_feed", None) if feed.streaming else None
        if not fill:
            continue
        where = ("feeds", indexes[feed.name], "fill_feed")
        target = by_name.get(fill)
        if target is None:
            problems.append(_Problem(where, f"no feed named {fill!r}"))
        elif target.streaming or target.connector_cls.platform != feed.connector_cls.platform:
            problems.append(
                _Problem(
                    where,
                    f"{fill!r} is a {target.type} feed; a gap in a {feed.type} feed is filled "
                    f"by a polled {feed.connector_cls.platform} feed",
                )
            )
    return problems


def _webhook_problems(config: Config) -> list[_Problem]:
    hook = config.meta_webhook
    if not hook.enabled:
        return []
    where = ("meta_webhook",)
    problems = []
    if config.slack.http_port is None:
        problems.append(
            _Problem((*where, "enabled"), "needs [slack] http_port: the endpoint it is served on")
        )
    if hook.path == "/slack/events":
        problems.append(_Problem((*where, "path"), "/slack/events is Slack's own path"))
    return problems


def _route_problems(config: Config) -> list[_Problem]:
    problems: list[_Problem] = []
    names = [route.name for route in config.routes]
    feeds = {feed.name for feed in config.feeds}
    for index, route in enumerate(config.routes):
        where = ("routes", index)
        if names.index(route.name) != index:
            problems.append(
                _Problem((*where, "name"), f"duplicate of routes[{names.index(route.name)}]")
            )
        for feed in route.feeds:
            if feed not in feeds:
                problems.append(_Problem((*where, "feeds"), f"no feed named {feed!r}"))
        quiet = route.quiet_hours
        if quiet and quiet.fallback is not None and quiet.fallback not in names:
            problems.append(
                _Problem((*where, "quiet_hours", "fallback"), f"no route named {quiet.fallback!r}")
            )
        if quiet and quiet.fallback == route.name:
            problems.append(
                _Problem((*where, "quiet_hours", "fallback"), "a route cannot fall back to itself")
            )
    return problems


def _parse_feed(
    raw: Any, where: tuple[str | int, ...], problems: list[_Problem]
) -> FeedConfig | None:
    """Common keys by FeedConfig, the rest by the connector's own Options model."""
    if not isinstance(raw, dict):
        problems.append(_Problem(where, "must be a [[feeds]] table"))
        return None
    cls: ConnectorClass | None = None
    if isinstance(raw.get("type"), str):
        try:
            cls = connector_class(raw["type"])
        except ConnectorUnavailable as exc:
            problems.append(_Problem((*where, "type"), str(exc)))
    if _stack_exchange_filter(raw):
        problems.append(
            _Problem(
                (*where, "filter"),
                f"{raw['filter']!r} is a Stack Exchange API filter: write it as `api_filter`"
                " (`filter` is the query language of every feed: docs/filters.md)",
            )
        )
        return None
    common = set(FeedConfig.model_fields)
    feed: FeedConfig | None = None
    try:
        feed = FeedConfig.model_validate({k: v for k, v in raw.items() if k in common})
    except ValidationError as exc:
        problems.extend(_problems_from(exc, FeedConfig, where))
    if cls is None:
        return None
    try:
        options = cls.Options.model_validate({k: v for k, v in raw.items() if k not in common})
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            message = _message(error, cls.Options, extra_fields=sorted(common))
            problems.append(_Problem((*where, *loc), message))
        return None
    problems.extend(_connector_duration_problems(options, where))
    reply = _reply_options(raw, where, problems)
    if feed is not None:
        feed._options, feed._connector, feed._reply_options = options, cls, reply
    return feed


def _reply_options(
    raw: dict[str, Any], where: tuple[str | int, ...], problems: list[_Problem]
) -> ReplyOptions | None:
    """A feed's `reply` table, checked by its platform's writer (connectors/replies/)."""
    table = raw.get("reply")
    if table is None or not isinstance(raw.get("type"), str):
        return None
    writer = replier_class(raw["type"])
    if writer is None:
        problems.append(
            _Problem(
                (*where, "reply"), f"{raw['type']} has no API to reply with (docs/replying.md)"
            )
        )
        return None
    if not isinstance(table, dict):
        return None  # FeedConfig said it must be a table
    try:
        return writer.Options.model_validate(table)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            problems.append(_Problem((*where, "reply", *loc), _message(error, writer.Options)))
        return None


# Stack Exchange's built-in filters, and the form of a custom one ("!nNPvSNdWme"): the value
# a stackexchange feed's `filter` key held before that key became the query language
_SE_FILTERS = {"default", "withbody", "none", "total"}


def _stack_exchange_filter(raw: dict[str, Any]) -> bool:
    value = raw.get("filter")
    return (
        raw.get("type") == "stackexchange"
        and isinstance(value, str)
        and (value in _SE_FILTERS or value.startswith("!"))
    )


_check_age = _within(0, LONGEST)


def _connector_duration_problems(
    options: ConnectorOptions, where: tuple[str | int, ...]
) -> list[_Problem]:
    """A connector's own durations (`backfill`, `overlap`...) get the sanity bounds too: the
    connectors parse them, the config says what is absurd."""
    problems = []
    for name, field in type(options).model_fields.items():
        if not any(getattr(meta, "func", None) is parse_duration for meta in field.metadata):
            continue
        value = getattr(options, name)
        try:
            _check_age(value)
        except ValueError as exc:
            problems.append(_Problem((*where, name), str(exc)))
    return problems


def _format(problems: list[_Problem], data: dict[str, Any]) -> list[str]:
    lines = []
    feeds = data.get("feeds") if isinstance(data.get("feeds"), list) else []
    for problem in problems:
        line = f"{_key_path(problem.loc)}: {problem.message}"
        loc = problem.loc
        if len(loc) >= 2 and loc[0] == "feeds" and isinstance(loc[1], int) and feeds:
            feed = feeds[loc[1]] if loc[1] < len(feeds) else None
            if isinstance(feed, dict) and isinstance(feed.get("name"), str):
                line += f" (feed {feed['name']!r})"
        lines.append(line)
    return lines


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    return parse_config(data, path.resolve())
