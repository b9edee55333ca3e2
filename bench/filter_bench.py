"""The mention filter's cost per mention (20 rules) against the ingest path's (issue 24).

Judged by: filtering / ingest <= 5 %, per mention.

Mentions: the recorded shapes of bench/_corpus.py (Reddit comments and posts, RSS/Atom
entries, Yelp reviews with stars, short social posts in several languages: 596 recordings),
cycled to `--count` with unique ids, normalised as the connectors normalise them.

Filtering: each mention becomes a `Subject` (as the pipeline will build one) and is judged by
all 20 rules below, a realistic mix of per-feed filters, global excludes and route matches
(words, phrases, prefixes, exclusions, groups, every field). Every mention meeting every rule
is the worst case: a mention normally meets its feed's filter, the global excludes and the
routes, not every feed's filter.

Ingest: `Pipeline.backfill` of the same mentions, measured as bench/ingest_bench.py measures
it (a replay connector handing out pages of 500, a fresh migrated SQLite store, three routes,
`alerts.on = ["negative", "unscored"]`, the scorer warmed up first). The two alternate over
`--slices` slices of the same run so a change of the machine's speed lands on both; each cost
is its side's total seconds over the mentions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _corpus
from bench.ingest_bench import FEED, NOW, config
from connectors.text import clean_text, html_to_text
from monitor.ingest.pipeline import Pipeline
from monitor.mention_filter import MentionFilter, Subject, parse_filter
from monitor.store.db import open_store

RULES = [
    # per-feed filters: the brand's name without its namesakes
    'acme -"wile e" -coyote -roadrunner -"looney tunes" -cartoon*',
    '(acme OR "acme corp" OR acmecorp) -hiring -"job opening" -careers -recruit*',
    'notion -(notions OR notional OR "no notion") -site:notion.so',
    '(support OR help OR helpdesk) (slow OR waiting OR "no answer" OR ignored)',
    '"customer service" OR "customer support" OR "service client" OR klantenservice',
    'refund* OR chargeback OR "money back" OR terugbetaling OR erstattung',
    '(outage OR down OR "not working" OR broken) -"down under"',
    "アクメ OR 阿克米 OR 아크메 OR อาคมี",
    "delivery (late OR lost OR damaged OR missing) -lang:ja",
    "bug* crash* -is:reply",
    # global excludes: staff accounts, job boards, spam
    "author:acme_support OR author:@acmejane OR author:acme_bob OR author:12345",
    "site:linkedin.com OR site:indeed.com OR site:glassdoor.com OR site:jobs.lever.co",
    '"we are hiring" OR "join our team" OR "apply now"',
    "(giveaway OR crypto OR airdrop) has:link",
    # route matches
    "lang:nl sentiment:negative",
    "lang:de,fr,es,it sentiment:negative,unscored",
    "rating:<=2 platform:yelp,trustpilot,googleplay,appstore",
    "platform:reddit,hn -is:reply",
    "sentiment:negative rating:<3 OR sentiment:negative -rating:>=1",
    'rating:5 -"but" -"however"',
]
SENTIMENTS = ("negative", "neutral", "positive", "unscored")


def subjects(items: list[_corpus.RawItem]) -> list[Subject]:
    """What the pipeline would hand the filters: the connector's normalised fields."""
    out = []
    for index, item in enumerate(items):
        out.append(
            Subject(
                text=html_to_text(item.markup),
                title=clean_text(item.title) if item.title else None,
                author=f"user{index % 5000}",
                url=f"https://example.invalid/{item.platform}/{index}",
                platform=item.platform,
                language=item.language,
                rating=item.rating,
                sentiment=SENTIMENTS[index % 4],
                is_reply=index % 3 == 0,
            )
        )
    return out


def filter_seconds(rules: list[MentionFilter], part: list[Subject]) -> tuple[float, int]:
    """Seconds to build each mention's Subject afresh and judge it by every rule."""
    fresh = [Subject(**vars(s)) for s in part]  # no folded text cached from an earlier run
    start = time.perf_counter()
    matched = 0
    for subject in fresh:
        for rule in rules:
            if rule.matches(subject):
                matched += 1
    return time.perf_counter() - start, matched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--page", type=int, default=500, help="mentions per poll (transaction)")
    parser.add_argument("--slices", type=int, default=5, help="alternations of the two sides")
    args = parser.parse_args(argv)
    _corpus.register()
    items = _corpus.items(args.count)
    print(f"machine: {_corpus.machine()}")
    print(f"{len(items):,} recorded-shape mentions from {len(_corpus.templates())} recordings")
    rules = [parse_filter(rule) for rule in RULES]
    everything = subjects(items)
    filter_seconds(rules, everything[:200])  # warm up: the rules' regular expressions
    filtering = ingest = 0.0
    matched = 0
    ratios = []
    size = -(-len(items) // args.slices)
    indexed = list(enumerate(items))
    with tempfile.TemporaryDirectory() as tmp, httpx.Client() as client:
        engine = open_store(f"sqlite:///{tmp}/bench.db")
        pipeline = Pipeline(config(), engine, client, clock=lambda: NOW)
        pipeline.warm_up()
        for first in range(0, len(items), size):
            seconds, hits = filter_seconds(rules, everything[first : first + size])
            part = indexed[first : first + size]
            pages = [part[i : i + args.page] for i in range(0, len(part), args.page)]
            _corpus.PAGES[FEED] = pages
            start = time.perf_counter()
            for report in pipeline.backfill(FEED, max_polls=len(pages) + 2):
                assert report.ok, report.error
            spent = time.perf_counter() - start
            filtering += seconds
            ingest += spent
            matched += hits
            ratios.append(seconds / spent)
        engine.dispose()
    n = len(items)
    share = filtering / ingest
    print(f"{len(rules)} rules, {matched:,} rule matches over {n:,} mentions")
    per_rule = filtering / n / len(rules) * 1e6
    print(f"filtering: {filtering / n * 1e6:8.1f} µs a mention ({per_rule:.2f} µs a rule)")
    print(f"ingest:    {ingest / n * 1e6:8.1f} µs a mention (Pipeline.backfill, SQLite)")
    low, high = min(ratios), max(ratios)
    print(
        f"filtering / ingest: {share:.1%} (slices {low:.1%}-{high:.1%}, "
        f"median {statistics.median(ratios):.1%}; target <= 5 %) "
        + ("PASS" if share <= 0.05 else "FAIL")
    )
    return 0 if share <= 0.05 else 1


if __name__ == "__main__":
    raise SystemExit(main())
