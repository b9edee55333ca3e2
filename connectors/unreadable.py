"""The items a recheck could not read: skipped one by one, raised when none could be read."""

from __future__ import annotations

import logging

from connectors.errors import MalformedResponse

log = logging.getLogger(__name__)


class Unreadable:
    """Counts one recheck's items whose answer was refused or malformed (an unexpected 4xx, a
    body not as the platform documents it).

    One bad item must not stop the walk of the others, so it is skipped and counted. When no
    item at all could be read, the feed itself is wrong (a changed API, a proxy's error
    page): `done` raises the first error then, as a poll would. A deleted item (404, 410) is
    an answer, not a failure: the caller counts it with `answered`.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.answers = 0
        self.errors: list[tuple[str, MalformedResponse]] = []

    def answered(self) -> None:
        self.answers += 1

    def skip(self, item_id: str, error: MalformedResponse) -> None:
        self.errors.append((item_id, error))

    def done(self) -> None:
        """Raise when every item failed; otherwise log one warning counting the skipped."""
        if not self.errors:
            return
        if not self.answers:
            raise self.errors[0][1]
        item_id, error = self.errors[0]
        log.warning(
            "%s recheck: skipped %d of %d items it could not read (first: %s: %s)",
            self.source,
            len(self.errors),
            len(self.errors) + self.answers,
            item_id,
            error,
        )
