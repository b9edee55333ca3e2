"""Hostile and broken feeds served on 127.0.0.1: each is marked unhealthy with a reason,
the healthy feed keeps its schedule, and the process stays small."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.http_server import Reply, local_server
from tests.test_end_to_end import FEED, wait_for

pytestmark = pytest.mark.e2e

BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">\n'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n'.encode() for i in range(9)
    )
    + b']>\n<rss version="2.0"><channel><title>&j;</title>'
    b"<item><title>&j;</title><guid>x</guid></item></channel></rss>"
)
BAD_UTF8 = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    b"<item><guid>u1</guid><title>caf\xe9 \xff\xfe broken</title>"
    b"<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate></item></channel></rss>"
)
HUGE = b"<rss>" + b"x" * (50 * 1024 * 1024)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_broken_feeds_fail_alone_with_readable_reasons(tmp_path: Path) -> None:
    with local_server() as server:
        server.route("/good.atom", Reply(200, FEED.read_bytes()))
        server.route("/slow", Reply(200, FEED.read_bytes(), delay=6))
        server.route("/e500", Reply(500, b"Internal Server Error"))
        server.route("/e429", Reply(429, b"", {"Retry-After": "900"}))
        server.route("/huge", Reply(200, HUGE))
        server.route("/bomb", Reply(200, BOMB))
        server.route("/badutf8", Reply(200, BAD_UTF8))
        server.route("/hn/*", Reply(200, b"<html><body>Sign in</body></html>"))
        feeds = {
            "good": "/good.atom",
            "slow": "/slow",
            "e500": "/e500",
            "e429": "/e429",
            "huge": "/huge",
            "bomb": "/bomb",
            "badutf8": "/badutf8",
        }
        config = tmp_path / "config.toml"
        config.write_text(
            f'[storage]\nurl = "sqlite:///{tmp_path / "m.db"}"\n'
            '[scheduler]\njitter = 0\nhttp_timeout = "2s"\n'
            + "".join(
                f'[[feeds]]\nname = "{name}"\ntype = "rss"\nurl = "{server.url}{path}"\n'
                'interval = "30s"\n'
                for name, path in feeds.items()
            )
            + f'[[feeds]]\nname = "html"\ntype = "hn"\nquery = "acme"\n'
            f'base_url = "{server.url}/hn"\ninterval = "30s"\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if k != "SLACK_BOT_TOKEN"}
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "--config", str(config), "run"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:

            def good() -> int:
                return len([r for r in server.requests if r.path == "/good.atom"])

            wait_for(lambda: good() >= 2, 75, "the healthy feed's second scheduled poll")
            peak = peak_rss_mb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        status = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(config), "status"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
    rows = {line.split()[0]: line for line in status.splitlines() if line and line[0].isalnum()}
    assert " ok " in rows["good"]
    expected = {
        "slow": "timed out",
        "e500": "the platform failed (500)",
        "e429": "rate limited (429)",
        "huge": "bytes exceeds 10485760",
        "bomb": "XML bomb",
        "html": "not JSON",
    }
    for name, reason in expected.items():
        assert "failing" in rows[name] and reason in rows[name], rows[name]
    assert " ok " in rows["badutf8"], "invalid UTF-8 is parsed loosely, not fatal"
    # the 429's Retry-After of 900 s keeps that feed away for 15 minutes
    assert len([r for r in server.requests if r.path == "/e429"]) == 1
    print(f"peak RSS of `monitor run` with a 50 MB body and an XML bomb served: {peak:.0f} MB")
    assert peak < 300, f"memory not bounded: {peak:.0f} MB"
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("feed e500 is failing") == 1
