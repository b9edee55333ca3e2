"""The README stays true: its commands are CI's, and it leads to the reference that moved out."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SOURCES = (ROOT / "docs" / "sources" / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e '.[test]' && python -m pytest" in README
    assert "pip install -q -e '.[test]'" in ci and "\npython -m pytest\n" in ci


def test_the_demo_command_is_in_the_readme() -> None:
    assert "pip install -e . && monitor demo" in README


def test_every_registered_source_is_in_the_sources_table() -> None:
    from connectors import REGISTRY
    from monitor.config_reference import BEGIN, END

    table = SOURCES[SOURCES.index(BEGIN) : SOURCES.index(END)]
    for type_name in REGISTRY:
        assert f"| `{type_name}` |" in table, f"{type_name} missing from docs/sources/README.md"


def test_the_readme_links_the_reference_that_moved_to_docs() -> None:
    for target in (
        "docs/configuration.md",
        "docs/sources/README.md",
        "docs/reports.md",
        "docs/alerts.md",
        "docs/delivery.md",
        "docs/operations.md",
        "bench/README.md",
        "CONTRIBUTING.md",
    ):
        assert f"]({target})" in README, f"README does not link {target}"
