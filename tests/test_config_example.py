"""config.example.toml is the file an operator starts from: valid as shipped, and with each
commented feed uncommented; it shows hours, SLA, a route with quiet hours and storm control,
the digest, and a feed of every source type."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors import REGISTRY
from monitor.cli import cli
from monitor.config import load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
TEXT = EXAMPLE.read_text(encoding="utf-8")
# a commented feed: "# [[feeds]]" and the "# key = value" lines after it, up to a blank line
BLOCK = re.compile(r"^# \[\[feeds\]\]\n(?:# [a-z_]+ = .*\n)+", re.MULTILINE)
BLOCKS = BLOCK.findall(TEXT)


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


def test_there_is_one_commented_feed_of_every_source_type() -> None:
    types = [re.search(r'^# type = "(\w+)"', b, re.MULTILINE).group(1) for b in BLOCKS]  # type: ignore[union-attr]
    assert sorted(types) == sorted(set(REGISTRY) - {"rss"})  # the two rss feeds are on


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.splitlines()[2][len('# type = "') : -1])
def test_each_commented_feed_is_valid_when_uncommented(block: str, tmp_path: Path) -> None:
    output = check(uncommented(block), tmp_path)
    name = re.search(r'^# name = "([\w-]+)"', block, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert output.startswith("ok: 3 feed(s)") and f"  {name}: " in output
