"""The app manifest asks for exactly the scopes the product uses and matches the config."""

from __future__ import annotations

from pathlib import Path

from monitor.config import SlackConfig

MANIFEST = Path(__file__).parent.parent.parent / "slack_app_manifest.yaml"


def _list_under(key: str, text: str) -> list[str]:
    """The `- item` lines of a YAML block list, comments skipped (no YAML parser needed)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{key}:")
    indent = len(lines[start]) - len(lines[start].lstrip())
    items = []
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(line) - len(line.lstrip()) <= indent:
            break
        if stripped.startswith("- "):
            items.append(stripped[2:])
    return items


def test_the_manifest_requests_exactly_the_bot_scopes_the_product_needs() -> None:
    text = MANIFEST.read_text()
    assert _list_under("bot", text) == [
        "chat:write",
        "commands",
        "channels:history",
        "groups:history",
        "channels:read",
        "groups:read",
        "usergroups:read",
    ]


def test_the_manifest_enables_socket_mode_interactivity_and_the_configured_command() -> None:
    text = MANIFEST.read_text()
    assert "  socket_mode_enabled: true\n" in text
    assert "  interactivity:\n    is_enabled: true\n" in text
    assert f"    - command: {SlackConfig().command}\n" in text
