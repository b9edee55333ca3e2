"""`monitor sentiment "text"`: explains a label, with or without a config file."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from monitor.cli import cli


def test_sentiment_command_explains_a_dutch_complaint_without_a_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "config.toml"
    result = CliRunner().invoke(
        cli, ["-c", str(missing), "sentiment", "Verschrikkelijke klantenservice, nooit meer"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "language: nl (confidence 0.75, common words)"
    assert lines[1] == "label: negative"
    assert lines[3] == 'decided by: rule:builtin-nl-negative (phrase "verschrikkelijke")'


def test_sentiment_command_uses_the_operator_rules_of_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[[sentiment.rules]]\nname = "churn"\nlabel = "negative"\n'
        'phrases = ["switching to zeta"]\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["-c", str(config), "sentiment", "Switching to Zeta next month", "--language", "en"]
    )
    assert result.exit_code == 0, result.output
    assert "language: en (given by the platform)" in result.output
    assert 'decided by: rule:churn (phrase "switching to zeta")' in result.output


def test_sentiment_command_reports_config_errors_with_the_key_path(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[sentiment.rules]]\nlabel = "angry"\nphrases = ["x"]\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["-c", str(config), "sentiment", "hello"])
    assert result.exit_code == 2
    assert "sentiment.rules[0].label: Input should be" in result.output
