"""Conformance case for the reddit connector: a subreddit's recorded new posts and comments."""

import json

import httpx

from connectors.sources.reddit import id_value
from tests.connectors.conformance import ConformanceCase, fixture_bytes

NEW = fixture_bytes("reddit", "r_askreddit_new_limit100.json")
COMMENTS = fixture_bytes("reddit", "r_kakapo_comments_limit100.json")
EMPTY = fixture_bytes("reddit", "r_kakapo_comments_before_cursor_empty.json")


def _happy(request: httpx.Request) -> httpx.Response:
    body = NEW if request.url.path.endswith("/new") else COMMENTS
    return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})


def _cursor_key(cursor: str) -> tuple[int, ...]:
    return tuple(id_value(name) for _key, name in sorted(json.loads(cursor).items()))


CASE = ConformanceCase(
    # a bearer token from the environment keeps the token exchange out of the status cases
    # (tests/connectors/test_reddit.py covers it)
    options={
        "subreddit": "kakapo",
        "access_token_env": "CONFORMANCE_REDDIT_TOKEN",
        "backfill": "36500d",
    },
    env={"CONFORMANCE_REDDIT_TOKEN": "conformance-token"},
    happy=_happy,
    empty=lambda request: httpx.Response(200, content=EMPTY),
    min_mentions=100,
    cursor_key=_cursor_key,
)
