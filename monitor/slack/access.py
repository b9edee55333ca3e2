"""Who may press an alert's buttons: `[slack] allowed_users` and members of `allowed_groups`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

GROUP_TTL = 300.0  # a member removed from a group loses the buttons within five minutes
NOT_ALLOWED = (
    "You may not act on these alerts. Ask whoever runs the monitor to add you to"
    " `[slack] allowed_users` or to one of the user groups in `allowed_groups`."
)
UNCHECKED = (
    "Could not check whether you may act on these alerts (Slack did not list the members"
    " of the allowed user groups). Nothing changed; try again in a minute."
)


class AccessList:
    """Listed users, and members of listed user groups read with usergroups.users.list.

    Empty lists mean anyone in the workspace. Membership is cached per group for `ttl`
    seconds; when Slack cannot list a group, its members are refused (fail closed) rather
    than let through.
    """

    def __init__(
        self,
        users: Iterable[str] = (),
        groups: Iterable[str] = (),
        client: WebClient | None = None,
        *,
        ttl: float = GROUP_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = frozenset(users)
        self.groups = tuple(groups)
        self.client = client  # None: no bot token, so groups cannot be read
        self.ttl = ttl
        self.clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    @property
    def restricted(self) -> bool:
        return bool(self.users or self.groups)

    def refusal(self, user_id: str) -> str | None:
        """None when `user_id` may act; otherwise what the clicker is told."""
        if not self.restricted or user_id in self.users:
            return None
        unread = False
        for group in self.groups:
            members = self._group(group)
            if members is None:
                unread = True
            elif user_id in members:
                return None
        return UNCHECKED if unread else NOT_ALLOWED

    def _group(self, group: str) -> frozenset[str] | None:
        with self._lock:  # one lookup per group at a time; the others wait for its answer
            cached = self._members.get(group)
            if cached and self.clock() - cached[0] < self.ttl:
                return cached[1]
            if self.client is None:
                return None
            try:
                response = self.client.usergroups_users_list(usergroup=group)
            except SlackApiError as exc:
                log.warning(
                    "slack: usergroups.users.list %s failed: %s (the bot needs usergroups:read)",
                    group,
                    exc.response.get("error"),
                )
                return None
            except (SlackClientError, OSError) as exc:
                log.warning(
                    "slack: usergroups.users.list %s failed: %s", group, exc.__class__.__name__
                )
                return None
            members = frozenset(str(user) for user in response.get("users") or [])
            self._members[group] = (self.clock(), members)
            return members
