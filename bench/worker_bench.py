"""Worker mode: a first cycle over 1,000 new feeds behind 100 ms with 1, 2... pinned workers,
and the job queue's own cost per job, in the worker and in PostgreSQL.

    python bench/worker_bench.py                          # 1 and 2 workers on cores 0 and 1, twice
    python bench/worker_bench.py --workers 1 4 8 --cores 0-7 --rounds 2   # a bigger machine
    python bench/worker_bench.py --feeds 200 --rounds 1   # quick

Product: `monitor worker` processes (the command an operator runs), each started under
`taskset -c <core>` on its own core (worker i on the i-th core of `--cores`, round robin), on
a fresh PostgreSQL database per run (created, migrated, dropped), `[workers] concurrency`
from `--concurrency` (default 8). The feeds are `--feeds` RSS feeds of 5 recorded-shape
entries each (bench/poll_bench.py's documents, so every first poll parses, scores and
stores five mentions), interval 10 minutes, jitter 0, served by `--hosts` local HTTP servers
(one port each, so one host each for `[scheduler] per_host`; a thread per request) in a
process of their own; every answer, 304s included, waits `--latency`. With 16 hosts and
per_host 4 the cluster-wide limit (advisory locks) has 64 slots, more than the jobs in
flight, so it is in force but not binding, as with real platforms; `--hosts 1 --per-host 64`
puts every feed on one host instead. No Slack token: alerts go to the console sink (pace 0,
printed into the worker's log), as poll_bench's dispatcher accepts everything: delivery
stays cheap and never holds a job slot for long, so the figures are the polls'.

The feed servers, PostgreSQL and this script are not pinned: they share the machine's
cores with the workers (on a 2-core machine, with both workers' cores).

Each run, the workers start and register, with every feed's first poll job already in the
queue (the jobs the planner defers, deferred by this script for an hour ahead, so the
planner finds them and adds none); once every worker is registered the jobs are made due at
once (`[workers] fetch_every` 0.1 s: idle workers find them within 0.1 s). Then three
cycles, each timed from that moment until every poll job is done:

1. new feeds: until every feed's first poll is stored (feed_state rows with last_poll_at);
2. no-op jobs: every feed's next poll job made due at once; its guard finds the feed
   polled less than half an interval ago and only defers the next one: the queue's own
   cost per job (fetch, start, finish, the next job's defer, the worker's bookkeeping, the
   guard's one read);
3. unchanged feeds: the feeds' last polls moved an interval back and their jobs made due:
   every poll a 304 (a conditional GET), the steady state of a running service.

CPU: the worker processes' utime + stime from /proc/<pid>/stat (all threads), and
PostgreSQL's in two ways from /proc: the backends serving this run's database (their pids
from pg_stat_activity; the connections are pooled, so they live through a cycle) and every
postgres process on the machine (WAL writer, checkpointer... and other users' backends).
pg_stat_statements is not loaded on this server, so statement counts are not shown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _corpus
from bench.poll_bench import RemoteFarm
from monitor.cluster.jobs import POLL, _locks, build_app
from monitor.store.db import normalise_url, open_store
from tests.support.workers import running

TICK = os.sysconf("SC_CLK_TCK")
INTERVAL = 600  # seconds: no feed comes due again by itself within a run
STEP = 0.05  # seconds between two looks at the database while a cycle runs
DEFAULT_URL = "postgresql://postgres@127.0.0.1/postgres"


def cpu_of(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5)


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def parse_cores(text: str) -> list[int]:
    """ "0-3" or "0,2,4" or "0-1,4" -> [0, 1, 2, 3]..."""
    cores: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cores.extend(range(int(low), int(high or low) + 1))
    return cores


@dataclass
class Cycle:
    """One cycle of one run: wall seconds, jobs, CPU seconds by whom."""

    wall: float
    jobs: int
    worker_cpu: float
    pg_backends: float
    pg_all: float
    farm_cpu: float
    first: float = 0.0  # seconds until the first poll was stored (cycle 1)
    asked: float = 0.0  # seconds until the feed servers had answered a first document
    per_worker: list[float] = field(default_factory=list)
    job_scans: int = 0  # index scans of procrastinate_jobs (the job fetch's plan shows here)


@dataclass
class Run:
    workers: int
    startup: float  # spawn until every worker registered and proved it may act
    cycles: dict[str, Cycle]
    connections: int  # the most seen on the run's database at once
    load: tuple[float, float, float]
    failed: int


class Database:
    """A fresh database on the server, migrated (our schema and procrastinate's), dropped."""

    def __init__(self, base: str) -> None:
        self.admin = sa.create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
        self.name = f"monitor_bench_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        url = sa.engine.make_url(normalise_url(base)).set(database=self.name)
        self.url = url.render_as_string(hide_password=False)
        self.engine: Engine = open_store(self.url)
        self.watch = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", pool_size=1)

    def drop(self) -> None:
        self.engine.dispose()
        self.watch.dispose()
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()

    def scalar(self, statement: str) -> int:
        with self.watch.connect() as conn:
            return int(conn.exec_driver_sql(statement).scalar() or 0)

    def execute(self, statement: str) -> None:
        with self.watch.connect() as conn:
            conn.exec_driver_sql(statement)

    def backend_pids(self) -> list[int]:
        with self.watch.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
            return [int(pid) for (pid,) in rows]


def autovacuum(base: str) -> str:
    engine = sa.create_engine(normalise_url(base))
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SHOW autovacuum").scalar())
    finally:
        engine.dispose()


def write_config(path: Path, db: Database, farm: RemoteFarm, args: argparse.Namespace) -> None:
    feeds = "".join(
        f'[[feeds]]\nname = "feed{i}"\ntype = "rss"\nurl = "{farm.url(i)}"\n'
        f'interval = "{INTERVAL}s"\n'
        for i in range(args.feeds)
    )
    path.write_text(
        f'[storage]\nurl = "{db.url}"\n'
        f"[scheduler]\njitter = 0\nper_host = {args.per_host}\n"
        f"[workers]\nconcurrency = {args.concurrency}\nfetch_every = 0.1\n"
        f"{feeds}",
        encoding="utf-8",
    )


def defer_first_polls(db: Database, feeds: int, at: datetime) -> None:
    """Every feed's first poll job, as the planner defers them (same task, same locks)."""

    async def defer() -> None:
        app = build_app(db.url, pool_size=2)
        async with app.open_async():
            jobs = [
                app.tasks[POLL]
                .configure(schedule_at=at, **_locks(POLL, {"feed": f"feed{i}"}))
                .make_new_job(feed=f"feed{i}")
                for i in range(feeds)
            ]
            await app.job_manager.batch_defer_jobs_async(jobs)

    asyncio.run(defer())


@contextmanager
def workers(
    config: Path, count: int, cores: list[int], logs: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {k: v for k, v in os.environ.items() if k != "SLACK_BOT_TOKEN"}
    processes: list[subprocess.Popen[bytes]] = []
    with running(processes):
        for i in range(count):
            core = cores[i % len(cores)]
            command = ["taskset", "-c", str(core), sys.executable, "-m", "monitor"]
            with (logs / f"worker{i}.log").open("ab") as out:
                processes.append(
                    subprocess.Popen(
                        [*command, "--config", str(config), "worker"],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                )
        yield processes


JOB_SCANS = (
    "SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_stat_user_tables"
    " WHERE relname = 'procrastinate_jobs'"
)
POLLS_LEFT = (
    "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'monitor.poll'"
    " AND (status = 'doing' OR (status = 'todo' AND scheduled_at <= now()))"
)


class Meter:
    """CPU of the workers, of this database's backends, of all postgres, of the feed farm."""

    def __init__(self, db: Database, pids: list[int], farm: RemoteFarm) -> None:
        self.db, self.pids, self.farm = db, pids, farm
        self.workers = [cpu_of(pid) for pid in pids]
        self.backends = {pid: cpu_of(pid) for pid in db.backend_pids()}
        self.all = sum(cpu_of(pid) for pid in postgres_pids())
        self.farm_cpu = farm.cpu()
        self.scans = db.scalar(JOB_SCANS)
        self.started = time.monotonic()

    def cycle(self, jobs: int, first: float = 0.0, asked: float = 0.0) -> Cycle:
        wall = time.monotonic() - self.started
        per_worker = [cpu_of(p) - c for p, c in zip(self.pids, self.workers, strict=True)]
        backends = sum(cpu_of(pid) - self.backends.get(pid, 0.0) for pid in self.db.backend_pids())
        return Cycle(
            wall=wall,
            jobs=jobs,
            worker_cpu=sum(per_worker),
            pg_backends=backends,
            pg_all=sum(cpu_of(pid) for pid in postgres_pids()) - self.all,
            farm_cpu=self.farm.cpu() - self.farm_cpu,
            first=first,
            asked=asked,
            per_worker=per_worker,
            job_scans=self.db.scalar(JOB_SCANS) - self.scans,
        )


def wait(
    condition: str,
    target: int,
    db: Database,
    timeout: float,
    seen: list[int],
    farm: RemoteFarm | None = None,
) -> tuple[float, float]:
    """Until the statement counts `target`; seconds until the count first moved and until
    the feed servers (`farm`) answered a first full document; records connections seen."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    first = asked = 0.0
    start_value = db.scalar(condition)
    served = farm.counters()[0] if farm else 0
    while time.monotonic() < deadline:
        value = db.scalar(condition)
        if farm and not asked and farm.counters()[0] != served:
            asked = time.monotonic() - started
        if not first and value != start_value:
            first = time.monotonic() - started
        seen.append(
            db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        )
        if value == target:
            return first, asked
        time.sleep(STEP)
    raise TimeoutError(f"{condition!r} did not reach {target} in {timeout:.0f} s")


def make_due(db: Database, analyze: bool) -> None:
    db.execute(
        "UPDATE procrastinate_jobs SET scheduled_at = now()"
        " WHERE task_name = 'monitor.poll' AND status = 'todo'"
    )
    if analyze:
        # the statistics autovacuum's analyze would take of a table where every job is due
        # (it is off on the bench machine's server; without statistics the job fetch's plan
        # reads every due job a fetch, bench/README.md)
        db.execute("ANALYZE procrastinate_jobs")


def one_run(
    args: argparse.Namespace, farm: RemoteFarm, count: int, cores: list[int], tmp: Path
) -> Run:
    db = Database(args.postgres)
    try:
        config = tmp / f"config-{db.name}.toml"
        write_config(config, db, farm, args)
        defer_first_polls(db, args.feeds, datetime.now(UTC) + timedelta(hours=1))
        logs = tmp / db.name
        logs.mkdir()
        seen: list[int] = []
        spawned = time.monotonic()
        with workers(config, count, cores, logs) as processes:
            # ready: registered with procrastinate and proved once (a worker acts only with
            # a fresh proof, monitor/leadership/presence.py, the first a second after start)
            ready = "SELECT count(*) FROM monitor_worker WHERE queue_worker_id IS NOT NULL"
            wait(ready, count, db, 120, seen)
            startup = time.monotonic() - spawned
            pids = [p.pid for p in processes]
            cycles: dict[str, Cycle] = {}
            load = os.getloadavg()

            # 1: new feeds, until every first poll is stored
            meter = Meter(db, pids, farm)
            make_due(db, args.analyze)
            stored = "SELECT count(*) FROM feed_state WHERE last_poll_at IS NOT NULL"
            first, asked = wait(stored, args.feeds, db, 600, seen, farm)
            cycles["new"] = meter.cycle(args.feeds, first, asked)
            wait(POLLS_LEFT, 0, db, 60, seen)  # the jobs' last bookkeeping (next job deferred)
            time.sleep(1)  # deliveries of the cycle's alerts, outside the next cycle

            # 2: no-op jobs, the guard skips every one
            meter = Meter(db, pids, farm)
            make_due(db, args.analyze)
            wait(POLLS_LEFT, 0, db, 600, seen)
            cycles["noop"] = meter.cycle(args.feeds)

            # 3: unchanged feeds (304s)
            db.execute(
                f"UPDATE feed_state SET last_poll_at = last_poll_at - interval '{INTERVAL} s'"
            )
            _, not_modified, _ = farm.counters()
            meter = Meter(db, pids, farm)
            make_due(db, args.analyze)
            wait(POLLS_LEFT, 0, db, 600, seen)
            cycles["304"] = meter.cycle(args.feeds)
            _, after, _ = farm.counters()
            if after - not_modified != args.feeds:
                print(f"  (cycle 3: {after - not_modified} 304s for {args.feeds} feeds)")
            failed = db.scalar("SELECT coalesce(sum(failures), 0) FROM monitor_worker")
            failed += db.scalar("SELECT count(*) FROM feed_state WHERE consecutive_failures > 0")
        return Run(count, startup, cycles, max(seen), load, failed)
    finally:
        db.drop()


def show(run: Run, args: argparse.Namespace) -> None:
    new, noop, unchanged = run.cycles["new"], run.cycles["noop"], run.cycles["304"]
    per_worker = " + ".join(f"{c:.1f}" for c in new.per_worker)
    print(
        f"{run.workers} worker(s): startup {run.startup:.1f} s; load before {run.load[0]:.2f}; "
        f"up to {run.connections} connections; {run.failed} failures"
    )
    print(
        f"  new feeds: {new.wall:6.2f} s (first answer {new.asked:.2f} s, first stored "
        f"{new.first:.2f} s), "
        f"{args.feeds / new.wall:6.1f} feeds/s; CPU workers {new.worker_cpu:.1f} s "
        f"({per_worker}) = {new.worker_cpu / args.feeds * 1000:.1f} ms a feed, PostgreSQL "
        f"backends {new.pg_backends:.1f} s ({new.pg_backends / args.feeds * 1000:.1f} ms a feed),"
        f" all postgres {new.pg_all:.1f} s, feed servers {new.farm_cpu:.1f} s; "
        f"{new.job_scans / args.feeds:.0f} scans of the job table a job"
    )
    for name, cycle in (("no-op jobs", noop), ("304 polls", unchanged)):
        print(
            f"  {name}: {cycle.wall:6.2f} s, {cycle.jobs / cycle.wall:6.1f} jobs/s; CPU a job: "
            f"worker {cycle.worker_cpu / cycle.jobs * 1000:.2f} ms, PostgreSQL backends "
            f"{cycle.pg_backends / cycle.jobs * 1000:.2f} ms (all postgres "
            f"{cycle.pg_all / cycle.jobs * 1000:.2f} ms), feed servers "
            f"{cycle.farm_cpu / cycle.jobs * 1000:.2f} ms; {cycle.job_scans / cycle.jobs:.0f} "
            "scans of the job table a job"
        )


def summary(runs: list[Run], args: argparse.Namespace) -> None:
    print("\nsummary (range over the runs of each configuration)")
    by: dict[int, list[Run]] = {}
    for run in runs:
        by.setdefault(run.workers, []).append(run)

    def span(values: list[float], fmt: str = "{:.1f}") -> str:
        low, high = min(values), max(values)
        return (
            fmt.format(low)
            if fmt.format(low) == fmt.format(high)
            else (f"{fmt.format(low)}-{fmt.format(high)}")
        )

    base = by.get(min(by))
    base_rate = statistics.median(args.feeds / r.cycles["new"].wall for r in base or [])
    for count, group in sorted(by.items()):
        rates = [args.feeds / r.cycles["new"].wall for r in group]
        ratio = statistics.median(rates) / base_rate * min(by)
        ideal = args.feeds * args.latency / (count * args.concurrency)
        print(
            f"{count} worker(s), concurrency {args.concurrency}: new feeds "
            f"{span([r.cycles['new'].wall for r in group], '{:.2f}')} s (ideal {ideal:.2f} s), "
            f"{span(rates)} feeds/s, x{ratio:.2f} of {min(by)} worker(s) by medians"
            + (" (target >= 1.7 for 2)" if count == 2 and min(by) == 1 else "")
        )
        for name in ("new", "noop", "304"):
            cycles = [r.cycles[name] for r in group]
            print(
                f"  {name:>4}: worker CPU "
                f"{span([c.worker_cpu / c.jobs * 1000 for c in cycles], '{:.2f}')} ms a job, "
                f"PostgreSQL backends "
                f"{span([c.pg_backends / c.jobs * 1000 for c in cycles], '{:.2f}')} ms a job, "
                f"{span([c.jobs / c.wall for c in cycles])} jobs/s"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="configurations")
    parser.add_argument("--cores", default="0-1", help='cores to pin workers to, "0-3", "0,2"')
    parser.add_argument("--rounds", type=int, default=2, help="each configuration, interleaved")
    parser.add_argument("--concurrency", type=int, default=8, help="[workers] concurrency")
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--per-host", type=int, default=4, help="[scheduler] per_host")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per response")
    parser.add_argument(
        "--analyze",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ANALYZE the job table once the first polls are queued, as autovacuum would",
    )
    parser.add_argument("--logs", type=Path, help="keep the workers' logs in this directory")
    parser.add_argument(
        "--postgres", default=os.environ.get("MONITOR_TEST_POSTGRES_URL", DEFAULT_URL)
    )
    args = parser.parse_args(argv)
    cores = parse_cores(args.cores)
    print(f"machine: {_corpus.machine()}; load average {os.getloadavg()[0]:.2f}")
    print(
        f"{args.feeds} rss feeds on {args.hosts} local hosts, {args.latency * 1000:.0f} ms per "
        f"answer, per_host {args.per_host}, concurrency {args.concurrency} a worker, workers "
        f"pinned to cores {cores}; feed servers and PostgreSQL not pinned; job table "
        f"{'analyzed' if args.analyze else 'never analyzed'} (autovacuum: "
        f"{autovacuum(args.postgres)})"
    )
    farm = RemoteFarm(args.feeds, args.hosts, args.latency)
    farm.start()
    runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            place = args.logs or Path(tmp)
            place.mkdir(parents=True, exist_ok=True)
            for _ in range(args.rounds):
                for count in args.workers:
                    run = one_run(args, farm, count, cores, place)
                    show(run, args)
                    runs.append(run)
    finally:
        farm.stop()
    summary(runs, args)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
