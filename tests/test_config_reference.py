"""The config reference (docs/configuration.md and each source's page) has every key a user can
write, with its meaning."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from connectors import REGISTRY, connector_class, known_types
from monitor.config import Config, FeedConfig
from monitor.config_reference import (
    BEGIN,
    END,
    INDEX,
    TARGET,
    blocks,
    page,
    render,
    render_index,
    render_source,
)

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
    """The rendered reference, general and per source, as its tables: key -> meaning."""
    tables: list[dict[str, str]] = []
    text = "\n".join([render(), *(render_source(t) for t in known_types())])
    for line in text.splitlines():
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
    csv = render_source("csv")
    csv = csv[csv.index('#### `type = "csv"`') :]
    assert "| `columns` | table | **required** |" in csv
    assert "#### `[feeds.columns]`" in csv


def test_every_source_has_a_page_and_the_generated_blocks_match_the_models() -> None:
    missing = [t for t in known_types() if not (ROOT / page(t)).exists()]
    assert missing == [], "each source needs its page docs/sources/<type>.md"
    stale = []
    for path, block in blocks(ROOT):
        text = path.read_text(encoding="utf-8")
        if BEGIN not in text or text[text.index(BEGIN) : text.index(END) + len(END)] != block:
            stale.append(str(path.relative_to(ROOT)))
    assert stale == [], "run `python -m monitor.config_reference` and commit them"


def test_every_source_is_listed_with_what_it_watches_and_its_page() -> None:
    for type_name in known_types():
        module = sys.modules[connector_class(type_name).__module__]
        watches = (module.__doc__ or "").strip().splitlines()[0]
        assert watches, f"{module.__name__} has no docstring"
        assert f"- [`{type_name}`](sources/{type_name}.md): {watches}\n" in render()
        assert f"| `{type_name}` | {watches} | " in render_index()
        assert f"| [{type_name}]({type_name}.md) |\n" in render_index()
        assert f'#### `type = "{type_name}"`: ' in render_source(type_name)
    for generated in (TARGET, INDEX):
        text = (ROOT / generated).read_text(encoding="utf-8")
        assert all(f"{t}.md)" in text for t in known_types()), generated


def test_the_command_rewrites_every_stale_block_in_place_and_starts_a_missing_page(
    tmp_path: Path,
) -> None:
    stale = f"# Keys\n\n{BEGIN}\nold table\n{END}\n\nafter\n"
    (tmp_path / page("x").parent).mkdir(parents=True)
    *present, absent = known_types()
    for path in [TARGET, INDEX, *(page(t) for t in present)]:
        (tmp_path / path).write_text(stale, encoding="utf-8")
    command = [sys.executable, "-m", "monitor.config_reference", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    count = len(known_types()) + 2
    assert done.stdout.splitlines()[-1] == f"0 of {count} generated blocks already current"
    assert len(done.stdout.splitlines()) == count + 1
    for path, block in blocks(tmp_path):
        expected = (
            f"# `{absent}`\n\n{block}\n"
            if path.stem == absent
            else stale.replace(f"{BEGIN}\nold table\n{END}", block)
        )
        assert path.read_text(encoding="utf-8") == expected
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    assert again.stdout == f"{count} of {count} generated blocks already current\n"


def test_a_page_without_the_generated_block_is_named(tmp_path: Path) -> None:
    (tmp_path / page("x").parent).mkdir(parents=True)
    for path, _ in blocks(tmp_path):
        path.write_text(f"{BEGIN}\n{END}\n", encoding="utf-8")
    (tmp_path / page("hn")).write_text("# Hacker News\n\nno block\n", encoding="utf-8")
    command = [sys.executable, "-m", "monitor.config_reference", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1
    assert f"{tmp_path / page('hn')}: no generated block" in done.stderr
