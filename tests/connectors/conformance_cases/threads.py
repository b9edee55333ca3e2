"""Conformance case for the threads connector: keyword search and a brand thread, from the docs."""

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

PAGES = {
    "keyword_search": fixture_bytes("threads", "keyword_search_recent_acme_from_docs.json"),
    "me/replies": fixture_bytes("threads", "user_replies_acme_from_docs.json"),
    "me/threads": fixture_bytes("threads", "user_threads_acme_from_docs.json"),
    "conversation": fixture_bytes("threads", "conversation_acme_thread_from_docs.json"),
}


def _happy(request: httpx.Request) -> httpx.Response:
    for suffix, body in PAGES.items():
        if request.url.path.endswith(suffix):
            return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    return httpx.Response(404, json={})


CASE = ConformanceCase(
    options={"query": "acme"},
    happy=_happy,
    empty=lambda request: httpx.Response(200, json={"data": []}),
    # jamie.runs, coffee_and_code, dana_k from the search; lee_brews from the conversation
    min_mentions=4,
    env={"THREADS_ACCESS_TOKEN": "conformance-token"},
)
