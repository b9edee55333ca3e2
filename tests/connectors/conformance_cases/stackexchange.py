"""Conformance case for the stackexchange connector: real question, answer and comment pages."""

import json

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

QUESTIONS = fixture_bytes("stackexchange", "questions_tagged_openshift-enterprise_2014.json")
ANSWERS = fixture_bytes("stackexchange", "question_4_answers_has_more_2014.json")
COMMENTS = fixture_bytes("stackexchange", "question_13_comments_with_reply_to_user_2014.json")
EMPTY = b'{"items":[],"has_more":false,"quota_max":10000,"quota_remaining":9990}'


def _happy(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/answers"):
        return httpx.Response(200, content=ANSWERS)
    if path.endswith("/comments"):
        return httpx.Response(200, content=COMMENTS)
    return httpx.Response(200, content=QUESTIONS)


CASE = ConformanceCase(
    options={"site": "stackoverflow", "tagged": "openshift-enterprise"},
    happy=_happy,
    empty=lambda request: httpx.Response(200, content=EMPTY),
    min_mentions=8,
    cursor_key=lambda cursor: json.loads(cursor)["since"],
)
