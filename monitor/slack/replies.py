"""The Reply button's listeners: open the modal, fill a canned reply, post on submit.

Who may reply is `[slack] reply_allowed`, checked on the click and again on the submit (a
member removed from a group in between is refused). The submission is acknowledged at
once with a "Posting…" view (Slack wants an answer in 3 seconds; a platform may take
longer), then posted by `ReplyService` in the listener pool, and the modal is updated with
the outcome: posted (with a link), the platform's refusal above the agent's text (kept, to
fix and send again), or "may have been posted" (looked for before anything is sent again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from alerts.slack import ACTION_REPLY
from connectors.replies.base import Replier
from monitor.replying import attempts
from monitor.replying.attempts import Refusal, Who
from monitor.replying.service import ReplyService, problem_with
from monitor.slack import reply_modal
from monitor.slack.access import NOT_ALLOWED, AccessList
from monitor.slack.reply_modal import Limits, Place
from monitor.states import ClickOutcome
from monitor.store.db import session as open_session
from monitor.store.models import Mention

if TYPE_CHECKING:
    from monitor.slack.app import SlackActions

log = logging.getLogger(__name__)

RECOVER_EVERY = 15.0  # seconds between looks for attempts a crash left

NOT_ENABLED = (
    "Replying from Slack is not enabled: whoever runs the monitor lists who may reply as"
    " the brand in `[slack] reply_allowed`."
)
MAY_NOT_REPLY = (
    "You may not reply as the brand from Slack. Ask whoever runs the monitor to add you, or"
    " one of your user groups, to `[slack] reply_allowed`."
)


class ReplyListeners:
    def __init__(self, actions: SlackActions, access: AccessList) -> None:
        self.actions = actions
        self.config = actions.config
        self.engine = actions.engine
        self.access = access
        self.service = ReplyService(actions.config, actions.engine, clock=actions.clock)
        self._stopping = threading.Event()
        self._recovering: threading.Thread | None = None

    def register(self, app: App) -> None:
        app.action(ACTION_REPLY)(ack=_ack, lazy=[self._on_click])
        app.action(reply_modal.ACTION_TEMPLATE)(ack=_ack, lazy=[self._on_template])
        app.view(reply_modal.CALLBACK)(ack=self._ack_submission, lazy=[self._on_submission])

    def recover_soon(self, every: float = RECOVER_EVERY) -> None:
        """Settle, in the background and then every `every` seconds, what a crash left
        between posting and recording (a `posting` row becomes stale only after a while)."""

        def work() -> None:
            while not self._stopping.is_set():
                try:
                    settled = self.service.recover()
                except Exception:
                    log.exception("replies: could not settle earlier attempts")
                else:
                    if settled:
                        log.info("replies: %d attempt(s) left by a crash settled", settled)
                if self._stopping.wait(every):
                    return

        if self._recovering is None:
            self._recovering = threading.Thread(target=work, name="reply-recover", daemon=True)
            self._recovering.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._recovering is not None:
            self._recovering.join(timeout=30)

    # -- who, what, where -------------------------------------------------------------------

    def refusal(self, user_id: str) -> str | None:
        if not self.config.slack.reply_allowed:
            return NOT_ENABLED
        said = self.access.refusal(user_id)
        return MAY_NOT_REPLY if said == NOT_ALLOWED else said

    def _mention(self, mention_id: int) -> Mention | None:
        with open_session(self.engine) as session:
            return session.get(Mention, mention_id)

    def _limits(self, mention: Mention, writer: Replier[Any]) -> Limits:
        return Limits(
            platform=mention.platform,
            limit=writer.limit(),
            unit=writer.length_unit,
            replaces_existing=bool(getattr(writer, "replaces_existing", False)),
        )

    def _form(
        self, mention: Mention, writer: Replier[Any], place: Place, **kwargs: Any
    ) -> dict[str, Any]:
        templates = self.config.reply.templates_for(mention.language)
        return reply_modal.form(mention, place, self._limits(mention, writer), templates, **kwargs)

    # -- the button -------------------------------------------------------------------------

    def _on_click(self, body: dict[str, Any], request: BoltRequest, client: WebClient) -> None:
        self._guarded(self.open_modal, body, _source(request), client)

    def open_modal(self, payload: dict[str, Any], source: str, client: WebClient) -> None:
        who = _who(payload, source)
        (element,) = [a for a in payload.get("actions") or [] if a.get("action_id") == ACTION_REPLY]
        raw = str(element.get("value") or "")
        mention_id = int(raw) if raw.isdigit() and len(raw) < 19 else None
        tell = self.actions._tell
        response_url = payload.get("response_url")
        refusal = self.refusal(who.user_id)
        if refusal is not None:
            refused = Refusal(ClickOutcome.REFUSED, refusal)
            attempts.refuse(self.engine, mention_id, "", who, self.actions.clock(), refused)
            log.info("slack: reply by %s refused: not in [slack] reply_allowed", who.name)
            tell(response_url, refusal)
            return
        mention = self._mention(mention_id) if mention_id is not None else None
        if mention is None or mention_id is None:
            tell(response_url, "This mention is no longer in the database.")
            return
        writer = self.service.writer(mention.feed)
        if writer is None:
            tell(
                response_url,
                f"The feed {mention.feed} cannot reply from Slack now: its write credentials"
                " are not set.",
            )
            return
        place = Place(mention_id, who.channel_id, who.message_ts)
        try:
            client.views_open(
                trigger_id=payload.get("trigger_id"), view=self._form(mention, writer, place)
            )
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack: views.open failed: %s", _reason(exc))
            tell(response_url, "Slack did not open the reply form; press Reply again.")

    def _on_template(self, body: dict[str, Any], client: WebClient) -> None:
        self._guarded(self.fill_template, body, client)

    def fill_template(self, payload: dict[str, Any], client: WebClient) -> None:
        """A canned reply picked: the modal is redrawn with its text in the box."""
        view = payload.get("view") or {}
        place = Place.load(view.get("private_metadata"))
        mention = self._mention(place.mention_id) if place is not None else None
        writer = self.service.writer(mention.feed) if mention is not None else None
        if place is None or mention is None or writer is None:
            return
        (element,) = payload.get("actions") or [{}]
        chosen = str((element.get("selected_option") or {}).get("value") or "")
        templates = self.config.reply.templates_for(mention.language)
        if not chosen.isdigit() or int(chosen) >= len(templates):
            return
        # a new block id: Slack keeps what is in a text box unless the box is a new one
        place = Place(place.mention_id, place.channel_id, place.message_ts, place.revision + 1)
        text = templates[int(chosen)].text
        try:
            client.views_update(
                view_id=view.get("id"),
                hash=view.get("hash"),
                view=self._form(mention, writer, place, text=text),
            )
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack: views.update (template) failed: %s", _reason(exc))

    # -- the submission ---------------------------------------------------------------------

    def _checked(
        self, payload: dict[str, Any]
    ) -> tuple[Place, Mention, Replier[Any], str, str | None] | None:
        """(where, the mention, its writer, the text, why not) for a submission."""
        view = payload.get("view") or {}
        place = Place.load(view.get("private_metadata"))
        if place is None:
            return None
        mention = self._mention(place.mention_id)
        writer = self.service.writer(mention.feed) if mention is not None else None
        if mention is None or writer is None:
            return None
        text = reply_modal.typed_text(view, place)
        user = str((payload.get("user") or {}).get("id") or "unknown")
        problem = self.refusal(user) or problem_with(writer, text)
        return place, mention, writer, text, problem

    def _ack_submission(self, ack: Callable[..., Any], body: dict[str, Any]) -> None:
        """Answered within Slack's 3 seconds: a problem under the text box, or "Posting…"."""
        try:
            checked = self._checked(body)
        except Exception:
            log.exception("slack: reply submission could not be checked")
            checked = None
        if checked is None:
            ack(
                response_action="update",
                view=_closed("This mention can no longer be answered from Slack."),
            )
            return
        place, mention, writer, _text, problem = checked
        if problem is not None:
            ack(response_action="errors", errors={reply_modal.text_block(place): problem[:150]})
            return
        ack(response_action="update", view=reply_modal.posting(self._limits(mention, writer)))

    def _on_submission(self, body: dict[str, Any], request: BoltRequest, client: WebClient) -> None:
        self._guarded(self.submit, body, _source(request), client)

    def submit(self, payload: dict[str, Any], source: str, client: WebClient) -> None:
        checked = self._checked(payload)
        if checked is None:
            return
        place, mention, writer, text, problem = checked
        who = Who(
            _who(payload, source).user_id,
            _who(payload, source).user_name,
            source,
            place.channel_id,
            place.message_ts,
        )
        if problem is not None:  # told under the text box by the ack; kept here
            outcome = ClickOutcome.REFUSED if self.refusal(who.user_id) else ClickOutcome.FAILED
            refused = Refusal(outcome, problem)
            attempts.refuse(self.engine, place.mention_id, text, who, self.actions.clock(), refused)
            return
        result = self.service.submit(place.mention_id, text, who)
        log.info("slack: reply to mention %s by %s: %s", place.mention_id, who.name, result.outcome)
        limits = self._limits(mention, writer)
        if result.outcome == ClickOutcome.FAILED:
            view = self._form(mention, writer, place, text=text, error=result.detail)
        else:
            mark = ":white_check_mark:" if result.posted else ":information_source:"
            view = reply_modal.outcome(limits, result.detail, result.url, mark)
        try:
            client.views_update(view_id=(payload.get("view") or {}).get("id"), view=view)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack: views.update (reply outcome) failed: %s", _reason(exc))
        if place.channel_id and place.message_ts:
            self.actions._redraw(place.mention_id, place.channel_id, place.message_ts)

    @staticmethod
    def _guarded(work: Callable[..., None], *args: Any) -> None:
        try:
            work(*args)
        except Exception:
            log.exception("Slack reply payload: internal error")


def _ack(ack: Callable[[], Any]) -> None:
    ack()


def _who(payload: dict[str, Any], source: str) -> Who:
    user = payload.get("user") or {}
    container = payload.get("container") or {}
    return Who(
        user_id=str(user.get("id") or "unknown"),
        user_name=user.get("username") or user.get("name"),
        source=source,
        channel_id=container.get("channel_id") or (payload.get("channel") or {}).get("id"),
        message_ts=container.get("message_ts") or (payload.get("message") or {}).get("ts"),
    )


def _closed(text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": reply_modal.CALLBACK,
        "title": {"type": "plain_text", "text": "Reply"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": text}}],
    }


def _source(request: BoltRequest) -> str:
    return "socket" if request.mode == "socket_mode" else "http"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return exc.__class__.__name__
