"""Every reply writer's case for the Reply end-to-end test: its feed, the stored mention, the
platform's stand-in on 127.0.0.1 and the one write request it must receive.

Each stand-in answers with the fixtures the writer's own tests use (recorded answers, or
`*_from_docs.json` built from the platform's documentation, cited in the fixtures' SOURCES.md),
showing back the text it was sent, as the platform does. The mention is the writer test's
target, stored as the feed's read connector stores it; the reply's time is the platform's
(the fixture's), so the TTFR is a known number of seconds.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from connectors.replies.base import ReplyTarget
from connectors.sources.bluesky import parse_time as bluesky_time
from connectors.sources.bluesky import web_url
from tests.connectors.replies import test_appstore_reply as appstore_test
from tests.connectors.replies import test_bluesky_reply as bluesky_test
from tests.connectors.replies import test_discourse_reply as discourse_test
from tests.connectors.replies import test_facebook_reply as facebook_test
from tests.connectors.replies import test_github_reply as github_test
from tests.connectors.replies import test_googlebusiness_reply as googlebusiness_test
from tests.connectors.replies import test_googleplay_reply as googleplay_test
from tests.connectors.replies import test_instagram_reply as instagram_test
from tests.connectors.replies import test_reddit_reply as reddit_test
from tests.connectors.replies import test_stackexchange_reply as stackexchange_test
from tests.connectors.replies import test_threads_reply as threads_test
from tests.connectors.replies import test_trustpilot_reply as trustpilot_test
from tests.connectors.replies import test_x_reply as x_test
from tests.connectors.replies import test_youtube_reply as youtube_test
from tests.connectors.test_facebook import C2, PAGE_ID, REPLY_C2, recorded_stream
from tests.connectors.test_instagram import ACCOUNT, LIXIANG
from tests.slack import reply_world
from tests.support.http_server import LocalServer, Reply, Request
from tests.support.keys import p8_key, service_account_key

# what the agent types: plain text, long enough for every platform's minimum
TEXT = "Sorry about this! We are on it and will write to you today."
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Write:
    """The one request that posts the reply, as the platform must receive it."""

    method: str
    path: str
    body: dict[str, Any]
    """the JSON body, or the form's fields (one value each), compared whole"""
    auth: dict[str, str] = field(default_factory=dict)
    """the headers carrying the write credentials (lower-case names)"""
    form: bool = False
    query: dict[str, list[str]] = field(default_factory=dict)
    partial: bool = False
    """the body has fields the writer makes up (a time, a record key): only these compared"""
    check: Callable[[Request], None] | None = None
    """credentials that differ each time (a signed token): checked by this"""


@dataclass(frozen=True)
class Case:
    feed: dict[str, Any]
    """the [[feeds]] table: type, read options, base_url, `reply`"""
    env: dict[str, str]
    target: ReplyTarget
    """the mention, as the feed's read connector stores it (the writer test's target)"""
    write: Write
    reply_id: str
    reply_at: datetime | None
    """the platform's time of the reply; None: the writer stamps it (Bluesky's createdAt)"""
    ttfr: float | None
    by: str | None
    """the reply's author as the writer learns it; None where the answer names nobody
    (the review sites, X): Slack then says "the brand"."""
    mention: dict[str, Any] = field(default_factory=dict)
    """what the read connector stores beyond the writer test's target"""
    posted: Callable[[Request], tuple[str, datetime]] | None = None
    """(id, time) of the reply from the write request, where the writer makes them up"""

    def outcome(self, request: Request) -> tuple[str, datetime]:
        if self.posted is not None:
            return self.posted(request)
        assert self.reply_at is not None
        return self.reply_id, self.reply_at


# routes the platform's stand-in on the server; key files go in the directory
Builder = Callable[[LocalServer, Path], Case]


def swap(answer: Any, old: str, new: str) -> Any:
    """The documented answer showing `new` where it showed the example's text `old`."""
    text = json.dumps(answer)
    return json.loads(text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1]))


def form(request: Request) -> dict[str, str]:
    """A form body's fields, one value each."""
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


# -- the platforms -------------------------------------------------------------------------


def mastodon(server: LocalServer, _keys: Path) -> Case:
    reply_world.Mastodon(server)  # the stand-in of tests/slack/test_reply.py
    target = ReplyTarget(
        platform="mastodon",
        feed="acme-mastodon",
        external_id=reply_world.MENTION_ID,
        created_at=reply_world.MENTION_AT,
        text="@acme my order never arrived",
        url=f"http://localhost:3000/@mastodonpy_test_2/{reply_world.MENTION_ID}",
        author="mastodonpy_test_2",
        author_id="117020566092212359",
    )
    return Case(
        feed={
            "type": "mastodon",
            "tag": "acme",
            "base_url": server.url,
            "reply": {"token_env": "ACME_MASTODON_WRITE"},
        },
        env={"ACME_MASTODON_WRITE": reply_world.WRITE_TOKEN},
        target=target,
        write=Write(
            "POST",
            "/api/v1/statuses",
            {"status": TEXT, "in_reply_to_id": target.external_id, "visibility": "public"},
            {"authorization": f"Bearer {reply_world.WRITE_TOKEN}"},
            form=True,
        ),
        reply_id="117020583258292382",
        reply_at=reply_world.REPLY_AT,
        ttfr=195.91,
        by="admin",
    )


def bluesky(server: LocalServer, _keys: Path) -> Case:
    bluesky_test._serve(server)
    target = bluesky_test.TARGET
    focus = bluesky_test.FOCUS["posts"][0]
    did = "did:plc:iuk433sj23ncu2oo2pfnw7fw"  # skeet.computer's, in the mention's at:// URI

    def posted(request: Request) -> tuple[str, datetime]:
        sent = request.json()
        uri = f"at://{bluesky_test.BRAND_DID}/app.bsky.feed.post/{sent['rkey']}"
        return uri, bluesky_time(sent["record"]["createdAt"])

    return Case(
        feed={
            "type": "bluesky",
            "query": "acme",
            "token_env": "ACME_BSKY_READ_TOKEN",
            "base_url": server.url,
            "reply": {"handle_env": "ACME_BSKY_HANDLE", "password_env": "ACME_BSKY_APP_PASSWORD"},
        },
        env={"ACME_BSKY_HANDLE": "shinyakato.dev", "ACME_BSKY_APP_PASSWORD": "app-pass-123"},
        target=target,
        mention={"url": web_url(target.external_id, target.author, did), "author_id": did},
        write=Write(
            "POST",
            "/xrpc/com.atproto.repo.createRecord",
            {
                "repo": "shinyakato.dev",
                "collection": "app.bsky.feed.post",
                "record": {
                    "$type": "app.bsky.feed.post",
                    "text": TEXT,
                    "reply": {
                        "root": {
                            "uri": target.thread_id,
                            "cid": focus["record"]["reply"]["root"]["cid"],
                        },
                        "parent": {"uri": target.external_id, "cid": focus["cid"]},
                    },
                },
            },
            {"authorization": "Bearer test-access-jwt"},
            partial=True,
        ),
        reply_id="",
        reply_at=None,
        ttfr=None,
        by="shinyakato.dev",
        posted=posted,
    )


def github(server: LocalServer, _keys: Path) -> Case:
    created = json.loads(github_test.CREATED)

    def comment(request: Request) -> Reply:
        answer = swap(created, created["body"], request.json()["body"])
        return Reply.json(answer, 201)

    server.route("/repos/PyGithub/PyGithub/issues/28/comments", comment)
    target = github_test.TARGET
    return Case(
        feed={
            "type": "github",
            "query": "acme",
            "base_url": server.url,
            "reply": {"token_env": "ACME_GITHUB_WRITE"},
        },
        env={"ACME_GITHUB_WRITE": github_test.TOKEN},
        target=target,
        mention={"url": "https://github.com/PyGithub/PyGithub/issues/28"},
        write=Write(
            "POST",
            "/repos/PyGithub/PyGithub/issues/28/comments",
            {"body": TEXT},
            {
                "authorization": f"Bearer {github_test.TOKEN}",
                "accept": "application/vnd.github+json",
                "x-github-api-version": "2022-11-28",
            },
        ),
        reply_id="PyGithub/PyGithub#28/comment/5808311",
        reply_at=datetime(2012, 5, 20, 11, 46, 42, tzinfo=UTC),
        ttfr=92802.0,
        by="jacquev6",
    )


def discourse(server: LocalServer, _keys: Path) -> Case:
    created = discourse_test.CREATED
    server.route(
        "/posts.json",
        lambda request: Reply.json(swap(created, created["raw"], request.json()["raw"])),
    )
    slug = created["topic_slug"]
    return Case(
        feed={
            "type": "discourse",
            "latest": True,
            "base_url": server.url,
            "reply": {
                "api_key_env": "ACME_FORUM_REPLY_KEY",
                "api_username_env": "ACME_FORUM_REPLY_USER",
            },
        },
        env={
            "ACME_FORUM_REPLY_KEY": discourse_test.KEY,
            "ACME_FORUM_REPLY_USER": "samsaffron",
        },
        target=discourse_test.TARGET,
        mention={"url": f"{server.url}/t/{slug}/57/3"},
        write=Write(
            "POST",
            "/posts.json",
            {"raw": TEXT, "topic_id": 57, "reply_to_post_number": 3},
            {"api-key": discourse_test.KEY, "api-username": "samsaffron"},
        ),
        reply_id="t/57/15",
        reply_at=datetime(2013, 2, 5, 17, 40, 12, tzinfo=UTC),
        ttfr=76271.157,
        by="samsaffron",
    )


def reddit(server: LocalServer, _keys: Path) -> Case:
    created = json.loads(reddit_test.ON_POST)
    example = created["json"]["data"]["things"][0]["data"]["body"]

    def comment(request: Request) -> Reply:
        answer = swap(created, example, TEXT)  # rendered in body_html as typed
        answer["json"]["data"]["things"][0]["data"]["body"] = form(request)["text"]
        return Reply.json(answer)

    server.route("/api/v1/access_token", Reply(200, reddit_test.TOKEN, JSON))
    server.route("/api/comment", comment)
    return Case(
        feed={
            "type": "reddit",
            "subreddit": "acme",
            "token_url": f"{server.url}/api/v1/access_token",
            "user_agent": "acme/1.0",
            "base_url": server.url,
            "reply": {
                "client_id_env": "ACME_REDDIT_APP",
                "client_secret_env": "ACME_REDDIT_APP_SECRET",
                "refresh_token_env": "ACME_REDDIT_REFRESH",
            },
        },
        env={
            "ACME_REDDIT_APP": "app-id-1",
            "ACME_REDDIT_APP_SECRET": "app-secret-9",
            "ACME_REDDIT_REFRESH": "refresh-tok-77",
        },
        target=reddit_test.POST,
        mention={"author": "angry_customer"},
        write=Write(
            "POST",
            "/api/comment",
            {
                "api_type": "json",
                "thing_id": "t3_4b1tfm",
                # Markdown to Reddit: each character that could be markup, escaped
                "text": r"Sorry about this\! We are on it and will write to you today\.",
            },
            {"authorization": "bearer <ACCESS_TOKEN>", "user-agent": "acme/1.0"},
            form=True,
            query={"raw_json": ["1"]},
        ),
        reply_id="t1_d162ara",
        reply_at=datetime(2016, 3, 19, 21, 39, 27, tzinfo=UTC),
        ttfr=2367.0,
        by="<USERNAME>",
    )


def stackexchange(server: LocalServer, _keys: Path) -> Case:
    created = json.loads(stackexchange_test.CREATED)
    example = created["items"][0]["body"]
    server.route(
        "/2.3/posts/27406879/comments/add",
        lambda request: Reply.json(swap(created, example, form(request)["body"])),
    )
    return Case(
        feed={
            "type": "stackexchange",
            "site": "stackoverflow",
            "tagged": "openshift",
            "base_url": f"{server.url}/2.3",
            "reply": {"access_token_env": "ACME_SO_WRITE", "key_env": "ACME_SO_KEY"},
        },
        env={"ACME_SO_WRITE": "write-token-123", "ACME_SO_KEY": "app-key-456"},
        target=stackexchange_test.TARGET,
        # the API takes the write token and the app's key as form fields, not headers
        write=Write(
            "POST",
            "/2.3/posts/27406879/comments/add",
            {
                "site": "stackoverflow",
                "key": "app-key-456",
                "access_token": "write-token-123",
                "body": TEXT,
                "filter": "withbody",
            },
            form=True,
        ),
        reply_id="stackoverflow:c:43321987",
        reply_at=datetime(2014, 12, 10, 17, 30, tzinfo=UTC),
        ttfr=1160.0,
        by="Acme Support",
    )


def youtube(server: LocalServer, _keys: Path) -> Case:
    created = json.loads(youtube_test.CREATED)
    example = created["snippet"]["textOriginal"]

    def comment(request: Request) -> Reply:
        typed = request.json()["snippet"]["textOriginal"]
        return Reply.json(swap(created, example, typed))

    server.route("/token", Reply(200, youtube_test.TOKEN, JSON))
    server.route("/youtube/v3/comments", comment)
    return Case(
        feed={
            "type": "youtube",
            "channel_id": "UCa-vrCLQHviTOVnEKDOdetQ",
            "base_url": f"{server.url}/youtube/v3",
            "reply": {
                "client_id_env": "ACME_YT_CLIENT",
                "client_secret_env": "ACME_YT_SECRET",
                "refresh_token_env": "ACME_YT_REFRESH",
                "token_uri": f"{server.url}/token",
            },
        },
        env={
            "ACME_YT_CLIENT": "client-id-1.apps.googleusercontent.com",
            "ACME_YT_SECRET": "client-secret-9",
            "ACME_YT_REFRESH": "refresh-tok-77",
        },
        target=youtube_test.TARGET,
        write=Write(
            "POST",
            "/youtube/v3/comments",
            {"snippet": {"parentId": youtube_test.TARGET.external_id, "textOriginal": TEXT}},
            {"authorization": "Bearer ya29.write-access-token"},
            query={"part": ["snippet"]},
        ),
        reply_id="Ugw5zYU6n9pmIgAZWvN4AaABAg.91zbGm2kQ0T91zbGm2kQ0T",
        reply_at=datetime(2019, 12, 1, 5, 2, 44, tzinfo=UTC),
        ttfr=5194.0,
        by="Acme",
    )


def googleplay(server: LocalServer, keys: Path) -> Case:
    result = json.loads(googleplay_test.RESULT)
    example = result["result"]["replyText"]
    path = "/androidpublisher/v3/applications/com.example.app/reviews/11223344:reply"
    server.route("/token", Reply.json({"access_token": "ya29.minted", "expires_in": 3600}))
    server.route(
        path, lambda request: Reply.json(swap(result, example, request.json()["replyText"]))
    )
    key = service_account_key(keys, f"{server.url}/token")
    return Case(
        feed={
            "type": "googleplay",
            "package_name": "com.example.app",
            "base_url": server.url,
            "reply": {"credentials_path_env": "PLAY_WRITE_KEY"},
        },
        env={"PLAY_WRITE_KEY": str(key)},
        target=googleplay_test.TARGET,
        write=Write("POST", path, {"replyText": TEXT}, {"authorization": "Bearer ya29.minted"}),
        reply_id="11223344:reply",
        reply_at=googleplay_test.REPLIED_AT,
        ttfr=1312396669.583,
        by=None,
    )


def appstore(server: LocalServer, keys: Path) -> Case:
    created = json.loads(appstore_test.CREATED)
    example = created["data"]["attributes"]["responseBody"]

    def response(request: Request) -> Reply:
        typed = request.json()["data"]["attributes"]["responseBody"]
        return Reply.json(swap(created, example, typed), 201)

    server.route("/v1/customerReviewResponses", response)
    key, public = p8_key(keys)

    def signed(request: Request) -> None:
        # an ES256 JWT of the reply key (verified with its public half), by the issuer
        assert appstore_test._claims(request, public)["iss"] == appstore_test.ISSUER

    review = appstore_test.REVIEW_ID
    return Case(
        feed={
            "type": "appstore",
            "mode": "connect",
            "app_id": "682658836",
            "base_url": server.url,
            "reply": {
                "key_id_env": "ASC_REPLY_KEY_ID",
                "issuer_id_env": "ASC_REPLY_ISSUER_ID",
                "private_key_path_env": "ASC_REPLY_KEY_PATH",
            },
        },
        env={
            "ASC_REPLY_KEY_ID": "REPLYKEY99",
            "ASC_REPLY_ISSUER_ID": appstore_test.ISSUER,
            "ASC_REPLY_KEY_PATH": str(key),
        },
        target=appstore_test.TARGET,
        write=Write(
            "POST",
            "/v1/customerReviewResponses",
            {
                "data": {
                    "type": "customerReviewResponses",
                    "attributes": {"responseBody": TEXT},
                    "relationships": {
                        "review": {"data": {"type": "customerReviews", "id": review}}
                    },
                }
            },
            check=signed,
        ),
        reply_id=appstore_test.RESPONSE_ID,
        reply_at=appstore_test.RESPONDED_AT,
        ttfr=335709.0,
        by=None,
    )


def googlebusiness(server: LocalServer, _keys: Path) -> Case:
    answer = json.loads(googlebusiness_test.ANSWER)
    path = f"{googlebusiness_test.REVIEW_PATH}/reply"
    server.route(
        "/token",
        Reply.json({"access_token": "ya29.fresh", "expires_in": 3599, "token_type": "Bearer"}),
    )
    server.route(
        path,
        lambda request: Reply.json(swap(answer, answer["comment"], request.json()["comment"])),
    )
    return Case(
        feed={
            "type": "googlebusiness",
            "account": googlebusiness_test.ACCOUNT,
            "location": googlebusiness_test.LOCATION,
            "base_url": server.url,
            "reply": {
                "client_id_env": "GBP_REPLY_CLIENT_ID",
                "client_secret_env": "GBP_REPLY_CLIENT_SECRET",
                "refresh_token_env": "GBP_REPLY_REFRESH",
                "token_uri": f"{server.url}/token",
            },
        },
        env={
            "GBP_REPLY_CLIENT_ID": "client-9.apps.googleusercontent.com",
            "GBP_REPLY_CLIENT_SECRET": "client-secret-9",
            "GBP_REPLY_REFRESH": "1//refresh-9",
        },
        target=googlebusiness_test.TARGET,
        write=Write("PUT", path, {"comment": TEXT}, {"authorization": "Bearer ya29.fresh"}),
        reply_id=f"{googlebusiness_test.REVIEW_ID}:reply",
        reply_at=googlebusiness_test.REPLIED_AT,
        ttfr=972.335,
        by=None,
    )


def trustpilot(server: LocalServer, _keys: Path) -> Case:
    review = json.loads(trustpilot_test.REVIEW)
    review_id = trustpilot_test.REVIEW_ID
    received: list[str] = []

    def reply(request: Request) -> Reply:
        received.append(request.json()["message"])
        return Reply(201)  # the docs show no answer body

    def read_back(request: Request) -> Reply:
        shown = copy.deepcopy(review)
        if received:  # the company reply once posted, as the review shows it
            shown["companyReply"]["text"] = received[-1]
        else:
            del shown["companyReply"]
        return Reply.json(shown)

    server.route(
        "/v1/oauth/oauth-business-users-for-applications/accesstoken",
        Reply(200, trustpilot_test.TOKEN, JSON),
    )
    server.route(f"/v1/private/reviews/{review_id}/reply", reply)
    server.route(f"/v1/reviews/{review_id}", read_back)
    return Case(
        feed={
            "type": "trustpilot",
            "business_unit_id": trustpilot_test.BUSINESS_UNIT,
            "base_url": server.url,
            "reply": {
                "business_user_id": trustpilot_test.USER_ID,
                "api_key_env": "TP_REPLY_KEY",
                "api_secret_env": "TP_REPLY_SECRET",
            },
        },
        env={"TP_REPLY_KEY": trustpilot_test.KEY, "TP_REPLY_SECRET": trustpilot_test.SECRET},
        target=trustpilot_test.TARGET,
        mention={"author_id": review["consumer"]["id"], "title": review["title"]},
        write=Write(
            "POST",
            f"/v1/private/reviews/{review_id}/reply",
            {"authorBusinessUserId": trustpilot_test.USER_ID, "message": TEXT},
            {"authorization": "Bearer AccessToken"},
        ),
        reply_id=f"{review_id}:reply",
        reply_at=trustpilot_test.REPLIED_AT,
        ttfr=100171.0,
        by=None,
    )


def x(server: LocalServer, _keys: Path) -> Case:
    created = x_test.CREATED
    server.route(
        "/2/tweets",
        lambda request: Reply.json(swap(created, x_test.TEXT, request.json()["text"]), 201),
    )
    target = x_test.TARGET
    return Case(
        feed={
            "type": "x",
            "user_id": x_test.BRAND_ID,
            "base_url": server.url,
            "reply": {"token_env": "ACME_X_WRITE"},
        },
        env={"ACME_X_WRITE": x_test.WRITE_TOKEN},
        target=target,
        mention={
            "url": f"https://x.com/someone/status/{target.external_id}",
            "thread_id": target.external_id,
        },
        write=Write(
            "POST",
            "/2/tweets",
            {"text": TEXT, "reply": {"in_reply_to_tweet_id": target.external_id}},
            {"authorization": f"Bearer {x_test.WRITE_TOKEN}"},
        ),
        reply_id=x_test.POST_ID,
        reply_at=x_test.POSTED_AT,
        ttfr=32138064.344,
        by=None,
    )


def facebook(server: LocalServer, _keys: Path) -> Case:
    c2, reply_c2 = C2, REPLY_C2
    node = facebook_test.node(reply_c2)
    received: list[str] = []

    def comment(request: Request) -> Reply:
        received.append(form(request)["message"])
        return Reply.json(facebook_test.CREATED)

    server.route(f"/v26.0/{c2}/comments", comment)
    server.route(
        f"/v26.0/{reply_c2}",
        lambda request: Reply.json(swap(node, node["message"], received[-1])),
    )
    stored = next(c for c in recorded_stream()["data"] if c["id"] == c2)
    return Case(
        feed={
            "type": "facebook",
            "page_id": PAGE_ID,
            "base_url": f"{server.url}/v26.0",
            "reply": {"token_env": "ACME_FB_WRITE"},
        },
        env={"ACME_FB_WRITE": facebook_test.WRITE_TOKEN},
        target=facebook_test.target(),
        mention={
            "url": stored["permalink_url"],
            "author": stored["from"]["name"],
            "author_id": stored["from"]["id"],
        },
        # Graph takes the Page token as a form field
        write=Write(
            "POST",
            f"/v26.0/{c2}/comments",
            {"message": TEXT, "access_token": facebook_test.WRITE_TOKEN},
            form=True,
        ),
        reply_id=reply_c2,
        reply_at=facebook_test.REPLY_AT,
        ttfr=99810.0,
        by="Facebook for Developers",
    )


def instagram(server: LocalServer, _keys: Path) -> Case:
    comment_id = LIXIANG["id"]
    created = instagram_test.CREATED
    node = instagram_test.OWN_REPLY_NODE
    received: list[str] = []

    def replies(request: Request) -> Reply:
        received.append(form(request)["message"])
        return Reply.json(created)

    server.route(f"/v26.0/{comment_id}/replies", replies)
    server.route(
        f"/v26.0/{created['id']}",
        lambda request: Reply.json(swap(node, node["text"], received[-1])),
    )
    return Case(
        feed={
            "type": "instagram",
            "ig_user_id": ACCOUNT,
            "base_url": f"{server.url}/v26.0",
            "reply": {"token_env": "ACME_IG_WRITE"},
        },
        env={"ACME_IG_WRITE": instagram_test.WRITE_TOKEN},
        target=instagram_test.target(),
        write=Write(
            "POST",
            f"/v26.0/{comment_id}/replies",
            {"message": TEXT, "access_token": instagram_test.WRITE_TOKEN},
            form=True,
        ),
        reply_id=created["id"],
        reply_at=instagram_test.REPLY_AT,
        ttfr=5761994.0,
        by="ikroskun",
    )


def threads(server: LocalServer, _keys: Path) -> Case:
    container = threads_test.CONTAINER["id"]
    published = threads_test.PUBLISHED["id"]
    node = threads_test.REPLY_NODE
    received: list[str] = []

    def create(request: Request) -> Reply:
        received.append(form(request)["text"])
        return Reply.json(threads_test.CONTAINER)

    server.route("/v1.0/me/threads", create)
    server.route(f"/v1.0/{container}", Reply.json(threads_test.FINISHED))
    server.route("/v1.0/me/threads_publish", Reply.json(threads_test.PUBLISHED))
    server.route(
        f"/v1.0/{published}", lambda request: Reply.json(swap(node, node["text"], received[-1]))
    )
    jamie = threads_test.JAMIE
    return Case(
        feed={
            "type": "threads",
            "query": "acme",
            "base_url": f"{server.url}/v1.0",
            "reply": {"token_env": "ACME_THREADS_WRITE"},
        },
        env={"ACME_THREADS_WRITE": threads_test.WRITE_TOKEN},
        target=threads_test.TARGET,
        mention={"url": jamie["permalink"]},
        # the container holding the reply; it is published by a second call
        write=Write(
            "POST",
            "/v1.0/me/threads",
            {
                "media_type": "TEXT",
                "text": TEXT,
                "reply_to_id": jamie["id"],
                "access_token": threads_test.WRITE_TOKEN,
            },
            form=True,
        ),
        reply_id=published,
        reply_at=datetime(2026, 11, 23, 9, 40, 12, tzinfo=UTC),
        ttfr=1662.0,
        by="acme",
    )


CASES: dict[str, Builder] = {
    builder.__name__: builder
    for builder in (
        mastodon,
        bluesky,
        github,
        discourse,
        reddit,
        stackexchange,
        youtube,
        googleplay,
        appstore,
        googlebusiness,
        trustpilot,
        x,
        facebook,
        instagram,
        threads,
    )
}
