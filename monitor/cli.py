"""The `monitor` command: run, demo, check-config, poll, backfill, recheck, status, report, db."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from connectors.redact import redact_urls
from monitor.config import Config, ConfigError, load_config
from monitor.redaction import LOG_FILTER, config_secrets, install_log_filter, log_uncaught_errors
from monitor.store_url import StoreError, backend

DEFAULT_CONFIG = "config.toml"


def _setup_logging(verbose: bool) -> None:
    ours = not logging.getLogger().handlers  # not a host's (pytest's) handlers to change
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if ours:  # every record, at every level, loses secrets and URL queries (monitor/redaction.py)
        install_log_filter()
    # httpx logs every request URL at INFO: with -v only, redacted as every other line
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose and ours else logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration is noise
    # procrastinate logs every job's start and end, and every periodic deferral, at INFO
    logging.getLogger("procrastinate").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _load(path: str) -> Config:
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(2)
    LOG_FILTER.secrets.add(config_secrets(config))
    return config


class _Monitor(click.Group):
    """Start-up failures of every command end in one line on stderr and exit 2: a config the
    environment does not complete (`url_env` unset), a database that cannot be opened, a file
    or folder the command cannot write."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            ctx.exit(2)
        except StoreError as exc:
            config = (ctx.obj or {}).get("config")
            key = config.storage.source if isinstance(config, Config) else "storage.url"
            click.echo(f"{key}: {' '.join(str(exc).split())}", err=True)  # one line, always
            ctx.exit(2)
        except OSError as exc:
            if exc.filename is None:
                raise  # not about a path the operator chose: keep the trace
            click.echo(f"cannot use {exc.filename}: {exc.strerror}", err=True)
            ctx.exit(2)


@click.group(cls=_Monitor)
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
    config = _load(ctx.obj["config_path"])
    ctx.obj["config"] = config  # names the storage key if the database cannot be opened
    return config


@cli.command("check-config")
@click.argument("file", required=False)
@click.pass_context
def check_config(ctx: click.Context, file: str | None) -> None:
    """Validate FILE (default: --config) and that its database can be opened; print ok and a
    summary with warnings (env vars not set), or one line per problem and exit 2."""
    from monitor.alerting.sinks import make_sink
    from monitor.store.db import check_store

    config = _load(file or ctx.obj["config_path"])
    ctx.obj["config"] = config
    url = config.storage.resolved_url()
    check_store(url)
    click.echo(f"ok: {len(config.feeds)} feed(s), storage {redact_urls(url)}")
    for feed in config.feeds:
        state = "" if feed.enabled else " (disabled)"
        channel = feed.channel or config.slack.default_channel
        click.echo(
            f"  {feed.name}: {feed.type}, every {int(feed.effective_interval)}s -> {channel}{state}"
        )
        warnings = feed.connector_cls.config_warnings(feed.options, feed.effective_interval)
        if feed.enabled:
            warnings += feed.env_warnings()
        for warning in warnings:
            click.echo(f"  warning: {feed.name}: {warning}")
    for warning in config.slack.env_warnings() + config.meta_webhook.env_warnings():
        click.echo(f"  warning: {warning}")
    _check_replies(config)
    sink = make_sink(config)
    if sink.name == "console":
        click.echo(f"  alerts: console (set {config.slack.token_env} to post to Slack)")
    else:
        click.echo(f"  alerts: Slack ({config.slack.api_url})")


def _check_replies(config: Config) -> None:
    """Say where the Reply button shows, and why it does not where a feed asks for it."""
    from monitor.replying.writers import reply_feeds

    asking = [feed.name for feed in config.feeds if feed.reply_options is not None]
    if not asking:
        return
    ready = reply_feeds(config)
    if not config.slack.reply_allowed:
        click.echo(
            f"  warning: {len(asking)} feed(s) have write credentials, but [slack]"
            " reply_allowed is empty: no alert shows a Reply button"
        )
    elif ready:
        click.echo(f"  replies: from Slack on {', '.join(sorted(ready))}")


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Poll every feed on its interval and deliver alerts until Ctrl-C or SIGTERM.

    On PostgreSQL this is one worker (`monitor worker`) that also serves Slack clicks."""
    from monitor.store.db import check_store

    config = _config(ctx)
    url = config.storage.resolved_url()
    check_store(url)  # a store that cannot be used is named before its lock file is
    if backend(url) == "postgresql":
        sys.exit(_run_worker(config, config.workers.concurrency, serve_clicks=True))
    _run_single(config, url)


def _run_single(config: Config, url: str) -> None:
    """SQLite: one process, APScheduler, the file locked against a second `run`."""
    from connectors.http import make_client
    from monitor.alerting.outbox import Dispatcher
    from monitor.alerting.routing import Router
    from monitor.alerting.sinks import make_sink
    from monitor.ingest.pipeline import Pipeline
    from monitor.leadership.instance_lock import InstanceLocked, hold_instance_lock, sqlite_file
    from monitor.replying.writers import reply_feeds
    from monitor.scheduler import Service
    from monitor.store.db import open_store

    database = sqlite_file(url)
    try:
        # held until the process ends: a second `run` on the same SQLite file is refused
        instance = hold_instance_lock(database) if database else None
    except InstanceLocked as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    engine = open_store(url)
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        logging.getLogger("monitor").info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sink = make_sink(config)
    _announce_sink(config, sink)
    slack_app = _start_slack_app(config, engine, sink)
    # a stop ends the platform requests in flight: a peer that drips never holds a SIGTERM
    with make_client(timeout=config.scheduler.http_timeout, cancel=stop) as client:
        pipeline = Pipeline(config, engine, client)
        pipeline.warm_up()
        if slack_app is not None:
            slack_app.attach(pipeline)  # the webhook stores through this process's pipeline
        dispatcher = Dispatcher(
            engine,
            sink,
            pace=1.0 if sink.name == "slack" else 0.0,
            router=Router(config),
            replyable=reply_feeds(config),
        )
        service = Service(config, pipeline, dispatcher)
        service.start()
        try:
            stop.wait()
        finally:
            service.stop()
    if slack_app is not None:
        slack_app.stop()
    engine.dispose()
    if instance is not None:
        instance.release()


def _announce_sink(config: Config, sink: Any) -> None:
    from monitor.alerting.sinks import clicks_served

    if sink.name == "console":
        logging.getLogger("monitor").warning(
            "%s is not set: alerts are printed here instead of Slack", config.slack.token_env
        )
    served = clicks_served(config)
    if served:
        logging.getLogger("monitor").info("Slack buttons: clicks are served by %s", served)
    else:
        logging.getLogger("monitor").info(
            "Slack buttons: off, nothing would serve a click (set %s for Socket Mode, "
            "or [slack] http_port and %s)",
            config.slack.app_token_env,
            config.slack.signing_secret_env,
        )


def _run_worker(config: Config, concurrency: int, *, serve_clicks: bool) -> int:
    """One worker on the job queue (PostgreSQL); its exit status."""
    from monitor.alerting.sinks import make_sink
    from monitor.leadership.session_names import session_name
    from monitor.store.db import open_store

    try:
        from monitor.cluster.worker import run_worker
    except ImportError as exc:
        raise ConfigError(
            [
                "storage.url: PostgreSQL runs the monitor as workers on a job queue, which "
                "needs procrastinate: pip install 'social-response-monitor[distributed]' "
                f"({exc})"
            ]
        ) from None
    # every connection of this process shows in pg_stat_activity as this worker (libpq reads
    # PGAPPNAME where a connection names itself not: the presence connection does)
    os.environ.setdefault("PGAPPNAME", session_name("worker"))
    engine = open_store(config.storage.resolved_url())
    sink = make_sink(config)
    _announce_sink(config, sink)
    slack_app = _start_slack_app(config, engine, sink) if serve_clicks else None
    try:
        return run_worker(config, engine, sink, concurrency=concurrency)
    finally:
        if slack_app is not None:
            slack_app.stop()
        engine.dispose()


@cli.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Jobs at once in this process (default: [workers] concurrency).",
)
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None) -> None:
    """Take polls, re-checks and deliveries from the shared job queue (PostgreSQL).

    Run as many as wanted, on any hosts: one process a core. Slack clicks are served by
    `monitor slack-listen` (or `monitor run`)."""
    from monitor.store.db import check_store

    config = _config(ctx)
    url = config.storage.resolved_url()
    if backend(url) != "postgresql":
        click.echo(
            "storage.url: workers share their jobs through PostgreSQL; on SQLite run "
            "`monitor run` (one process)",
            err=True,
        )
        sys.exit(2)
    check_store(url)
    sys.exit(_run_worker(config, concurrency or config.workers.concurrency, serve_clicks=False))


def _start_slack_app(config: Config, engine: Any, sink: Any) -> Any:
    """Buttons and /monitor (docs/slack_app.md) when an app token or `http_port` is set, and
    the Meta webhook on the same HTTP endpoint when `[meta_webhook] enabled`."""
    from monitor.slack.app import SlackApp
    from monitor.webhooks.meta import MetaWebhook

    if not SlackApp.wanted(config):
        return None
    hook = config.meta_webhook
    routes = {hook.path: MetaWebhook(config, engine)} if hook.enabled else {}
    app = SlackApp(config, engine, sink, routes=routes)
    for problem in app.start():
        logging.getLogger("monitor").warning("Slack app: %s", problem)
    return app


@cli.command("slack-listen")
@click.pass_context
def slack_listen(ctx: click.Context) -> None:
    """Serve Slack buttons and /monitor only (no polling): one more instance, or HTTP mode."""
    from monitor.alerting.sinks import make_sink
    from monitor.store.db import open_store

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
    from monitor.ingest.filtering import FeedFilters
    from monitor.ingest.pipeline import Pipeline
    from monitor.ingest.pushdown import why_not_sent
    from monitor.store.db import open_store

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
        pipeline = Pipeline(config, engine, client)
        report = pipeline.poll(feed, dry_run=dry_run)
        # after the poll: a platform that refused the filters' part is sent none of it since
        sent = pipeline.connector(config.feed(feed)).sent_narrowing()
    engine.dispose()
    verb = "would store" if dry_run else "stored"
    if not report.ok:
        click.echo(f"{feed}: poll failed: {report.error}", err=True)
        sys.exit(1)
    if report.not_modified:
        click.echo(f"{feed}: not modified since the last poll (304), nothing parsed")
        return
    filtered = f"filtered out {report.filtered}, " if report.filtered else ""
    click.echo(
        f"{feed}: fetched {report.fetched}, {filtered}{verb} {len(report.new_mentions)} new "
        f"mention(s), {report.brand_posts} brand post(s), {len(report.answered)} answered, "
        f"{len(report.alerts)} alert(s) {'would be ' if dry_run else ''}queued"
    )
    if dry_run and FeedFilters.of(config, config.feed(feed)).active:
        why = why_not_sent(config.feed(feed).connector_cls.name) or "the filters judge here only"
        click.echo(f"  sent to the platform: {sent or f'nothing ({why})'}")
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
    from monitor.ingest.pipeline import Pipeline, PollReport
    from monitor.reports.command import report_zone  # --since dates are read in this zone
    from monitor.store.db import open_store

    config = _config(ctx)
    try:
        config.feed(feed)
    except ConfigError as exc:
        click.echo(exc.problems[0], err=True)
        sys.exit(2)
    engine = open_store(config.storage.resolved_url())
    pages = fetched = stored = alerts = 0
    failure: str | None = None
    oldest: datetime | None = None

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
                for mention in report.new_mentions:
                    oldest = min(oldest or mention.created_at, mention.created_at)
                failure = failure or (None if report.ok else report.error)
        walks = pipeline.needs_recheck(config.feed(feed))
    engine.dispose()
    click.echo(f"{feed}: {pages} polls, {fetched:,} fetched, {stored:,} new, {alerts:,} alerts")
    if walks and oldest is not None:
        # this platform shows some replies only in a thread walk, which a poll does not do;
        # a separate command, because it costs quota (YouTube's daily units) the operator
        # may want to spend later, and it can take hours where the backfill took minutes
        click.echo(
            f"{feed}: replies inside threads are not in this history yet; to find them run: "
            f"monitor recheck {feed} --since {oldest.astimezone(report_zone(config)):%Y-%m-%d}"
        )
    if failure:
        click.echo(f"{feed}: stopped: {failure}", err=True)
        sys.exit(1)


@cli.command()
@click.argument("feed")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="Oldest mentions to check: 30d, 12h or a date (the one `backfill` names).",
)
@click.option("--until", default=None, help="A date (inclusive) or ISO time; default: now.")
@click.option(
    "--pace",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds per mention checked, so the platform's quota is not spent in a burst.",
)
@click.option(
    "--max-wait",
    default="15m",
    show_default=True,
    help="Wait out a rate limit up to this long; a longer one stops the walk (exit 1).",
)
@click.pass_context
def recheck(
    ctx: click.Context, feed: str, since: str, until: str | None, pace: float, max_wait: str
) -> None:
    """Find the brand's replies to FEED's unanswered mentions in a range (history), by walking
    their threads: exit 0 when all were checked, 1 when stopped early, 2 on bad usage."""
    from connectors.durations import parse_duration
    from connectors.http import make_client
    from monitor.ingest.pipeline import Pipeline
    from monitor.ingest.recheck import HistoryRecheck, batch_size, bound_option, summary
    from monitor.ingest.recheck_progress import BarDisplay, LineDisplay
    from monitor.reports.command import report_zone
    from monitor.reports.query import parse_since, parse_until
    from monitor.store.db import open_store
    from monitor.store.models import utcnow

    config = _config(ctx)
    try:
        feed_config = config.feed(feed)
    except ConfigError as exc:
        click.echo(exc.problems[0], err=True)
        sys.exit(2)
    now, zone = utcnow(), report_zone(config)
    try:
        start, end = parse_since(since, now, zone), parse_until(until, now, zone)
        longest_wait = parse_duration(max_wait)
    except ValueError as exc:
        click.echo(f"recheck: {exc}", err=True)
        sys.exit(2)
    if start >= end:
        click.echo(f"recheck: --since ({start:%Y-%m-%d %H:%M}) must be before --until", err=True)
        sys.exit(2)
    engine = open_store(config.storage.resolved_url())
    with make_client(timeout=config.scheduler.http_timeout) as client:
        pipeline = Pipeline(config, engine, client)
        if not pipeline.needs_recheck(feed_config):
            engine.dispose()
            click.echo(f"{feed}'s platform sees replies in its normal poll; nothing to recheck")
            sys.exit(2)
        connector = pipeline.connector(feed_config)
        if batch_size(connector) < 1:
            engine.dispose()
            click.echo(f"{feed}: {bound_option(connector)} = 0 turns its re-checks off")
            sys.exit(2)
        walk = HistoryRecheck(pipeline, feed_config, start, end, pace=pace, max_wait=longest_wait)
        display = BarDisplay if sys.stdout.isatty() else LineDisplay
        total = walk.unanswered()
        with display(feed, total) as show:
            walk.on_progress = show
            try:
                outcome = walk.run()
            except KeyboardInterrupt:
                outcome = None
    engine.dispose()
    if outcome is None:
        click.echo(f"{feed}: interrupted; what was found is stored", err=True)
        place = walk.place
    else:
        click.echo(summary(feed, outcome))
        if outcome.stopped is None:
            return
        click.echo(f"{feed}: stopped: {outcome.stopped}", err=True)
        if outcome.retry_at is not None:
            click.echo(
                f"{feed}: the platform allows more after {outcome.retry_at:%Y-%m-%d %H:%M} UTC"
            )
        place = outcome.resume_until
    # the absolute range, so a rerun tomorrow walks the same one; newer mentions are done
    until_hint = f" --until {place.isoformat()}" if place else ""
    click.echo(
        f"{feed}: to continue: monitor recheck {feed} --since {start.isoformat()}{until_hint}"
    )
    sys.exit(1)


@cli.command()
@click.option(
    "--problems",
    is_flag=True,
    help="Only the feeds that need a look (failing, quiet, never polled), worst first; "
    "exit 1 when a feed needs a look, the scheduler is not running or alerts fail, else 0.",
)
@click.pass_context
def status(ctx: click.Context, problems: bool) -> None:
    """Show every feed's health, whether `monitor run` is running, the outbox and claims."""
    from monitor.reports.status import status_report
    from monitor.store.db import open_store
    from monitor.store.models import utcnow

    config = _config(ctx)
    engine = open_store(config.storage.resolved_url())
    text, code = status_report(config, engine, utcnow(), problems_only=problems)
    engine.dispose()
    click.echo(text)
    if problems:
        sys.exit(code)


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
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Write here (- for standard output). Default: the terminal, except html, which goes "
    "to monitor-report-YYYY-MM-DD.html in the current folder.",
)
@click.pass_context
def report(
    ctx: click.Context, since: str, until: str | None, by: str, fmt: str, output: Path | None
) -> None:
    """Response times for managers: TTFR, reply rate, SLA, backlog (docs/reports.md)."""
    from monitor.reports.command import render_report, report_zone
    from monitor.store.db import open_store
    from monitor.store.models import utcnow

    config = _config(ctx)
    engine = open_store(config.storage.resolved_url())
    now = utcnow()
    try:
        text = render_report(config, engine, since=since, until=until, by=by, fmt=fmt, now=now)
    except (ValueError, RuntimeError) as exc:
        click.echo(f"report: {exc}", err=True)
        sys.exit(2)
    finally:
        engine.dispose()
    if output is None and fmt == "html":
        # a page of embedded charts is for a browser, not a terminal: a file named by its day
        output = Path(f"monitor-report-{now.astimezone(report_zone(config)):%Y-%m-%d}.html")
    if output is None or str(output) == "-":
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"report: cannot write {output}: {exc.strerror}", err=True)
        sys.exit(2)
    size = len(text.encode("utf-8"))
    shown = f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} bytes"
    hint = "; open it in a browser" if fmt == "html" else ""
    click.echo(f"wrote {output} ({shown}){hint}", err=True)


@cli.command()
@click.option(
    "--dir",
    "folder",
    default=None,
    show_default="the user data directory, e.g. ~/.local/share/social-response-monitor/demo",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo writes its sample file, config and SQLite database.",
)
def demo(folder: Path | None) -> None:
    """Run the whole path offline on bundled sample data; alerts go to the console."""
    from monitor.demo import default_folder, run_demo
    from monitor.store.models import utcnow

    folder = folder or default_folder()
    folder.mkdir(parents=True, exist_ok=True)  # a folder it cannot write is one line, exit 2
    click.echo(f"demo files go to {folder.resolve()}")
    click.echo(run_demo(folder, utcnow()))


@cli.command()
@click.argument("text")
@click.option("--language", help="Treat the text as this language (as a platform would say).")
@click.option("--rating", type=float, help="Star rating of 5, as for a review.")
@click.pass_context
def sentiment(ctx: click.Context, text: str, language: str | None, rating: float | None) -> None:
    """Show how TEXT would be labelled: language, label, score and what decided."""
    from monitor.sentiment.analyzer import explain

    path = ctx.obj["config_path"]
    config = _load(path).sentiment if os.path.exists(path) else None
    click.echo(explain(text, config, language=language, rating=rating))


@cli.group("filter")
def filter_group() -> None:
    """Try the mention filter language (docs/filters.md)."""


@filter_group.command("test")
@click.argument("query")
@click.argument("text", required=False)
@click.option(
    "--feed",
    "feed_name",
    help="Judge what FEED fetches now (from scratch: its newest items) instead of TEXT.",
)
@click.option("--title", help="The mention's title (words match the text and the title).")
@click.option("--author", help="The author's handle or id, for author:.")
@click.option("--url", help="The mention's URL, for site:.")
@click.option("--lang", "language", help="The detected language (ISO 639-1), for lang:.")
@click.option("--rating", type=float, help="Star rating of 5, for rating:.")
@click.option(
    "--sentiment",
    type=click.Choice(["negative", "neutral", "positive", "unscored"]),
    help="The sentiment label, for sentiment:.",
)
@click.option("--platform", default="", help="The platform, for platform:.")
@click.option("--reply", is_flag=True, help="The mention is a reply, for is:reply.")
@click.pass_context
def filter_test(
    ctx: click.Context,
    query: str,
    text: str | None,
    feed_name: str | None,
    title: str | None,
    author: str | None,
    url: str | None,
    language: str | None,
    rating: float | None,
    sentiment: str | None,
    platform: str,
    reply: bool,
) -> None:
    """Show how QUERY judges TEXT, term by term, or each item FEED fetches (--feed). Exit 0 on
    a match (with --feed: on any), 1 on none, 2 on a query that does not parse."""
    from monitor.mention_filter import FilterSyntaxError, Subject, parse_filter

    try:
        mention_filter = parse_filter(query)
    except FilterSyntaxError as exc:
        click.echo(query, err=True)
        click.echo(" " * (exc.column - 1) + "^", err=True)
        click.echo(str(exc), err=True)
        sys.exit(2)
    if feed_name is not None:
        sys.exit(_filter_feed(_config(ctx), feed_name, mention_filter))
    if text is None:
        raise click.UsageError("give TEXT, or --feed NAME")
    subject = Subject(
        text=text,
        title=title,
        author=author,
        url=url,
        platform=platform,
        language=language,
        rating=rating,
        sentiment=sentiment,
        is_reply=reply,
    )
    for line in mention_filter.explain(subject):
        click.echo(line)
    sys.exit(0 if mention_filter.matches(subject) else 1)


def _filter_feed(config: Config, name: str, mention_filter: Any) -> int:
    """Fetch FEED from scratch (nothing stored) and judge each item by the query."""
    from connectors import FeedCursor
    from connectors.http import make_client
    from monitor.ingest.decide import scoring_request
    from monitor.ingest.filtering import subject
    from monitor.redaction import safe_error
    from monitor.sentiment.analyzer import SentimentAnalyzer
    from monitor.store.models import utcnow

    try:
        feed = config.feed(name)
    except ConfigError as exc:
        click.echo(exc.problems[0], err=True)
        return 2
    connector = config.build_connector(feed)
    with make_client(timeout=config.scheduler.http_timeout) as client:
        try:
            result = connector.poll(client, FeedCursor(), utcnow())
        except Exception as exc:
            click.echo(f"{name}: fetching failed: {safe_error(str(exc), feed)}", err=True)
            return 2
    records = result.mentions
    scores = (
        SentimentAnalyzer(config.sentiment).analyse_many([scoring_request(r) for r in records])
        if records and mention_filter.needs_scores
        else [None] * len(records)
    )
    matched = 0
    for record, score in zip(records, scores, strict=True):
        hit = mention_filter.matches(subject(record, score))
        matched += hit
        text = " ".join(record.text.split())[:90]
        click.echo(
            f"  {'MATCH   ' if hit else 'no match'} {record.platform}:{record.external_id} "
            f"by {record.author or '?'}  {text}"
        )
    click.echo(f"{name}: {matched} of {len(records)} fetched item(s) match")
    return 0 if matched else 1


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the schema migrations (also done at every start)."""
    from monitor.store.db import make_engine, upgrade

    config = _config(ctx)
    engine = make_engine(config.storage.resolved_url())
    upgrade(engine)
    engine.dispose()
    click.echo("database is at the newest schema")


def main() -> None:
    log_uncaught_errors()
    cli(prog_name="monitor")
