"""Config files: good ones load, each broken one gives its one-line error and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
FEED = '[[feeds]]\nname = "blog"\ntype = "rss"\nurl = "https://example.com/feed"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_is_valid() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert [f.name for f in config.feeds] == ["google-alerts-acme", "acme-blog-comments"]
    assert config.feeds[0].effective_interval == 600
    assert config.alerts.max_age == 24 * 3600


def test_defaults_are_the_embedded_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FEED))
    assert config.storage.url == "sqlite:///monitor.db"
    assert config.slack.token_env == "SLACK_BOT_TOKEN"
    assert config.feeds[0].effective_interval == 300  # the rss connector's default


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            FEED
            + FEED.replace('"blog"', '"b2"')
            + FEED.replace('"blog"', '"b3"')
            + "interval = 10\n",
            "feeds[2].interval: must be at least 30 seconds (feed 'b3')",
        ),
        (
            FEED + 'intervall = "5m"\n',
            "feeds[0].intervall: unknown key (did you mean 'interval'?) (feed 'blog')",
        ),
        (
            '[slack]\ntoken = "xoxb-1"\n',
            "slack.token: unknown key: secrets are never written in the config; name an env var",
        ),
        ("[slak]\n", "slak: unknown key (did you mean 'slack'?)"),
        ('[[feeds]]\nname = "x"\n', "feeds[0].type: is required"),
        ('[[feeds]]\nname = "x"\ntype = "myspace"\n', "feeds[0].type: unknown feed type 'myspace'"),
        ('[[feeds]]\nname = "x"\ntype = "rss"\n', "feeds[0]: give `url` or `url_env`"),
        (
            '[[feeds]]\nname = "x"\ntype = "rss"\nurl = "ftp://a"\n',
            "feeds[0].url: must start with http:// or https://",
        ),
        (FEED + FEED, "feeds[1].name: duplicate of feeds[0] (feed 'blog')"),
        (
            FEED + 'interval = "soon"\n',
            'feeds[0].interval: must be a duration such as 300, "5m" or "4h", not \'soon\'',
        ),
        (
            '[alerts]\non = ["angry"]\n',
            "alerts.on[0]: Input should be 'negative', 'unscored' or 'all'",
        ),
        ("[storage\n", "not valid TOML"),
        (
            '[[feeds]]\nname = "has space"\ntype = "rss"\nurl = "https://a"\n',
            "feeds[0].name: String should match pattern",
        ),
    ],
)
def test_each_broken_config_names_the_key_and_exits_2(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, FEED + "interval = 5\nbogus = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(caught.value.problems) == 2


def test_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith("nope.toml: cannot read (No such file or directory)")
    assert "Traceback" not in result.stderr


def test_check_config_prints_ok_and_a_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["check-config", str(write(tmp_path, FEED))])
    assert result.exit_code == 0
    assert result.output.startswith("ok: 1 feed(s)")
    assert "blog: rss, every 300s -> #brand-alerts" in result.output


def test_database_passwords_are_never_printed(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\nurl = "postgresql://app:s3cret@db/monitor"\n' + FEED)
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert "s3cret" not in result.output and "postgresql://***@db" in result.output


def test_check_config_warns_about_a_valid_but_lossy_interval(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[feeds]]\nname = "play"\ntype = "googleplay"\npackage_name = "com.acme.app"\n'
        'interval = "2d"\n',
    )
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: play: interval of 48h is longer than a day" in result.output


def test_feeds_are_found_by_name_and_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    second = FEED.replace('"blog"', '"forum"').replace("/feed", "/forum.rss")
    config = load_config(write(tmp_path, FEED + second))
    assert config.feed("forum") is config.feeds[1]
    assert config.feed("blog") is config.feeds[0]
    with pytest.raises(ConfigError, match=r"no feed named 'gone' \(feeds: blog, forum\)"):
        config.feed("gone")
    assert config.find_feed("gone") is None and config.find_feed("blog") is config.feeds[0]
    # the index follows the list: a feed added after the first lookup is found too
    config.feeds.append(config.feeds[1].model_copy(update={"name": "late"}))
    assert config.feed("late") is config.feeds[2]
