"""The README stays true: its config reference matches the models, its commands are CI's."""

from __future__ import annotations

from pathlib import Path

from monitor.config_reference import BEGIN, END, render

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_config_reference_matches_the_models() -> None:
    block = README[README.index(BEGIN) : README.index(END) + len(END)]
    assert block == render(), "run `python -m monitor.config_reference` and commit README.md"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e '.[test]' && python -m pytest" in README
    assert "pip install -q -e '.[test]'" in ci and "\npython -m pytest\n" in ci


def test_every_registered_source_is_in_the_sources_table() -> None:
    from connectors import REGISTRY

    table = README[README.index("<!-- sources:begin -->") : README.index("<!-- sources:end -->")]
    for type_name in REGISTRY:
        assert f"| `{type_name}` |" in table, f"{type_name} missing from the README sources table"
