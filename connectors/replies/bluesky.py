"""Bluesky: the brand's reply is a post whose `reply` refers to the thread's root and the mention.

- First GET /xrpc/app.bsky.feed.getPosts?uris=<mention>
  (https://docs.bsky.app/docs/api/app-bsky-feed-get-posts): the mention's cid, its own
  `reply.root` (the thread's root; the mention itself when it starts the thread), and
  `viewer.replyDisabled`: when the thread's author lets only some accounts reply and the
  brand is not one of them, nothing is posted (the AppView would hide the reply).
- Then POST /xrpc/com.atproto.repo.createRecord
  (https://docs.bsky.app/docs/api/com-atproto-repo-create-record) with `repo` = the brand's
  handle, `collection` app.bsky.feed.post, a chosen `rkey`, and the record {text, createdAt,
  reply {root, parent}, facets}.
- Write credentials: the brand's handle in `handle_env` and an app password of that account
  in `password_env` (Settings > Privacy and security > App passwords; posting needs no
  privileged access), logged in with com.atproto.server.createSession, the session kept
  30 minutes per handle and renewed once on ExpiredToken; or an access token in `token_env`.
- Length: 300 graphemes and 3000 bytes of UTF-8 (app.bsky.feed.post's maxGraphemes and
  maxLength), checked before posting.
- Exactly once (`takes_key`): the record key is a TID made from the attempt's key and the
  mention: its time is the mention's second (so it sorts within the thread's time), the rest
  a hash of the key. A resend of the same attempt writes to the same key, and the PDS does
  not create a second record there: it answers 500 (bluesky-social/atproto#3718) or an
  explicit error (atproto#4728). After such an answer, or a lost one, the record at that key
  is read (com.atproto.repo.getRecord) and, if it is our reply, that is the answer.
- Text is sent as typed: Bluesky shows text, not markup. A typed http(s) URL gets a link
  facet whose URI is the URL shown (byte offsets into UTF-8); no mention or hashtag facets,
  so nobody is notified or tagged by the reply's text alone.
- `createdAt` is the record's time, which the feed's connector stores as the reply's time;
  the id is the post's at:// URI, as the connector stores it.
- Looking for our own reply (`find_own`): app.bsky.feed.getPostThread below the mention
  (depth 1), a reply by the brand's handle with this text created at or after `since`.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import regex
from pydantic import model_validator

from connectors.apijson import decode_json
from connectors.env import require_env
from connectors.errors import AuthError, ConnectorError
from connectors.http import MAX_RETRY_AFTER
from connectors.replies._links import typed_urls
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
    send,
)
from connectors.sources.bluesky import (
    POST_COLLECTION,
    SESSION_TTL,
    format_time,
    parse_time,
    web_url,
)

SOURCE = "Bluesky"
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
# An access token the PDS no longer takes is a 400 with one of these (an expired one) or a 401.
TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable (atproto TID spec)
_GRAPHEME = regex.compile(r"\X")


class BlueskyReplyOptions(ReplyOptions):
    handle_env: str
    """env var holding the brand account's handle, e.g. acme.bsky.social (it posts the replies)"""
    password_env: str | None = None
    """env var holding an app password of that account, separate from the feed's read login"""
    token_env: str | None = None
    """env var holding a ready access token instead of an app password (short-lived)"""

    @model_validator(mode="after")
    def _one_credential(self) -> BlueskyReplyOptions:
        if bool(self.password_env) == bool(self.token_env):
            raise ValueError("give one of `password_env` (an app password) or `token_env`")
        return self


def record_key(key: str, target: ReplyTarget) -> str:
    """The TID an attempt writes its post at (https://atproto.com/specs/tid): the mention's
    second, then microseconds and a clock id from a hash of the key, so every attempt on a
    mention has its own key and a resend of one attempt has the same."""
    digest = int.from_bytes(hashlib.sha256(f"{target.external_id}\n{key}".encode()).digest()[:8])
    second = max(0, int(target.created_at.timestamp()))
    micros = second * 1_000_000 + digest % 1_000_000
    value = (micros << 10) | ((digest >> 20) & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def link_facets(text: str) -> list[dict[str, Any]]:
    """A link facet for each typed http(s) URL, pointing where its text says."""
    facets = []
    for start, end in typed_urls(text):
        byte_start = len(text[:start].encode())
        facets.append(
            {
                "index": {
                    "byteStart": byte_start,
                    "byteEnd": byte_start + len(text[start:end].encode()),
                },
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": text[start:end]}],
            }
        )
    return facets


class BlueskyReplier(Replier[BlueskyReplyOptions]):
    platform = "bluesky"
    max_length = MAX_GRAPHEMES
    length_unit = "graphemes"
    takes_key = True
    write_scopes = "an app password of the brand's account (posting needs no privileged access)"

    def length(self, text: str) -> int:
        return len(_GRAPHEME.findall(text))

    def check(self, text: str) -> str | None:
        problem = super().check(text)
        size = len(text.encode())
        if problem is None and size > MAX_BYTES:
            problem = (
                f"bluesky takes at most {MAX_BYTES} bytes of UTF-8 (emoji count several);"
                f" this reply has {size}. Shorten it."
            )
        return problem

    # -- posting --------------------------------------------------------------------------

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        now = datetime.now(UTC)
        parent, root = self._refs(client, target, now)
        rkey = record_key(key, target)
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": text,
            "createdAt": format_time(now),
            "reply": {"root": root, "parent": parent},
        }
        facets = link_facets(text)
        if facets:
            record["facets"] = facets
        handle = self._handle()
        request = {"repo": handle, "collection": POST_COLLECTION, "rkey": rkey, "record": record}
        try:
            _r, body = self._send(
                client, "POST", "com.atproto.repo.createRecord", now, json=request
            )
        except ReplyUnknown as exc:
            return self._earlier(client, handle, rkey, parent["uri"], text, now, exc)
        except ReplyRefused as exc:
            if exc.kind != "invalid":
                raise
            return self._earlier(client, handle, rkey, parent["uri"], text, now, exc)
        uri = _json(body).get("uri")
        if not isinstance(uri, str) or not uri.startswith("at://"):
            raise ReplyUnknown("Bluesky's answer lacks the created post's at:// URI")
        return _posted(uri, handle, record)

    def _refs(
        self, client: httpx.Client, target: ReplyTarget, now: datetime
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Strong refs (uri, cid) to the mention and its thread's root; refused when the
        post is gone or closed to the brand."""
        uri = target.external_id
        if not _is_post(uri):
            raise ReplyRefused(f"{uri} is not a Bluesky post: nothing was posted", kind="invalid")
        try:
            _r, body = self._send(
                client, "GET", "app.bsky.feed.getPosts", now, params={"uris": uri}
            )
        except ReplyUnknown as exc:
            raise ReplyRefused(
                "Bluesky did not show the post being answered: nothing was posted; try again"
                " in a minute",
                kind="unreachable",
            ) from exc
        posts = _json(body).get("posts")
        views = posts if isinstance(posts, list) else []
        view = next((p for p in views if isinstance(p, dict) and p.get("uri") == uri), None)
        if view is None or not isinstance(view.get("cid"), str):
            raise ReplyRefused(
                "Bluesky no longer shows this post: it was probably deleted; nothing was posted",
                kind="gone",
            )
        viewer = _dict(view.get("viewer"))
        if viewer.get("replyDisabled"):
            raise ReplyRefused(
                "the thread's author lets only some accounts reply, and the brand's account is"
                " not one of them: nothing was posted",
                kind="invalid",
            )
        parent = {"uri": uri, "cid": view["cid"]}
        record = _dict(view.get("record"))
        reply = _dict(record.get("reply"))
        root = _strong_ref(reply.get("root")) or parent
        return parent, root

    def _earlier(
        self,
        client: httpx.Client,
        handle: str,
        rkey: str,
        parent_uri: str,
        text: str,
        now: datetime,
        failure: ReplyRefused | ReplyUnknown,
    ) -> PostedReply:
        """The post this attempt already made at `rkey`; else the failure, as it was."""
        said: dict[str, str] = {}
        params = {"repo": handle, "collection": POST_COLLECTION, "rkey": rkey}
        try:
            _r, body = self._send(
                client, "GET", "com.atproto.repo.getRecord", now, said=said, params=params
            )
        except (ReplyRefused, ReplyUnknown):
            raise failure from None  # RecordNotFound, or it could not be asked
        found = _json(body)
        value = _dict(found.get("value"))
        reply = _dict(value.get("reply"))
        parent = _strong_ref(reply.get("parent"))
        uri = found.get("uri")
        if not isinstance(uri, str) or parent is None or parent["uri"] != parent_uri:
            raise ReplyUnknown(
                f"another post holds this reply's record key {rkey}; check the thread on"
                " Bluesky before replying again"
            )
        if value.get("text") != text:
            raise failure
        return _posted(uri, handle, value)

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        now = datetime.now(UTC)
        handle = self._handle()
        params = {"uri": target.external_id, "depth": "1", "parentHeight": "0"}
        try:
            _r, body = self._send(client, "GET", "app.bsky.feed.getPostThread", now, params=params)
        except ReplyRefused as exc:
            raise ReplyUnknown(f"could not read the thread to look for the reply: {exc}") from exc
        thread = _json(body).get("thread")
        replies = thread.get("replies") if isinstance(thread, dict) else None
        for node in replies if isinstance(replies, list) else []:
            post = node.get("post") if isinstance(node, dict) else None
            if not isinstance(post, dict):
                continue  # blocked or deleted replies carry no post
            author = _dict(post.get("author"))
            record = _dict(post.get("record"))
            reply = _dict(record.get("reply"))
            parent = _strong_ref(reply.get("parent"))
            if (
                str(author.get("handle", "")).lower() == handle.lower()
                and parent is not None
                and parent["uri"] == target.external_id
                and record.get("text") == text
                and isinstance(post.get("uri"), str)
            ):
                found = _posted(post["uri"], handle, record)
                if found.created_at >= since:
                    return found
        return None

    # -- the session and the requests -------------------------------------------------------

    def _handle(self) -> str:
        options: BlueskyReplyOptions = self.options
        try:
            return require_env(options.handle_env, "the handle of the brand's Bluesky account")
        except AuthError as exc:
            raise ReplyRefused(f"{exc}: nothing was posted", kind="auth") from exc

    def _account(self, handle: str) -> tuple[str, str, str]:
        """Replies log in apart from the feeds that read (their own app password)."""
        return ("bluesky-reply", self.base_url, handle.lower())

    def _token(self, client: httpx.Client, now: datetime) -> str:
        options: BlueskyReplyOptions = self.options
        try:
            if options.token_env:
                return require_env(options.token_env, "a Bluesky access token")
            handle = self._handle()
            return self.logins.token(
                self._account(handle), now, lambda: self._login(client, handle, now)
            )
        except AuthError as exc:
            raise ReplyRefused(f"{exc}: nothing was posted", kind="auth") from exc

    def _login(self, client: httpx.Client, handle: str, now: datetime) -> tuple[str, datetime]:
        options: BlueskyReplyOptions = self.options
        password = require_env(
            options.password_env,
            "an app password (Settings > Privacy and security > App passwords)",
            verbatim=True,
        )
        try:
            _r, body = send(
                client,
                "POST",
                f"{self.base_url}/xrpc/com.atproto.server.createSession",
                source=SOURCE,
                refusal=_error,
                json={"identifier": handle, "password": password},
            )
        except ReplyUnknown as exc:
            raise ReplyRefused(
                "Bluesky did not answer the login: nothing was posted; try again in a minute",
                kind="unreachable",
            ) from exc
        except ReplyRefused as exc:
            if exc.kind in ("invalid", "auth"):
                raise ReplyRefused(
                    f"Bluesky refused the login of the handle in {options.handle_env} with the app"
                    f" password in {options.password_env} ({exc.message}): nothing was posted",
                    kind="auth",
                ) from exc
            raise
        token = _json(body).get("accessJwt")
        if not isinstance(token, str) or not token:
            raise ReplyRefused(
                "Bluesky's login answer has no access token: nothing was posted", kind="auth"
            )
        return token, now + SESSION_TTL

    def _send(
        self,
        client: httpx.Client,
        method: str,
        nsid: str,
        now: datetime,
        *,
        said: dict[str, str] | None = None,
        retried: bool = False,
        **request: Any,
    ) -> tuple[httpx.Response, bytes]:
        """One XRPC call as the brand: a session renewed once when the PDS says it expired,
        the XRPC error's name in `said`, and the wait of a 429 from RateLimit-Reset."""
        said = {} if said is None else said
        token = self._token(client, now)

        def refusal(response: httpx.Response, body: bytes) -> str | None:
            reset = response.headers.get("RateLimit-Reset")
            if reset:
                said["reset"] = reset
            name, message = _xrpc_error(body)
            if name:
                said["error"] = name
            return ": ".join(part for part in (name, message) if part) or None

        try:
            return send(
                client,
                method,
                f"{self.base_url}/xrpc/{nsid}",
                source=SOURCE,
                refusal=refusal,
                headers={"Authorization": f"Bearer {token}"},
                **request,
            )
        except ReplyRefused as exc:
            expired = said.get("error") in TOKEN_ERRORS or exc.kind == "auth"
            options: BlueskyReplyOptions = self.options
            if expired and options.password_env and not retried:
                # the PDS checked the session before anything else: nothing was written
                self.logins.forget(self._account(self._handle()), token)
                said.clear()
                return self._send(client, method, nsid, now, said=said, retried=True, **request)
            if said.get("error") in TOKEN_ERRORS:
                raise ReplyRefused(exc.message, kind="auth") from exc
            reset = said.get("reset", "")
            if exc.kind == "rate_limited" and exc.retry_after is None and reset.isdigit():
                wait = min(max(int(reset) - time.time(), 0.0), MAX_RETRY_AFTER)
                raise ReplyRefused(
                    f"{exc.message} (wait {int(wait)} s)", kind="rate_limited", retry_after=wait
                ) from exc
            raise


def _is_post(uri: str) -> bool:
    parts = uri.removeprefix("at://").split("/") if uri.startswith("at://") else []
    return len(parts) == 3 and parts[1] == POST_COLLECTION and all(parts)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strong_ref(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    uri, cid = value.get("uri"), value.get("cid")
    return {"uri": uri, "cid": cid} if isinstance(uri, str) and isinstance(cid, str) else None


def _posted(uri: str, handle: str, record: dict[str, Any]) -> PostedReply:
    try:
        created = parse_time(record.get("createdAt"))
    except ValueError as exc:
        raise ReplyUnknown(f"Bluesky's answer lacks the post's createdAt ({uri})") from exc
    did = uri.removeprefix("at://").split("/")[0]
    text = record.get("text")
    return PostedReply(
        external_id=uri,
        created_at=created,
        url=web_url(uri, handle, did),
        author=handle,
        author_id=did if did.startswith("did:") else None,
        text=text if isinstance(text, str) else None,
    )


def _json(body: bytes) -> dict[str, Any]:
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError as exc:
        raise ReplyUnknown(f"Bluesky's answer could not be read ({exc})") from exc
    if not isinstance(found, dict):
        raise ReplyUnknown("Bluesky's answer is not a JSON object")
    return found


def _xrpc_error(body: bytes) -> tuple[str | None, str | None]:
    """XRPC explains a refusal as {"error": "InvalidRequest", "message": "..."}
    (https://atproto.com/specs/xrpc#error-responses)."""
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError:
        return None, None
    if not isinstance(found, dict):
        return None, None
    name, message = found.get("error"), found.get("message")
    return (
        name if isinstance(name, str) else None,
        message if isinstance(message, str) else None,
    )


def _error(_response: httpx.Response, body: bytes) -> str | None:
    name, message = _xrpc_error(body)
    return ": ".join(part for part in (name, message) if part) or None
