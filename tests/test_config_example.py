"""config.example.toml is the file an operator starts from: valid as shipped, and with each
commented feed uncommented; it shows hours, SLA, a route with quiet hours and storm control,
and the digest. Every source type's example feed is on its page, docs/sources/<type>.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors import known_types
from monitor.cli import cli
from monitor.config import load_config
from monitor.config_reference import page

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
TEXT = EXAMPLE.read_text(encoding="utf-8")
# a commented feed: "# [[feeds]]" and the "# key = value" lines after it, up to a blank line
BLOCK = re.compile(r"^# \[\[feeds\]\]\n(?:# [a-z_]+ = .*\n)+", re.MULTILINE)
BLOCKS = BLOCK.findall(TEXT)
# a page's TOML example, fenced as ```toml
TOML = re.compile(r"^```toml\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def uncommented(block: str) -> str:
    return TEXT.replace(block, "".join(line[2:] + "\n" for line in block.splitlines()))


def check(text: str, tmp_path: Path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_example_as_shipped_is_valid_and_shows_what_an_operator_needs(
    tmp_path: Path,
) -> None:
    output = check(TEXT, tmp_path)
    assert output.startswith("ok: 2 feed(s)")
    config = load_config(EXAMPLE)
    assert config.business_hours.weekly and config.business_hours.timezone != "UTC"
    assert config.sla.target and config.sla.platforms
    [route] = config.routes
    assert route.quiet_hours is not None and route.storm is not None
    assert config.reports.digest.enabled


def test_every_commented_feed_is_of_a_known_type() -> None:
    types = [re.search(r'^# type = "(\w+)"', b, re.MULTILINE).group(1) for b in BLOCKS]  # type: ignore[union-attr]
    assert len(types) == len(BLOCKS) > 10
    assert set(types) <= set(known_types())


@pytest.mark.parametrize("type_name", known_types())
def test_each_source_page_has_a_valid_example_feed_of_its_type(
    type_name: str, tmp_path: Path
) -> None:
    examples = TOML.findall((ROOT / page(type_name)).read_text(encoding="utf-8"))
    assert examples, f"{page(type_name)} has no ```toml example"
    types = []
    for example in examples:  # each as written, alone in a config file
        check(example, tmp_path)
        types += [feed.type for feed in load_config(tmp_path / "config.toml").feeds]
    assert type_name in types, f"{page(type_name)} has no example feed of its type"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.splitlines()[2][len('# type = "') : -1])
def test_each_commented_feed_is_valid_when_uncommented(block: str, tmp_path: Path) -> None:
    output = check(uncommented(block), tmp_path)
    name = re.search(r'^# name = "([\w-]+)"', block, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert output.startswith("ok: 3 feed(s)") and f"  {name}: " in output
