"""A live Bluesky stream feed end to end: Jetstream replay -> store -> Slack, on one core.

    python bench/stream_bench.py                                  # rates 1k-20k, then latency
    python bench/stream_bench.py --rates 1000 5000 --seconds 5 --probes 40     # quick
    python bench/stream_bench.py --rates 5000 --profile /tmp/stream.prof --no-latency

The whole path `monitor run` takes for a `bluesky_stream` feed, not only the parsing: in this
process, pinned to one core (`--cores`, second value), a fresh SQLite store file
(`open_store`), the real `Pipeline` (warmed up as `monitor run` does), a `Dispatcher` with the
real Slack sink (pace 1 message a second per channel, as `monitor run` sets it) and the real
`Service`, which starts a `StreamRunner` for the one enabled stream feed (reader and writer
threads, a batch every 200 ms, the dispatcher woken when a batch queued alerts). The feed has
five keyword rules (`KEYWORDS`, one of them a phrase and one Japanese), `alerts.on = ["all"]`,
and four routes by language plus a default channel.

Two child processes, both pinned to the other core (first value of `--cores`):

- A Jetstream replay server (`tests/support/jetstream_server.py`'s server with its own
  sender): the recorded production stretch as a `wantedCollections=app.bsky.feed.post`
  subscription gets it (17 posts, 1 delete, 1 identity and 1 account event a round), sent at
  `rate` events a second, round after round. Each event's `time_us` is the moment it was due
  (the replay's platform clock: late sends from backpressure count as lag), each post's
  `rkey` is made unique and its `createdAt` set to now, so every post is a new one and a
  matched one is alerted (not stored-once or too old to alert).
- The fake Slack (`tests/support/fake_slack.py`), so its CPU is not the product's.

Matching events: the recorded posts match none of `KEYWORDS`; the server sends copies of four
recorded post events (English, Japanese, Russian and Czech texts, so the alerts spread over
four channels: the `en`, `ja` and `ru` routes, and the default channel for the Czech post,
which has no language tag and was not routed as `cs` in the runs) with `acme q<number>`
(or `m<number>`)
put at the front of `record.text`: a unique token per copy, its rkey unique too. In the rate
part one event in `--match-every` (200: 0.5 %) is such a copy, far above what a brand's words
match on Bluesky; in the latency part, one every `--probe-every` seconds (0.5 s) over a
background of `--background` (1,000) events/s.

1. **Rates** (`--rates`, `--seconds` each after 1 s of warm-up; a fresh store and service for
   each): events the connector yielded a second (the runner's own count, the figure `monitor
   status` shows), the CPU of this process per wall second (`resource.getrusage`: the
   product's threads and this script's sampling, every 0.5 s), and the cursor's lag at the
   end: wall clock minus the `time_us` of the newest event read, and of the newest stored.
   Keeps up: consumed >= 98 % of the offered rate and the stored cursor's lag under 2 s.
2. **CPU at 1,000 events/s**: the rate part's 1,000 level.
3. **Latency**: `--probes` matching events, each a unique token; the server writes the wall
   time (`time.time()`) just before it sends one, the fake Slack's `ts` is `time.time()` when
   it records the `chat.postMessage`; both children run on the same host clock. Latency =
   arrival minus send: the websocket, the reader, the 200 ms batch, the transaction with its
   scoring, the dispatcher's wake, its outbox transaction, the pacer and the HTTP call. With a
   probe every 0.5 s cycled over four language channels, each channel gets one every 2 s, so
   the 1 message a second pace never holds one back (checked: the shortest gap a channel saw
   is printed).

The machine is a shared 2-core VM: other processes run on both cores during a run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.jetstream_server import JetstreamReplay, recorded_lines

KEYWORDS = ["acme", "acme cloud", "acmephone", "acme-bank", "アクメ"]
# recorded posts whose copies carry the keyword: (rkey, the language route they go to)
MATCH_POSTS = {
    "3mptbyo7dms2m": "en",  # "Read the part about throwing off the old guards ..."
    "3mptbyqhi7s2f": "ja",  # "待って天幕のジャードゥーガル観ようと ..."
    "3mptbxs3hq22j": "ru",  # "Вечерок с Аватаром ..."
    "3mptbypt22l26": "cs",  # "denikn.cz/2113523 V souvislosti s politikou ..."
}
LANGUAGES = ["en", "ja", "ru", "cs"]
POST = "app.bsky.feed.post"


# --- the replay server (child process) -------------------------------------------------------


def _templates() -> tuple[list[str], dict[str, str]]:
    """The subscription's events as JSON with placeholders: @T@ time_us, @K@ a suffix that
    makes the rkey unique, @C@ createdAt; matching copies get @Q@ (their token) in the text."""
    background, matching = [], {}
    for line in recorded_lines():
        event = json.loads(line)
        commit = event.get("commit")
        if event.get("kind") == "commit" and commit.get("collection") != POST:
            continue  # not sent on a posts-only subscription
        event["time_us"] = "@T@"
        if commit is not None:
            rkey = commit["rkey"]
            commit["rkey"] = rkey + "@K@"
            record = commit.get("record")
            if record is not None:
                record["createdAt"] = "@C@"
                if rkey in MATCH_POSTS:
                    copy = json.loads(json.dumps(event))
                    text = copy["commit"]["record"]["text"]
                    copy["commit"]["record"]["text"] = "acme @Q@ " + text
                    matching[MATCH_POSTS[rkey]] = json.dumps(copy, ensure_ascii=False)
        background.append(json.dumps(event, ensure_ascii=False))
    return background, matching


def _fill(template: str, time_us: int, key: str, created: str, token: str = "") -> str:
    out = template.replace('"@T@"', str(time_us)).replace("@K@", key).replace("@C@", created)
    return out.replace("@Q@", token) if token else out


class BenchReplay(JetstreamReplay):
    """Sends `rate` events a second for `seconds`, then stays quiet (the live tail)."""

    def __init__(self, plan: dict[str, Any], results: Any) -> None:
        super().__init__()
        self.plan = plan
        self.results = results

    def _handle(self, connection: Any) -> None:
        plan = self.plan
        background, matching = _templates()
        rate, total = plan["rate"], int(plan["rate"] * plan["seconds"])
        match_every, probe_every = plan["match_every"], plan["probe_every"]
        probes_left, next_probe = plan["probes"], plan["probe_start"]
        sent_at: dict[str, float] = {}
        started_wall, started = time.time(), time.monotonic()
        created_second, created = -1, ""
        matched = 0
        n = 0
        try:
            while n < total and not self._stopped.is_set():
                due = n / rate
                delay = started + due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                now = time.time()
                time_us = int((started_wall + due) * 1e6)
                if int(now) != created_second:
                    created_second = int(now)
                    created = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                token = ""
                if probes_left and due >= next_probe:
                    next_probe += probe_every
                    probes_left -= 1
                    token = f"q{matched:06d}"
                elif match_every and n % match_every == match_every - 1:
                    token = f"m{matched:06d}"
                if token:
                    template = matching[LANGUAGES[matched % len(LANGUAGES)]]
                    matched += 1
                    message = _fill(template, time_us, f"x{n}", created, token)
                    if token.startswith("q"):
                        sent_at[token] = time.time()
                else:
                    message = _fill(background[n % len(background)], time_us, f"x{n}", created)
                connection.send(message)
                n += 1
            self.results.put({"sent": n, "wall": time.monotonic() - started, "sent_at": sent_at})
            while not self._stopped.is_set():
                try:
                    connection.recv(timeout=0.2)
                except TimeoutError:
                    continue
        except Exception as exc:  # the client went: say how far it got
            self.results.put({"sent": n, "wall": time.monotonic() - started, "error": repr(exc)})


def serve(core: int, plan: dict[str, Any], ready: Any, results: Any) -> None:
    os.sched_setaffinity(0, {core})
    server = BenchReplay(plan, results)
    server.start()
    ready.put(server.url)
    time.sleep(3600)


def slack_child(core: int, ready: Any, commands: Any) -> None:
    """The fake Slack; on "collect" sends back (channel, ts, text) of every message."""
    from tests.support.fake_slack import fake_slack

    os.sched_setaffinity(0, {core})
    with fake_slack() as slack:
        ready.send((slack.api_url, slack.token))
        while True:
            if commands.recv() == "stop":
                return
            commands.send([(m.channel, float(m.ts), m.text) for m in list(slack.messages)])


# --- the product (this process) --------------------------------------------------------------


def profiled(call: Any, profile: str | None, name: str) -> None:
    """`call()`, under cProfile (which sees only its own thread) when `profile` is set."""
    if profile is None:
        call()
        return
    import cProfile

    profiler = cProfile.Profile()
    try:
        profiler.runcall(call)
    finally:
        profiler.dump_stats(f"{profile}.{name}")


THREADS = {"stream:bsky-live": "reader", "stream-write:bsky-live": "writer"}


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's threads by role: the stream's reader and writer,
    websockets' frame reader, the dispatcher loop, and the rest (APScheduler, heartbeat,
    this script's sampling)."""
    tick = os.sysconf("SC_CLK_TCK")
    names = {t.native_id: t.name for t in threading.enumerate()}
    cpu: dict[str, float] = defaultdict(float)
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        name = names.get(int(task), "")
        role = THREADS.get(name, "dispatcher" if name == "dispatcher" else "other")
        if name.endswith("(recv_events)"):
            role = "websocket"  # websockets' own thread: reads the socket, parses frames
        cpu[role] += (int(fields[11]) + int(fields[12])) / tick
    return cpu


class Product:
    """One store, pipeline, dispatcher and Service reading the one stream feed."""

    def __init__(
        self, folder: Path, jetstream: str, slack_api: str, profile: str | None = None
    ) -> None:
        from connectors.http import make_client
        from monitor import scheduler
        from monitor.alerting.outbox import Dispatcher
        from monitor.alerting.routing import Router
        from monitor.alerting.sinks import make_sink
        from monitor.config import parse_config
        from monitor.ingest.pipeline import Pipeline
        from monitor.ingest.stream import StreamRunner
        from monitor.store.db import open_store

        routes = [
            {"name": f"bsky-{lang}", "channel": f"#bsky-{lang}", "languages": [lang]}
            for lang in LANGUAGES
        ]
        self.config = parse_config(
            {
                "storage": {"url": f"sqlite:///{folder / 'monitor.db'}"},
                "slack": {"api_url": slack_api, "default_channel": "#bsky-other"},
                "alerts": {"on": ["all"]},
                "routes": routes,
                "feeds": [
                    {
                        "name": "bsky-live",
                        "type": "bluesky_stream",
                        "base_url": jetstream,
                        "keywords": KEYWORDS,
                    }
                ],
            }
        )
        self.engine = open_store(self.config.storage.resolved_url())
        self.client = make_client()
        self.pipeline = Pipeline(self.config, self.engine, self.client)
        self.pipeline.warm_up()
        sink = make_sink(self.config)
        assert sink.name == "slack", "SLACK_BOT_TOKEN must be set for the real sink"
        dispatcher = Dispatcher(self.engine, sink, pace=1.0, router=Router(self.config))
        self.service = scheduler.Service(self.config, self.pipeline, dispatcher)
        self.runners: list[StreamRunner] = []
        runners = self.runners

        class Seen(StreamRunner):  # the Service's own runner, remembered to read its counts
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                runners.append(self)

            def run(self) -> None:
                profiled(super().run, profile, "reader")

            def _write_loop(self) -> None:
                profiled(super()._write_loop, profile, "writer")

        loop = self.service.dispatch_loop
        self.service.dispatch_loop = lambda: profiled(loop, profile, "dispatcher")  # type: ignore[method-assign]

        scheduler.StreamRunner = Seen  # type: ignore[attr-defined]
        self._restore = StreamRunner

    def start(self) -> None:
        self.service.start()

    def stop(self) -> None:
        from monitor import scheduler

        self.service.stop()
        scheduler.StreamRunner = self._restore  # type: ignore[attr-defined]
        self.client.close()
        self.engine.dispose()

    def counts(self) -> tuple[int, int, int]:
        """(mentions stored, alerts queued, alerts sent) so far."""
        from sqlalchemy import text

        with self.engine.connect() as db:
            mentions = db.execute(text("SELECT count(*) FROM mention")).scalar_one()
            alerts = db.execute(text("SELECT count(*) FROM alert")).scalar_one()
            sent = db.execute(text("SELECT count(*) FROM alert WHERE state = 'sent'")).scalar_one()
        return int(mentions), int(alerts), int(sent)

    @property
    def runner(self) -> Any:
        return self.runners[0]

    def sample(self) -> dict[str, Any]:
        runner = self.runner
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with runner._lock:
            read_at, stored_at = runner._batch.cursor_at, runner._stored_cursor_at
            seen = runner._seen
        now = time.time()
        return {
            "t": time.monotonic(),
            "threads": thread_cpu(),
            "cpu": usage.ru_utime + usage.ru_stime,
            "seen": seen,
            "read_lag": now - read_at.timestamp() if read_at else float("nan"),
            "stored_lag": now - stored_at.timestamp() if stored_at else float("nan"),
            "attempts": runner._attempts,
        }


def start_server(ctx: Any, core: int, plan: dict[str, Any]) -> tuple[Any, str, Any]:
    ready, results = ctx.Queue(), ctx.Queue()
    child = ctx.Process(target=serve, args=(core, plan, ready, results), daemon=True)
    child.start()
    return child, ready.get(timeout=60), results


def wait_connected(product: Product, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if product.runners and product.runner._seen > 0:
            return
        time.sleep(0.01)
    raise RuntimeError("the stream never delivered an event")


def rate_level(ctx: Any, args: argparse.Namespace, rate: int, slack_api: str) -> dict[str, Any]:
    warm = 1.0
    plan = {
        "rate": rate,
        "seconds": warm + args.seconds + 0.5,
        "match_every": args.match_every,
        "probes": 0,
        "probe_every": 1.0,
        "probe_start": 0.0,
    }
    child, url, results = start_server(ctx, args.cores[0], plan)
    with tempfile.TemporaryDirectory() as tmp:
        profile = f"{args.profile}.{rate}" if args.profile else None
        product = Product(Path(tmp), url, slack_api, profile)
        product.start()
        try:
            wait_connected(product)
            time.sleep(warm)
            first = product.sample()
            samples = [first]
            end = first["t"] + args.seconds
            while time.monotonic() < end:
                time.sleep(min(0.5, max(0.0, end - time.monotonic())))
                samples.append(product.sample())
            last = samples[-1]
            matched = product.runner._matched
            served = results.get(timeout=30)
            stored = product.counts()
        finally:
            product.stop()
            child.terminate()
            child.join(5)
    wall = last["t"] - first["t"]
    consumed = (last["seen"] - first["seen"]) / wall
    worst_lag = max(s["stored_lag"] for s in samples)
    return {
        "rate": rate,
        "consumed": consumed,
        "served": served["sent"] / served["wall"],
        "cpu": (last["cpu"] - first["cpu"]) / wall,
        "read_lag": last["read_lag"],
        "stored_lag": last["stored_lag"],
        "worst_lag": worst_lag,
        "reconnects": last["attempts"],
        "matched": matched,
        "threads": {
            role: (last["threads"].get(role, 0.0) - first["threads"].get(role, 0.0)) / wall
            for role in ("websocket", "reader", "writer", "dispatcher", "other")
        },
        "stored": stored,
        "kept_up": consumed >= 0.98 * rate and last["stored_lag"] < 2.0,
    }


def latency_part(ctx: Any, args: argparse.Namespace, slack_api: str, slack: Any) -> dict[str, Any]:
    start = 2.0
    seconds = start + args.probes * args.probe_every + 1.0
    plan = {
        "rate": args.background,
        "seconds": seconds,
        "match_every": 0,
        "probes": args.probes,
        "probe_every": args.probe_every,
        "probe_start": start,
    }
    child, url, results = start_server(ctx, args.cores[0], plan)
    slack.send("collect")
    before = len(slack.recv())
    with tempfile.TemporaryDirectory() as tmp:
        product = Product(Path(tmp), url, slack_api)
        product.start()
        try:
            wait_connected(product)
            first = product.sample()
            served = results.get(timeout=seconds + 60)
            last = product.sample()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                slack.send("collect")
                messages = slack.recv()[before:]
                if sum("acme q" in m[2] for m in messages) >= args.probes:
                    break
                time.sleep(0.5)
        finally:
            product.stop()
            child.terminate()
            child.join(5)
    arrived: dict[str, tuple[str, float]] = {}
    for channel, ts, text in messages:
        at = text.find("acme q")
        if at >= 0:
            arrived.setdefault(text[at + 5 : at + 12], (channel, ts))
    latencies = sorted(
        arrived[token][1] - sent for token, sent in served["sent_at"].items() if token in arrived
    )
    per_channel: dict[str, list[float]] = defaultdict(list)
    for channel, ts in arrived.values():
        per_channel[channel].append(ts)
    gaps = [b - a for ts in per_channel.values() for a, b in itertools.pairwise(sorted(ts))]
    wall = last["t"] - first["t"]
    return {
        "sent": len(served["sent_at"]),
        "arrived": len(latencies),
        "p50": latencies[len(latencies) // 2] if latencies else float("nan"),
        "p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        if latencies
        else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "channels": {c: len(v) for c, v in sorted(per_channel.items())},
        "min_gap": min(gaps, default=float("nan")),
        "cpu": (last["cpu"] - first["cpu"]) / wall,
        "consumed": (last["seen"] - first["seen"]) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rates", type=int, nargs="*", default=[1000, 2000, 5000, 10000, 20000, 30000, 40000]
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds a rate")
    parser.add_argument("--match-every", type=int, default=200, help="one matching event in N")
    parser.add_argument("--probes", type=int, default=120, help="matching events timed")
    parser.add_argument("--probe-every", type=float, default=0.5)
    parser.add_argument("--background", type=int, default=1000, help="events/s beside probes")
    parser.add_argument("--cores", type=int, nargs=2, default=[0, 1], help="servers, product")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument(
        "--profile",
        help="cProfile the reader, writer and dispatcher threads to FILE.<rate>.<thread>",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ctx = multiprocessing.get_context("spawn")
    slack_ready, slack_end = ctx.Pipe()
    commands, child_commands = ctx.Pipe()
    slack_proc = ctx.Process(
        target=slack_child, args=(args.cores[0], slack_end, child_commands), daemon=True
    )
    slack_proc.start()
    slack_api, token = slack_ready.recv()
    os.environ["SLACK_BOT_TOKEN"] = token
    os.sched_setaffinity(0, {args.cores[1]})
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.1f}; "
        f"servers on core {args.cores[0]}, product on core {args.cores[1]}; "
        f"keywords {KEYWORDS}, one matching event in {args.match_every}",
        flush=True,
    )
    best = None
    for rate in args.rates:
        level = rate_level(ctx, args, rate, slack_api)
        best = rate if level["kept_up"] and (best is None or rate > best) else best
        print(
            f"offered {rate:>6,}/s: consumed {level['consumed']:>8,.0f}/s "
            f"({level['consumed'] / rate:.1%}; server sent {level['served']:,.0f}/s), "
            f"CPU {level['cpu']:.2f} s/s, lag at end read {level['read_lag']:.2f} s "
            f"stored {level['stored_lag']:.2f} s (worst {level['worst_lag']:.2f} s), "
            f"reconnects {level['reconnects']}; matched {level['matched']}, "
            f"stored {level['stored'][0]}, alerts {level['stored'][1]} "
            f"({level['stored'][2]} sent); CPU s/s by thread "
            + ", ".join(f"{k} {v:.2f}" for k, v in level["threads"].items())
            + ": "
            f"{'keeps up' if level['kept_up'] else 'FALLS BEHIND'}",
            flush=True,
        )
    if args.rates:
        print(f"highest rate kept up with: {best or 'none'} events/s (target >= 5,000)")
    if not args.no_latency:
        result = latency_part(ctx, args, slack_api, commands)
        print(
            f"latency: {result['arrived']} of {result['sent']} probes in Slack, one every "
            f"{args.probe_every} s over {args.background:,} events/s "
            f"(consumed {result['consumed']:,.0f}/s, CPU {result['cpu']:.2f} s/s); "
            f"channels {result['channels']}, shortest gap on a channel {result['min_gap']:.2f} s"
        )
        print(
            f"  send -> fake Slack: p50 {result['p50'] * 1000:.0f} ms, "
            f"p95 {result['p95'] * 1000:.0f} ms, max {result['max'] * 1000:.0f} ms "
            f"-> {'met' if result['p95'] <= 2.0 else 'NOT MET'} (p95 <= 2 s)"
        )
    commands.send("stop")
    slack_proc.join(5)


if __name__ == "__main__":
    main()
