"""require_env: one wording for a missing variable, and the value as a connector sends it."""

from __future__ import annotations

import pytest

from connectors.env import require_env
from connectors.errors import AuthError


def test_an_unset_variable_names_itself_and_what_it_should_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ACME_TEST_TOKEN", raising=False)
    with pytest.raises(AuthError) as caught:
        require_env("ACME_TEST_TOKEN", "a token (https://example.test/tokens)")
    assert str(caught.value) == (
        "environment variable ACME_TEST_TOKEN is not set; "
        "it should hold a token (https://example.test/tokens)"
    )


@pytest.mark.parametrize("blank", ["", "  ", "\n"])
def test_a_blank_variable_is_not_set(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    monkeypatch.setenv("ACME_TEST_TOKEN", blank)
    with pytest.raises(AuthError, match="ACME_TEST_TOKEN is not set"):
        require_env("ACME_TEST_TOKEN", "a token")


def test_a_pasted_newline_is_no_part_of_a_token_but_a_password_keeps_its_spaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACME_TEST_TOKEN", " t0ken\n")
    assert require_env("ACME_TEST_TOKEN", "a token") == "t0ken"
    assert require_env("ACME_TEST_TOKEN", "a password", verbatim=True) == " t0ken\n"
