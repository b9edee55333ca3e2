"""The `monitor` command: run, demo, check-config, poll, status, db upgrade."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from monitor.config import Config, ConfigError, load_config

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_CONFIG = "config.toml"


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO; URLs can carry API keys (YouTube, Trustpilot).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration is noise


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(2)


@click.group()
@click.option(
    "-c",
    "--config",
    "config_path",
    default=lambda: os.environ.get("MONITOR_CONFIG", DEFAULT_CONFIG),
    show_default="config.toml or $MONITOR_CONFIG",
    help="The TOML config file.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="social-response-monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: bool) -> None:
    """Watch what customers say about the brand; alert Slack; measure response times."""
    _setup_logging(verbose)
    ctx.obj = {"config_path": config_path}


def _config(ctx: click.Context) -> Config:
    return _load(ctx.obj["config_path"])


@cli.command("check-config")
@click.argument("file", required=False)
@click.pass_context
def check_config(ctx: click.Context, file: str | None) -> None:
    """Validate FILE (default: --config); print ok and a summary, or one line per problem."""
    config = _load(file or ctx.obj["config_path"])
    from monitor.sinks import make_sink

    click.echo(f"ok: {len(config.feeds)} feed(s), storage {_redact(config.storage.resolved_url())}")
    for feed in config.feeds:
        state = "" if feed.enabled else " (disabled)"
        channel = feed.channel or config.slack.default_channel
        click.echo(
            f"  {feed.name}: {feed.type}, every {int(feed.effective_interval)}s -> {channel}{state}"
        )
        for warning in feed.connector_cls.config_warnings(feed.options, feed.effective_interval):
            click.echo(f"  warning: {feed.name}: {warning}")
    sink = make_sink(config)
    if sink.name == "console":
        click.echo(f"  alerts: console (set {config.slack.token_env} to post to Slack)")
    else:
        click.echo(f"  alerts: Slack ({config.slack.api_url})")


def _redact(url: str) -> str:
    """Database URLs may carry a password; never print it."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Poll every feed on its interval and deliver alerts until Ctrl-C or SIGTERM."""
    from connectors.http import make_client
    from monitor.db import open_store
    from monitor.lease import SchedulerLease
    from monitor.outbox import Dispatcher
    from monitor.pipeline import Pipeline
    from monitor.routing import Router
    from monitor.scheduler import Service
    from monitor.sinks import make_sink

    config = _config(ctx)
    engine = open_store(config.storage.resolved_url())
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        logging.getLogger("monitor").info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sink = make_sink(config)
    if sink.name == "console":
        logging.getLogger("monitor").warning(
            "%s is not set: alerts are printed here instead of Slack", config.slack.token_env
        )
    slack_app = _start_slack_app(config, engine, sink)
    # a stop ends the platform requests in flight: a peer that drips never holds a SIGTERM
    with make_client(timeout=config.scheduler.http_timeout, cancel=stop) as client:
        pipeline = Pipeline(config, engine, client)
        pipeline.warm_up()
        dispatcher = Dispatcher(
            engine, sink, pace=1.0 if sink.name == "slack" else 0.0, router=Router(config)
        )
        # every instance serves Slack clicks; only the lease holder polls and delivers
        lease = SchedulerLease(engine)
        if lease.wait(stop):
            try:
                Service(config, pipeline, dispatcher).run_until(stop)
            finally:
                lease.release()
    if slack_app is not None:
        slack_app.stop()
    engine.dispose()


def _start_slack_app(config: Config, engine: Any, sink: Any) -> Any:
    """Buttons and /monitor (docs/slack_app.md) when an app token or `http_port` is set."""
    from monitor.slack_app import SlackApp

    if not SlackApp.wanted(config):
        return None
    app = SlackApp(config, engine, sink)
    for problem in app.start():
        logging.getLogger("monitor").warning("Slack app: %s", problem)
    return app


@cli.command("slack-listen")
@click.pass_context
def slack_listen(ctx: click.Context) -> None:
    """Serve Slack buttons and /monitor only (no polling): one more instance, or HTTP mode."""
    from monitor.db import open_store
    from monitor.sinks import make_sink

    config = _config(ctx)
    engine = open_store(config.storage.resolved_url())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    app = _start_slack_app(config, engine, make_sink(config))
    if app is None or not app.listeners:
        click.echo(
            f"nothing to serve: set {config.slack.app_token_env} (Socket Mode) or "
            f"[slack] http_port and {config.slack.signing_secret_env}",
            err=True,
        )
        engine.dispose()
        sys.exit(2)
    try:
        stop.wait()
    finally:
        app.stop()
        engine.dispose()


@cli.command()
@click.argument("feed")
@click.option("--dry-run", is_flag=True, help="Fetch and show; write nothing, send nothing.")
@click.pass_context
def poll(ctx: click.Context, feed: str, dry_run: bool) -> None:
    """Poll FEED once and show what was (or would be) stored and alerted."""
    from connectors.http import make_client
    from monitor.db import open_store
    from monitor.pipeline import Pipeline

    config = _config(ctx)
    try:
        config.feed(feed)
    except ConfigError as exc:
        click.echo(exc.problems[0], err=True)
        sys.exit(2)
    url = config.storage.resolved_url()
    if dry_run and url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        url = "sqlite://"  # nothing stored yet: compare against an empty in-memory store
    engine = open_store(url)
    with make_client(timeout=config.scheduler.http_timeout) as client:
        report = Pipeline(config, engine, client).poll(feed, dry_run=dry_run)
    engine.dispose()
    verb = "would store" if dry_run else "stored"
    if not report.ok:
        click.echo(f"{feed}: poll failed: {report.error}", err=True)
        sys.exit(1)
    if report.not_modified:
        click.echo(f"{feed}: not modified since the last poll (304), nothing parsed")
        return
    click.echo(
        f"{feed}: fetched {report.fetched}, {verb} {len(report.new_mentions)} new mention(s), "
        f"{report.brand_posts} brand post(s), {len(report.answered)} answered, "
        f"{len(report.alerts)} alert(s) {'would be ' if dry_run else ''}queued"
    )
    alerted = {a.mention_id for a in report.alerts}
    for mention in report.new_mentions:
        flag = "ALERT" if mention.id in alerted else "     "
        text = " ".join(mention.text.split())[:90]
        click.echo(
            f"  {flag} {mention.sentiment:<8} {mention.platform}:{mention.external_id} "
            f"by {mention.author or '?'}  {text}"
        )
    for warning in report.warnings:
        click.echo(f"  warning: {warning}", err=True)


@cli.command()
@click.argument("feed")
@click.option("--max-polls", default=10_000, show_default=True, help="Stop after this many.")
@click.pass_context
def backfill(ctx: click.Context, feed: str, max_polls: int) -> None:
    """Poll FEED until it brings nothing new (history, big imports), with a progress bar.

    Mentions older than [alerts] max_age are stored without alerting, as on a first run."""
    from connectors.http import make_client
    from monitor.db import open_store
    from monitor.pipeline import Pipeline, PollReport

    config = _config(ctx)
    try:
        config.feed(feed)
    except ConfigError as exc:
        click.echo(exc.problems[0], err=True)
        sys.exit(2)
    engine = open_store(config.storage.resolved_url())
    pages = fetched = stored = alerts = 0
    failure: str | None = None

    def shown(report: PollReport | None) -> str:
        return f"{pages} polls, {fetched:,} fetched, {stored:,} new" if report else ""

    with make_client(timeout=config.scheduler.http_timeout) as client:
        pipeline = Pipeline(config, engine, client)
        pipeline.warm_up()
        reports = pipeline.backfill(feed, max_polls=max_polls)
        # the length is unknown (the platform decides how much history there is)
        with click.progressbar(reports, label=f"backfill {feed}", item_show_func=shown) as bar:
            for report in bar:
                pages += 1
                fetched += report.fetched
                stored += len(report.new_mentions)
                alerts += len(report.alerts)
                failure = failure or (None if report.ok else report.error)
    engine.dispose()
    click.echo(f"{feed}: {pages} polls, {fetched:,} fetched, {stored:,} new, {alerts:,} alerts")
    if failure:
        click.echo(f"{feed}: stopped: {failure}", err=True)
        sys.exit(1)


@cli.command()
@click.option(
    "--problems",
    is_flag=True,
    help="Only the feeds that need a look (failing, quiet, never polled), worst first.",
)
@click.pass_context
def status(ctx: click.Context, problems: bool) -> None:
    """Show every feed's health: last success, last error, items seen, next poll."""
    from monitor.db import open_store
    from monitor.models import utcnow
    from monitor.status import render_status

    config = _config(ctx)
    engine = open_store(config.storage.resolved_url())
    click.echo(render_status(config, engine, utcnow(), problems_only=problems))
    engine.dispose()


@cli.command()
@click.option("--since", default="7d", show_default=True, help="7d, 30d, 12h or a date.")
@click.option("--until", default=None, help="A date (inclusive) or ISO time; default: now.")
@click.option(
    "--by",
    type=click.Choice(["platform", "feed", "week", "sentiment", "language"]),
    default="platform",
    show_default=True,
)
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json", "html"]), default="text")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.pass_context
def report(
    ctx: click.Context, since: str, until: str | None, by: str, fmt: str, output: Path | None
) -> None:
    """Response times for managers: TTFR, reply rate, SLA, backlog (docs/reports.md)."""
    from monitor.db import open_store
    from monitor.models import utcnow
    from monitor.reports.command import render_report

    config = _config(ctx)
    engine = open_store(config.storage.resolved_url())
    try:
        text = render_report(config, engine, since=since, until=until, by=by, fmt=fmt, now=utcnow())
    except (ValueError, RuntimeError) as exc:
        click.echo(f"report: {exc}", err=True)
        sys.exit(2)
    finally:
        engine.dispose()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@cli.command()
@click.option(
    "--dir",
    "folder",
    default="monitor-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo writes its sample file and SQLite database.",
)
def demo(folder: Path) -> None:
    """Run the whole path offline on bundled sample data; alerts go to the console."""
    from monitor.demo import run_demo
    from monitor.models import utcnow

    click.echo(run_demo(folder, utcnow()))


@cli.command()
@click.argument("text")
@click.option("--language", help="Treat the text as this language (as a platform would say).")
@click.option("--rating", type=float, help="Star rating of 5, as for a review.")
@click.pass_context
def sentiment(ctx: click.Context, text: str, language: str | None, rating: float | None) -> None:
    """Show how TEXT would be labelled: language, label, score and what decided."""
    from monitor.sentiment import explain

    path = ctx.obj["config_path"]
    config = _load(path).sentiment if os.path.exists(path) else None
    click.echo(explain(text, config, language=language, rating=rating))


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the schema migrations (also done at every start)."""
    from monitor.db import make_engine, upgrade

    config = _config(ctx)
    engine = make_engine(config.storage.resolved_url())
    upgrade(engine)
    engine.dispose()
    click.echo("database is at the newest schema")


def main() -> None:
    cli(prog_name="monitor")
