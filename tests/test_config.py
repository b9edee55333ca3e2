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
    # check-config now opens the database: the password stays hidden in its error line too
    assert result.exit_code == 2
    assert "s3cret" not in result.output and "postgresql://app:***@db" in result.output


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[slack]\ntimeout = -1\n", "slack.timeout: must be at least 1 second"),
        ("[slack]\ntimeout = 0\n", "slack.timeout: must be at least 1 second"),
        ("[slack]\ntimeout = nan\n", "slack.timeout: must be a finite duration"),
        ('[slack]\ntimeout = "1h"\n', "slack.timeout: must be at most 5 minutes"),
        ("[alerts]\nmax_age = nan\n", "alerts.max_age: must be a finite duration"),
        ("[alerts]\nmax_age = inf\n", "alerts.max_age: must be a finite duration"),
        ("[alerts]\nmax_age = -60\n", "alerts.max_age: must be at least 0 seconds"),
        ("[alerts]\nmax_age = 1e300\n", "alerts.max_age: must be at most 100 years"),
        ('[alerts]\ndispatch_interval = "0s"\n', "alerts.dispatch_interval: must be at least 1"),
        ("[scheduler]\nhttp_timeout = 0\n", "scheduler.http_timeout: must be more than 0 seconds"),
        ("[scheduler]\nhttp_timeout = -inf\n", "scheduler.http_timeout: must be a finite"),
        ('[scheduler]\njitter = "2d"\n', "scheduler.jitter: must be at most 1 hour"),
        ("[scheduler]\nmisfire_grace = 0.5\n", "scheduler.misfire_grace: must be at least 1"),
        ('[sla]\ntarget = "0s"\n', "sla.target: must be more than 0 seconds"),
        ('[sla]\ntarget = "9999d"\n', "sla.target: must be at most 1 year"),
        ("[sla]\nexpire_after = inf\n", "sla.expire_after: must be a finite duration"),
        ('[sla]\nrecheck_interval = "5s"\n', "sla.recheck_interval: must be at least 30 seconds"),
        (
            "[sla.platforms]\nreddit = { target = nan }\n",
            "sla.platforms.reddit.target: must be a finite duration",
        ),
        (FEED + 'interval = "400d"\n', "feeds[0].interval: must be at most 30 days (feed 'blog')"),
        (FEED + "interval = nan\n", "feeds[0].interval: must be a finite duration"),
        (
            FEED + "expect_activity_within = -1\n",
            "feeds[0].expect_activity_within: must be more than 0 seconds (feed 'blog')",
        ),
        (
            '[[feeds]]\nname = "hn"\ntype = "hn"\nquery = "acme"\nbackfill = 1e300\n',
            "feeds[0].backfill: must be at most 100 years (feed 'hn')",
        ),
        (
            '[[feeds]]\nname = "hn"\ntype = "hn"\nquery = "acme"\noverlap = nan\n',
            "feeds[0].overlap: must be a finite duration",
        ),
    ],
)
def test_absurd_durations_are_refused_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert any(problem.startswith(expected) for problem in caught.value.problems), (
        caught.value.problems
    )


def test_durations_at_their_bounds_are_accepted(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[slack]\ntimeout = 1\n[alerts]\nmax_age = "36500d"\ndispatch_interval = "1s"\n'
            '[scheduler]\njitter = 0\nmisfire_grace = "1d"\n[sla]\ntarget = "365d"\n'
            + FEED
            + 'interval = "30d"\n',
        )
    )
    assert config.slack.timeout == 1 and config.alerts.max_age == 36500 * 86400
    assert config.feeds[0].interval == 30 * 86400 and config.sla.target == 365 * 86400


def test_url_env_naming_an_unset_variable_is_an_error_not_a_second_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACME_MONITOR_DB", raising=False)
    config = load_config(write(tmp_path, '[storage]\nurl_env = "ACME_MONITOR_DB"\n'))
    with pytest.raises(ConfigError) as caught:
        config.storage.resolved_url()
    assert caught.value.problems == [
        "storage.url_env: ACME_MONITOR_DB is not set; export the database URL in it, "
        "or remove url_env to use storage.url"
    ]
    monkeypatch.setenv("ACME_MONITOR_DB", "  ")  # blank is unset too
    with pytest.raises(ConfigError):
        config.storage.resolved_url()
    monkeypatch.setenv("ACME_MONITOR_DB", "mysql://app:pw-in-env@db/monitor")
    with pytest.raises(ConfigError) as caught:
        config.storage.resolved_url()
    assert caught.value.problems[0].startswith(
        "storage.url_env: ACME_MONITOR_DB holds 'mysql://app:***@db/monitor': "
        "mysql is not supported"
    )
    monkeypatch.setenv("ACME_MONITOR_DB", "postgresql://app:pw-in-env@db/monitor\nDROP")
    with pytest.raises(ConfigError) as caught:
        config.storage.resolved_url()
    [line] = caught.value.problems
    assert "\n" not in line and "pw-in-env" not in line and "control character" in line
    monkeypatch.setenv("ACME_MONITOR_DB", "postgresql://app@db/monitor")
    assert config.storage.resolved_url() == "postgresql://app@db/monitor"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://app:pw@db/monitor", "storage.url: mysql is not supported"),
        ("monitor.db", "storage.url: not a database URL; use sqlite:///monitor.db or"),
        ("sqlite:///a\\u0000b.db", "storage.url: contains a control character (a NUL byte"),
    ],
)
def test_a_database_url_the_monitor_cannot_run_on_is_a_config_error(
    tmp_path: Path, url: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f'[storage]\nurl = "{url}"\n'))
    assert caught.value.problems[0].startswith(expected)
    assert "pw" not in caught.value.problems[0]


def test_check_config_warns_about_each_unset_env_variable_and_still_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ACME_GH_TOKEN", "YOUTUBE_API_KEY", "ACME_FEED_URL", "ACME_XAPP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACME_SET", "yes")
    text = (
        '[slack]\napp_token_env = "ACME_XAPP"\n'
        '[[feeds]]\nname = "gh"\ntype = "github"\nrepo = "acme/app"\ntoken_env = "ACME_GH_TOKEN"\n'
        '[[feeds]]\nname = "yt"\ntype = "youtube"\nchannel_id = "UC123"\n'
        '[[feeds]]\nname = "private"\ntype = "rss"\nurl_env = "ACME_FEED_URL"\n'
        '[[feeds]]\nname = "set"\ntype = "rss"\nurl_env = "ACME_SET"\n'
        '[[feeds]]\nname = "off"\ntype = "rss"\nurl_env = "ACME_FEED_URL"\nenabled = false\n'
    )
    path = write(tmp_path, f'[storage]\nurl = "sqlite:///{tmp_path / "m.db"}"\n' + text)
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    warnings = [line.strip() for line in result.output.splitlines() if "warning:" in line]
    assert warnings == [
        "warning: gh: token_env names ACME_GH_TOKEN, which is not set; "
        "the feed's polls fail until it is",
        # a default the operator did not write still counts when the feed needs it
        "warning: yt: api_key_env names YOUTUBE_API_KEY, which is not set; "
        "the feed's polls fail until it is",
        "warning: private: url_env names ACME_FEED_URL, which is not set; "
        "the feed's polls fail until it is",
        "warning: slack.app_token_env names ACME_XAPP, which is not set; "
        "Socket Mode (buttons, /monitor) stays off",
    ]
    assert not (tmp_path / "m.db").exists()  # checking creates no database


def test_env_defaults_of_a_login_the_feed_did_not_choose_are_not_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reddit with `access_token_env` needs no client id: its default name is not a warning."""
    for name in ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACME_REDDIT_TOKEN", "t")
    config = load_config(
        write(
            tmp_path,
            '[[feeds]]\nname = "r"\ntype = "reddit"\nsubreddit = "acme"\n'
            'access_token_env = "ACME_REDDIT_TOKEN"\n'
            '[[feeds]]\nname = "r2"\ntype = "reddit"\nsubreddit = "acme"\n',
        )
    )
    assert config.feeds[0].env_warnings() == []
    assert [w.split(" names ")[0] for w in config.feeds[1].env_warnings()] == [
        "client_id_env",
        "client_secret_env",
    ]


def test_check_config_names_the_postgres_extra_when_psycopg_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now raises ImportError
    path = write(tmp_path, '[storage]\nurl = "postgresql://app:s3cret@127.0.0.1/monitor"\n')
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (
        "storage.url: PostgreSQL needs the driver psycopg: pip install -e '.[postgres]' "
        "(the postgres extra; or pip install 'psycopg[binary]')\n"
    )
    assert result.stdout == ""
