"""The import graph points one way: cli -> monitor -> connectors, alerts; never back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# what each package may not import: connectors and alerts know nothing of the monitor (its
# store, its states, its config) nor of each other
FORBIDDEN = {"connectors": ("monitor", "alerts"), "alerts": ("monitor", "connectors")}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "monitor":  # `from monitor import health`: the module is named
                names.update(f"monitor.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_lower_package_never_imports_a_higher_one(package: str) -> None:
    wrong = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in imported(path)
        if name.split(".")[0] in FORBIDDEN[package]
    )
    assert wrong == []


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from monitor.states import AlertKind\n", encoding="utf-8")
    assert imported(module) == {"monitor.states"}


# monitor/'s rooms from the top down: a room imports only rooms below it (and the foundation
# modules, which every room reads); never a room above or beside it, so no two rooms import
# each other. The command line, the scheduler and the demo sit on top of all of them.
ROOMS = (
    "cluster",
    "webhooks",
    "slack",
    "replying",
    "reports",
    "ingest",
    "alerting",
    "leadership",
    "sentiment",
    "store",
)
FOUNDATION = (
    "config",
    "config_reference",
    "states",
    "business_hours",
    "store_url",
    "redaction",
    "mention_filter",
)
TOP = ("cli", "scheduler", "demo", "__main__")


def room_of(module: str) -> str | None:
    """`monitor.alerting.outbox` -> "alerting"; None for a module outside monitor/."""
    parts = module.split(".")
    return parts[1] if parts[0] == "monitor" and len(parts) > 1 else None


def test_every_module_of_the_monitor_has_a_known_place() -> None:
    places = set(ROOMS) | set(FOUNDATION) | set(TOP) | {"__init__", "demo_data"}
    unknown = sorted(path.name for path in (ROOT / "monitor").iterdir() if path.stem not in places)
    assert unknown in ([], ["__pycache__"])


@pytest.mark.parametrize("room", ROOMS + FOUNDATION)
def test_a_room_imports_only_the_rooms_below_it(room: str) -> None:
    below = set(ROOMS[ROOMS.index(room) + 1 :]) if room in ROOMS else set()
    allowed = below | set(FOUNDATION) | {room}
    if room in FOUNDATION:
        allowed = set(FOUNDATION)  # the foundation reads nothing of the rooms
    paths = (
        (ROOT / "monitor" / room).rglob("*.py")
        if room in ROOMS
        else [ROOT / "monitor" / f"{room}.py"]
    )
    wrong = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in paths
        for name in imported(path)
        if (target := room_of(name)) is not None and target not in allowed
    )
    assert wrong == []
