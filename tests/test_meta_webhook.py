"""The Meta webhook over a real socket: verified, signed, stored in the request, then polled.

Notifications are the recorded ones (tests/fixtures/facebook/webhook_ratings_*, the
Instagram docs-shaped one) and one built from Meta's reference around comment C2 of the
recorded Facebook for Developers thread, so the poll that follows reads that same thread.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from monitor.config import ConfigError, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.slack.http import HttpListener
from monitor.store.db import session
from monitor.store.models import Alert, Mention
from monitor.webhooks.meta import MetaWebhook, signed_by
from tests.connectors import test_facebook
from tests.connectors.conformance import fixture_bytes
from tests.test_ttfr_recorded_facebook import graph
from tests.test_ttfr_recorded_threads import UTC_HOURS

SECRET = "meta-app-secret-for-tests"
VERIFY = "verify-me-please"
PATH = "/meta/webhook"
C2 = test_facebook.C2
NOW = datetime(2021, 8, 10, 19, 38, 50, tzinfo=UTC)  # six seconds after C2 was written
RATINGS_PAGE = "1234567890321"  # the (anonymised upstream) Page of the ratings recordings
IG_ACCOUNT = "0"  # the docs-shaped Instagram notification's account


def make_config(**hook: Any) -> Any:
    return parse_config(
        {
            "brand": {
                "name": "Acme",
                "identities": [
                    {
                        "platform": "facebook",
                        "handle": "Facebook for Developers",
                        "id": "19292868552",
                    }
                ],
            },
            "business_hours": UTC_HOURS,
            "slack": {"http_port": 3000},
            "alerts": {"on": ["all"]},  # every new mention alerts: the test counts them
            "meta_webhook": {"enabled": True, **hook},
            "feeds": [
                {"name": "fb", "type": "facebook", "page_id": "19292868552", "backfill": "3d"},
                {
                    "name": "fb-ratings",
                    "type": "facebook",
                    "page_id": RATINGS_PAGE,
                    "watch": ["ratings"],
                },
                {"name": "ig", "type": "instagram", "ig_user_id": IG_ACCOUNT},
            ],
        }
    )


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("META_APP_SECRET", SECRET)
    monkeypatch.setenv("META_WEBHOOK_VERIFY_TOKEN", VERIFY)
    monkeypatch.setenv("FACEBOOK_PAGE_TOKEN", "EAAGm0PX4ZCpsBAKZCZwebhooktoken")
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "IGQVJwebhooktoken")


class Served:
    def __init__(self, engine: Engine, listener: HttpListener, hook: MetaWebhook) -> None:
        self.engine = engine
        self.listener = listener
        self.hook = hook
        host, port = listener.server.server_address[:2]
        self.url = f"http://{host!s}:{port}{PATH}"

    def post(self, body: bytes, *, secret: str | None = SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
        return httpx.post(self.url, content=body, headers=headers, timeout=10)


@pytest.fixture
def served(engine: Engine) -> Iterator[Served]:
    config = make_config()
    hook = MetaWebhook(config, engine, clock=lambda: NOW)
    # routes only: no Slack signing secret, as on a host that serves Meta and not Slack
    listener = HttpListener(None, port=0, routes={PATH: hook})
    listener.start()
    yield Served(engine, listener, hook)
    listener.stop()


def mentions(engine: Engine) -> list[Mention]:
    with session(engine) as s:
        rows = list(s.exec(select(Mention).order_by(Mention.external_id)))
        s.expunge_all()
        return rows


def alerts(engine: Engine) -> int:
    with session(engine) as s:
        return len(list(s.exec(select(Alert))))


def c2_notification() -> bytes:
    return fixture_bytes("facebook", "webhook_feed_comment_add_C2_from_docs.json")


def page_reply_notification() -> bytes:
    """The Page's own reply under C2, in the same envelope: the poll's to interpret."""
    payload = json.loads(c2_notification())
    value = payload["entry"][0]["changes"][0]["value"]
    value.update(
        {
            "from": {"id": "19292868552", "name": "Facebook for Developers"},
            "comment_id": test_facebook.REPLY_C2,
            "parent_id": C2,
            "message": "Hi, please access the Instagram Help Center",
            "created_time": int(datetime(2021, 8, 11, 23, 22, 14, tzinfo=UTC).timestamp()),
        }
    )
    return json.dumps(payload).encode()


# -- the subscription's check ---------------------------------------------------------------


def test_the_verification_echoes_the_challenge_only_for_the_right_token(served: Served) -> None:
    ok = httpx.get(
        served.url,
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"},
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = httpx.get(
        served.url,
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
    )
    assert wrong.status_code == 403 and wrong.text == ""
    reflected = httpx.get(
        served.url,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY,
            "hub.challenge": "<script>alert(1)</script>",
        },
    )
    assert reflected.status_code == 403 and "script" not in reflected.text
    assert httpx.get(served.url.replace(PATH, "/elsewhere")).status_code == 404


# -- notifications ---------------------------------------------------------------------------


def test_a_signed_comment_is_stored_and_alerted_before_the_answer(served: Served) -> None:
    answer = served.post(c2_notification())
    assert answer.status_code == 200
    [mention] = mentions(served.engine)
    assert mention.platform == "facebook" and mention.external_id == C2
    assert mention.feed == "fb"
    assert mention.created_at == datetime(2021, 8, 10, 19, 38, 44, tzinfo=UTC)
    assert mention.author == "user 3553"
    assert mention.text.startswith("Can someone from Instagram please assist")
    assert mention.status == "open"
    assert alerts(served.engine) == 1  # queued in the same transaction, as a poll's


def test_the_page_own_comment_is_left_to_the_poll(served: Served) -> None:
    assert served.post(page_reply_notification()).status_code == 200
    assert mentions(served.engine) == []


def test_a_replayed_notification_stores_nothing_twice(served: Served) -> None:
    for _ in range(3):
        assert served.post(c2_notification()).status_code == 200
    assert [m.external_id for m in mentions(served.engine)] == [C2]
    first_alerts = alerts(served.engine)
    served.post(c2_notification())
    assert alerts(served.engine) == first_alerts


@pytest.mark.parametrize(
    "secret",
    [None, "not-the-app-secret"],
    ids=["unsigned", "signed-by-another-secret"],
)
def test_an_unsigned_or_wrongly_signed_notification_is_refused(
    served: Served, secret: str | None
) -> None:
    assert served.post(c2_notification(), secret=secret).status_code == 403
    assert mentions(served.engine) == []


def test_without_the_app_secret_every_notification_is_refused(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("META_APP_SECRET")
    assert served.post(c2_notification()).status_code == 403
    assert mentions(served.engine) == []


def test_a_signed_body_that_is_not_a_notification_is_a_400(served: Served) -> None:
    assert served.post(b"\x00\xff not json").status_code == 400
    assert served.post(b'{"object": "page", "entry": {}}').status_code == 400
    assert served.post(b"[1, 2]").status_code == 400
    assert mentions(served.engine) == []


def test_hostile_text_is_stored_clean_and_an_unknown_page_is_acknowledged(served: Served) -> None:
    payload = json.loads(c2_notification())
    value = payload["entry"][0]["changes"][0]["value"]
    value["message"] = "refund now\x00 <!channel> \ud800"
    value["comment_id"] = "10158407654328553_1"
    other = json.loads(c2_notification())
    other["entry"][0]["id"] = "999"  # a Page no feed watches
    payload["entry"].append(other["entry"][0])
    body = json.dumps(payload).encode()
    assert served.post(body).status_code == 200
    [mention] = mentions(served.engine)
    assert "\x00" not in mention.text and "\ud800" not in mention.text
    assert mention.text.startswith("refund now")


def test_a_failure_to_store_answers_500_so_meta_sends_it_again(served: Served) -> None:
    with served.engine.begin() as conn:
        conn.execute(text("ALTER TABLE mention RENAME TO mention_away"))
    assert served.post(c2_notification()).status_code == 500
    with served.engine.begin() as conn:
        conn.execute(text("ALTER TABLE mention_away RENAME TO mention"))
    assert served.post(c2_notification()).status_code == 200  # Meta's resend
    assert [m.external_id for m in mentions(served.engine)] == [C2]


def test_a_recorded_rating_notification_is_a_review_with_its_stars(served: Served) -> None:
    body = fixture_bytes(
        "facebook", "webhook_ratings_rating_add_recommendation_POSITIVE_2018_restfb.json"
    )
    assert served.post(body).status_code == 200
    [review] = mentions(served.engine)
    assert (review.feed, review.external_id) == ("fb-ratings", "904801129604590")
    assert review.rating == 3.0 and review.author == "Tester"
    assert review.text == "Ja ziemlich coole Sache"
    assert review.created_at == datetime.fromtimestamp(1537369512, tz=UTC)
    # a comment on a review: the poll's to say whether the Page answered
    comment = fixture_bytes(
        "facebook", "webhook_ratings_comment_add_on_review_parent_id_2015_restfb.json"
    )
    assert served.post(comment).status_code == 200
    assert len(mentions(served.engine)) == 1


def test_an_instagram_comment_takes_the_notification_time(served: Served) -> None:
    body = fixture_bytes("instagram", "webhook_comments_with_parent_id_restfb_docs_shaped.json")
    assert served.post(body).status_code == 200
    [comment] = mentions(served.engine)
    assert (comment.platform, comment.feed, comment.external_id) == ("instagram", "ig", "123456789")
    assert comment.author == "testuser" and comment.text == "This is an example."
    assert comment.created_at == datetime.fromtimestamp(1519399307, tz=UTC)


def test_the_instagram_account_own_reply_is_left_to_the_poll(served: Served) -> None:
    payload = json.loads(
        fixture_bytes("instagram", "webhook_comments_with_parent_id_restfb_docs_shaped.json")
    )
    payload["entry"][0]["changes"][0]["value"]["from"]["id"] = IG_ACCOUNT
    assert served.post(json.dumps(payload).encode()).status_code == 200
    assert mentions(served.engine) == []


# -- the poll after the webhook ---------------------------------------------------------------


def test_the_poll_after_the_webhook_finds_the_reply_and_the_ttfr_is_the_polled_one(
    served: Served,
) -> None:
    """The webhook stored C2 at once; the next poll reads the recorded thread, finds C2
    stored (no second mention, no second alert) and the Page's reply: TTFR 99,810 s, as in
    tests/test_ttfr_recorded_facebook.py where polling alone found both."""
    assert served.post(c2_notification()).status_code == 200
    alerted = alerts(served.engine)
    config = served.hook.config
    client = httpx.Client(transport=httpx.MockTransport(graph))
    report = Pipeline(config, served.engine, client).poll(
        "fb", now=datetime(2021, 8, 13, tzinfo=UTC)
    )
    assert report.ok, report.error
    c2 = [m for m in mentions(served.engine) if m.external_id == C2]
    assert len(c2) == 1
    assert c2[0].status == "answered" and c2[0].ttfr_seconds == 99810
    with session(served.engine) as s:
        about_c2 = s.exec(select(Alert).where(Alert.mention_id == c2[0].id)).all()
    assert alerted == 1
    assert [a.kind for a in about_c2].count("mention") == 1  # the poll queued no second one


# -- the pieces ---------------------------------------------------------------------------------


def test_signed_by_checks_the_whole_body_and_the_form_of_the_header() -> None:
    body = b'{"object":"page"}'
    good = "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
    assert signed_by("s", body, good)
    assert not signed_by("s", body + b" ", good)
    assert not signed_by("s", body, good.upper())
    assert not signed_by("s", body, good.replace("sha256=", "sha1="))
    assert not signed_by("s", body, "")


def test_the_config_names_what_the_webhook_needs() -> None:
    with pytest.raises(ConfigError) as no_port:
        parse_config({"meta_webhook": {"enabled": True}})
    assert "meta_webhook.enabled" in str(no_port.value)
    assert "http_port" in str(no_port.value)
    with pytest.raises(ConfigError) as slack_path:
        parse_config(
            {
                "slack": {"http_port": 3000},
                "meta_webhook": {"enabled": True, "path": "/slack/events"},
            }
        )
    assert "meta_webhook.path" in str(slack_path.value)
