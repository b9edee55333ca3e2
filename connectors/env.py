"""A connector's secrets and settings read from the environment, with one wording for a gap."""

from __future__ import annotations

import os

from connectors.errors import AuthError


def require_env(name: str | None, what_for: str, *, verbatim: bool = False) -> str:
    """The value of the environment variable `name`, without surrounding whitespace.

    Unset or blank, it is an AuthError the operator can act on: the variable's name and
    `what_for`, what it should hold and where to get it ("a GitHub token (https://...)").
    A pasted token's trailing newline is not part of the token; a password may begin or
    end with a space, so `verbatim` returns the value as it is written."""
    value = os.environ.get(name, "") if name else ""
    if not value.strip():
        raise AuthError(f"environment variable {name} is not set; it should hold {what_for}")
    return value if verbatim else value.strip()
