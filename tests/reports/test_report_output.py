"""Where `monitor report` writes: HTML goes to a dated file, never 100 KB onto the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli

ROOT = Path(__file__).resolve().parents[2]
MONITOR = Path(sys.executable).parent / "monitor"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "m.db"}"\n', encoding="utf-8")
    return path


def test_html_without_output_goes_to_a_dated_file_in_the_current_folder(
    config: Path, tmp_path: Path
) -> None:
    before = datetime.now(UTC).date()
    result = CliRunner().invoke(cli, ["-c", str(config), "report", "--format", "html"])
    after = datetime.now(UTC).date()
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # nothing on the terminal
    written = sorted(tmp_path.glob("monitor-report-*.html"))
    assert [p.name for p in written] in (
        [f"monitor-report-{day:%Y-%m-%d}.html"] for day in {before, after}
    )
    assert written[0].read_text(encoding="utf-8").lower().startswith("<!doctype html>")
    assert result.stderr.startswith(f"wrote {written[0].name} (")
    assert result.stderr.endswith(" KB); open it in a browser\n")


def test_html_to_standard_output_only_when_asked_with_a_dash(config: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["-c", str(config), "report", "--format", "html", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout.lower().startswith("<!doctype html>")
    assert list(tmp_path.glob("*.html")) == []


def test_text_still_goes_to_the_terminal(config: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["-c", str(config), "report"])
    assert result.exit_code == 0, result.output
    assert "mentions" in result.stdout
    assert list(tmp_path.glob("monitor-report-*")) == []


def test_an_output_file_that_cannot_be_written_is_one_line(config: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "r.csv"
    result = CliRunner().invoke(
        cli, ["-c", str(config), "report", "--format", "csv", "-o", str(target)]
    )
    assert result.exit_code == 2
    assert result.stderr == f"report: cannot write {target}: No such file or directory\n"


def test_without_matplotlib_the_hint_names_an_extra_that_exists(
    config: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nsys.modules['matplotlib'] = None\n", encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    env.pop("MONITOR_CONFIG", None)
    result = subprocess.run(
        [str(MONITOR), "-c", str(config), "report", "--format", "html"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line == (
        "report: the HTML report draws its charts with matplotlib: "
        "pip install -e '.[reports]' in the monitor's checkout (or pip install matplotlib)"
    )
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"
    ]
    assert any(dep.startswith("matplotlib") for dep in extras["reports"])
    assert list(tmp_path.glob("*.html")) == []
