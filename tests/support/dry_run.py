"""`monitor poll FEED --dry-run` as a subprocess, over a config file written for one feed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]

TomlValue = str | int | bool | list[str] | dict[str, str]


class DryRun(NamedTuple):
    """What the run printed and returned, and where its store would be if it wrote one."""

    done: subprocess.CompletedProcess[str]
    database: Path


def toml_value(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {toml_value(v)}" for key, v in value.items()) + "}"
    # strings, integers and lists of strings: JSON spells them as TOML does
    return json.dumps(value)


def _table(header: str, keys: Mapping[str, TomlValue]) -> str:
    return "\n".join([header, *(f"{key} = {toml_value(v)}" for key, v in keys.items())])


def dry_run_poll(
    tmp_path: Path,
    *,
    feed: Mapping[str, TomlValue],
    identity: Mapping[str, TomlValue],
    brand: str = "Acme",
    env: Mapping[str, str] | None = None,
) -> DryRun:
    """Writes tmp_path/config.toml (a SQLite store beside it, one brand identity, one feed with
    the given keys, its name included) and dry-runs a poll of that feed from the project root.

    env is added to this process's environment."""
    database = tmp_path / "monitor.db"
    config = tmp_path / "config.toml"
    sections = [
        _table("[storage]", {"url": f"sqlite:///{database}"}),
        _table("[brand]", {"name": brand}),
        _table("[[brand.identities]]", identity),
        _table("[[feeds]]", feed),
    ]
    config.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "monitor", "--config", str(config)]
    done = subprocess.run(
        [*command, "poll", str(feed["name"]), "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return DryRun(done, database)
