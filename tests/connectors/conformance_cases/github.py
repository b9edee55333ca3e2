"""Conformance case for the github connector: a real repository issue page and comment list."""

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

ISSUES = fixture_bytes("github", "repo_issues_per_page3_page1_link_header_2022.json")
COMMENTS = fixture_bytes("github", "issue_pygithub_3372_comments_per_page4.json")
LINK = (
    '<https://api.github.com/repositories/515435940/issues?per_page=3&page=2>; rel="next", '
    '<https://api.github.com/repositories/515435940/issues?per_page=3&page=5>; rel="last"'
)


def _happy(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/issues/comments"):
        return httpx.Response(200, content=COMMENTS)
    if "page" in request.url.params:
        return httpx.Response(200, content=b"[]")  # page 2 of the recording was not kept
    return httpx.Response(200, content=ISSUES, headers={"Link": LINK, "ETag": '"33b9"'})


CASE = ConformanceCase(
    options={
        "repo": "octokit-fixture-org/tmp-scenario-paginate-issues-20220719043836917-izyoe",
        "backfill": "2000d",
    },
    happy=_happy,
    empty=lambda request: httpx.Response(200, content=b"[]"),
    min_mentions=3,
)
