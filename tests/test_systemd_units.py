"""deploy/systemd/'s units pass `systemd-analyze verify`, the template as an instance."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
# Where deploy/systemd/README.md installs the console script; verify checks that every
# Exec*= command exists and is executable, so a staged copy points at this environment's.
INSTALLED = "/opt/social-response-monitor/venv/bin/monitor"
# Each file as systemd would load it: the template through an instance of it.
VERIFIED = {
    "monitor.service": "monitor.service",
    "monitor-worker@.service": "monitor-worker@1.service",
    "monitor-slack-listen.service": "monitor-slack-listen.service",
}
STOP_TIMEOUT = 30.0  # [workers] stop_timeout's default: systemd must wait longer before SIGKILL
# systemd-analyze also loads the units ours name (network-online.target, postgresql.service)
# from the host and prints the host's own complaints about them, as
# "/etc/systemd/system/postgresql.service:3: Unknown key ..." or "postgresql.service: ...".
# Such a line is the host's, not ours; every other line is a problem.
HOST_UNIT_LINE = re.compile(
    r"^(?P<unit>/?[^\s:]+\.(?:service|target|socket|mount|slice|device))(?::\d+)?: "
)

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (Debian/Ubuntu: apt-get install systemd)",
)


def monitor_script() -> Path:
    """This environment's `monitor` console script, which the staged units run."""
    beside = Path(sys.executable).parent / "monitor"
    found = beside if beside.exists() else Path(shutil.which("monitor") or beside)
    if not found.exists():
        pytest.fail(f"no `monitor` console script at {beside}: pip install -e . first")
    return found


def stage(directory: Path, name: str, text: str) -> Path:
    """Write a unit to `directory` with every command pointed at an existing `monitor`."""
    commands = re.findall(r"^Exec\w*=.*$", text, re.MULTILINE)
    assert commands and all(INSTALLED in line for line in commands), commands
    path = directory / name
    path.write_text(text.replace(INSTALLED, str(monitor_script())), encoding="utf-8")
    return path


def is_host_noise(line: str, ours: set[str]) -> bool:
    """Whether a line of systemd-analyze's output is about a unit of the host, not ours."""
    match = HOST_UNIT_LINE.match(line)
    return match is not None and Path(match["unit"]).name not in ours


def problems(directory: Path, units: list[str]) -> list[str]:
    """What `systemd-analyze verify` says about the staged `units`, host noise left out.

    Its exit code alone is not enough: an unknown key or a value it cannot parse is
    reported and then ignored with exit code 0."""
    assert SYSTEMD_ANALYZE is not None
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *(str(directory / unit) for unit in units)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "SYSTEMD_COLORS": "0"},
        check=False,
    )
    ours = set(units) | {path.name for path in directory.iterdir()}
    lines = (result.stdout + result.stderr).splitlines()
    found = [line for line in lines if line.strip() and not is_host_noise(line, ours)]
    if result.returncode != 0 and not found:
        found.append(f"exit code {result.returncode} with nothing said about our units")
    return found


@needs_systemd_analyze
def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    files = sorted(path.name for path in UNITS.glob("*.service"))
    assert files == sorted(VERIFIED)
    for name in files:
        stage(tmp_path, name, (UNITS / name).read_text(encoding="utf-8"))
    assert problems(tmp_path, list(VERIFIED.values())) == []


@needs_systemd_analyze
def test_a_broken_unit_is_reported(tmp_path: Path) -> None:
    worker = (UNITS / "monitor-worker@.service").read_text(encoding="utf-8")
    broken = worker.replace("Restart=on-failure", "Restart=sometimes\nRestartEvery=5s")
    assert broken != worker
    stage(tmp_path, "monitor-worker@.service", broken)
    found = problems(tmp_path, ["monitor-worker@1.service"])
    assert any("sometimes" in line for line in found), found
    assert any("RestartEvery" in line for line in found), found


@needs_systemd_analyze
def test_a_command_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "monitor.service"
    path.write_text("[Service]\nExecStart=/nonexistent/bin/monitor run\n", encoding="utf-8")
    found = problems(tmp_path, ["monitor.service"])
    assert any("/nonexistent/bin/monitor" in line for line in found), found


def test_host_complaints_are_told_apart_from_ours() -> None:
    ours = {"monitor.service", "monitor-worker@.service", "monitor-worker@1.service"}
    host = "/etc/systemd/system/postgresql.service:3: Unknown key 'Frobnicate' in section"
    assert is_host_noise(host, ours)
    assert is_host_noise("network-online.target: some complaint", ours)
    for line in (
        "/tmp/x/monitor-worker@.service:36: Failed to parse CPU affinity 'x'",
        "monitor.service: Failed to create monitor.service/start: Unit nosuch.service not found.",
        "monitor.service: Command /opt/m is not executable: No such file or directory",
        "Unit monitor.service has a bad unit file setting.",
        "Failed to load something unexpected",
    ):
        assert not is_host_noise(line, ours), line


def seconds(value: str) -> float:
    """A systemd time span such as 45s, 1min 30s or 15min, in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    return sum(float(number) * units[unit or "s"] for number, unit in parts)


def test_units_outwait_stop_timeout_keep_secrets_out_and_migrate_only_alone() -> None:
    for path in UNITS.glob("*.service"):
        text = path.read_text(encoding="utf-8")
        stop = re.search(r"^TimeoutStopSec=(.+)$", text, re.MULTILINE)
        assert stop is not None, path.name
        if path.name != "monitor-slack-listen.service":  # the others run jobs
            assert seconds(stop[1]) > STOP_TIMEOUT, path.name
        assert "EnvironmentFile=/etc/social-response-monitor/env" in text, path.name
        assert not re.search(r"^Environment=.*(TOKEN|SECRET|PASSWORD)", text, re.M), path.name
        migrates = re.search(r"^ExecStartPre=.* db upgrade$", text, re.MULTILINE)
        assert (migrates is not None) == (path.name == "monitor.service"), path.name
