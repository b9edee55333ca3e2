"""The config reference (docs/configuration.md) has every key a user can write, with its meaning."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from connectors import REGISTRY, connector_class
from monitor.config import Config, FeedConfig
from monitor.config_reference import BEGIN, END, TARGET, render

ROOT = Path(__file__).resolve().parent.parent

ROW = re.compile(r"^\| `([a-z_0-9]+)` \| [^|]* \| .*? \| (.*) \|$")


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every model an annotation can hold, however nested (Optional, list, dict, union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def reachable() -> list[type[BaseModel]]:
    roots: list[type[BaseModel]] = [Config, FeedConfig]
    roots += [connector_class(name).Options for name in sorted(REGISTRY)]
    seen: list[type[BaseModel]] = []
    todo = list(roots)
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            todo += models_in(field.annotation)
    return seen


def sections() -> list[dict[str, str]]:
    """The rendered reference as its tables: key -> meaning."""
    tables: list[dict[str, str]] = []
    for line in render().splitlines():
        if line.startswith("#### "):
            tables.append({})
        elif (match := ROW.match(line)) and tables:
            tables[-1][match.group(1)] = match.group(2)
    return tables


def test_every_field_of_every_model_says_what_it_means() -> None:
    undescribed = [
        f"{model.__module__}.{model.__qualname__}.{name}"
        for model in reachable()
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert undescribed == []


def test_every_model_reachable_from_the_config_has_its_table_with_every_key() -> None:
    tables = sections()
    models = [m for m in reachable() if m is not Config]  # Config's keys are the sections
    assert len(models) > 30
    for model in models:
        keys = set(model.model_fields)
        # a model used in two places (`[sla.platforms.<name>]`, `[feeds.sla]`) has two tables
        matching = [t for t in tables if set(t) == keys]
        assert matching, f"no table for {model.__qualname__}: {sorted(keys)}"
        for table in matching:
            for name, field in model.model_fields.items():
                description = (field.description or "").replace("|", "\\|")
                assert table[name].startswith(description), (model.__qualname__, name)


def test_the_keys_new_users_missed_are_there() -> None:
    text = render()
    for heading in ("`[[routes]]`", "`[routes.quiet_hours]`", "`[routes.storm]`"):
        assert f"#### {heading}" in text
    assert "#### `[reports.digest]`" in text
    csv = text[text.index('#### `type = "csv"`') :]
    assert "| `columns` | table | **required** |" in csv
    assert "#### `[feeds.columns]`" in csv


def test_the_docs_reference_matches_the_models() -> None:
    text = (ROOT / TARGET).read_text(encoding="utf-8")
    block = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert block == render(), f"run `python -m monitor.config_reference` and commit {TARGET}"


def test_the_command_rewrites_a_stale_reference_in_place(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text(f"# Keys\n\n{BEGIN}\nold table\n{END}\n\nafter\n", encoding="utf-8")
    command = [sys.executable, "-m", "monitor.config_reference", str(stale)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"{stale} updated"
    assert stale.read_text(encoding="utf-8") == f"# Keys\n\n{render()}\n\nafter\n"
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    assert again.stdout.strip() == f"{stale} already current"
