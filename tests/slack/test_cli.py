"""`monitor run` serves Slack over Socket Mode given an app token; `slack-listen` over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.slack.support import SECRET, Responses, fixture, push_body, request_head, signed
from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import Reply

pytestmark = pytest.mark.e2e


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def write_config(tmp_path: Path, slack: FakeSlack, extra: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path / "monitor.db"}"

[brand]
name = "Acme"

[slack]
api_url = "{slack.api_url}"
default_channel = "#support"
{extra}
""",
        encoding="utf-8",
    )
    return config


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        raise


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def slash_form(response_url: str) -> dict[str, str]:
    form = fixture("slash_command_from_docs.json")
    form.update(text="report 30d", response_url=response_url)
    return form


def test_monitor_run_serves_the_slash_command_over_socket_mode(
    tmp_path: Path, slack: FakeSlack
) -> None:
    pytest.importorskip("websockets", reason="pip install websockets (a test dependency)")
    from tests.slack.socket_server import socket_mode_server

    responses = Responses()
    slack.server.route("/response/*", responses)
    with socket_mode_server() as server:
        slack.server.route(
            "/api/apps.connections.open",
            lambda _request: Reply.json({"ok": True, "url": server.url}),
        )
        config = write_config(tmp_path, slack)
        env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_APP_TOKEN": "xapp-1-A111-222-xyz"}
        process = start(["--config", str(config), "run"], env, tmp_path / "run.log")
        try:
            envelope = fixture("socket_mode_slash_envelope_from_docs.json")
            envelope["payload"] = slash_form(slack.server.url + "/response/1")
            server.send(envelope, timeout=30)
            ack = server.wait_ack(envelope["envelope_id"])
            assert ack.after < 3.0
            (answer,) = responses.wait(1, timeout=20)
        finally:
            assert stop(process) == 0
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith("*Acme: the last 30d*")
    log = (tmp_path / "run.log").read_text()
    assert "Slack Socket Mode connected" in log
    assert "xapp-1-A111-222-xyz" not in log  # the token never reaches a log line


def test_monitor_slack_listen_serves_the_signed_http_endpoint(
    tmp_path: Path, slack: FakeSlack
) -> None:
    responses = Responses()
    slack.server.route("/response/*", responses)
    port = free_port()
    config = write_config(tmp_path, slack, f"http_port = {port}")
    env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SECRET}
    env_without_app_token = {**env, "SLACK_APP_TOKEN": ""}
    process = start(
        ["--config", str(config), "slack-listen"], env_without_app_token, tmp_path / "listen.log"
    )
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        body = urlencode(slash_form(slack.server.url + "/response/1")).encode()
        deadline = time.monotonic() + 30
        while True:
            try:
                bad = httpx.post(url, content=body, headers=signed(body, secret="wrong"))
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, (tmp_path / "listen.log").read_text()
                time.sleep(0.2)
        assert bad.status_code == 401
        good = httpx.post(url, content=body, headers=signed(body))
        assert good.status_code == 200
        (answer,) = responses.wait(1, timeout=20)
    finally:
        assert stop(process) == 0
    assert answer["text"].startswith("*Acme: the last 30d*")
    assert len(responses.bodies) == 1  # the unsigned request did nothing


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def wait_listening(url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            body = b"ssl_check=1&token=x"
            assert httpx.post(url, content=body, headers=signed(body)).status_code == 200
            return
        except httpx.ConnectError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_slack_listen_refuses_an_endless_body_without_growing(
    tmp_path: Path, slack: FakeSlack
) -> None:
    """Issue 18's attack: Content-Length -1 and 300 MB sent took the server from 115 to 425 MB."""
    port = free_port()
    config = write_config(tmp_path, slack, f"http_port = {port}")
    env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_APP_TOKEN": ""}
    log = tmp_path / "listen.log"
    process = start(["--config", str(config), "slack-listen"], env, log)
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        wait_listening(url, log)
        before = peak_rss_mb(process.pid)
        upload = push_body(url, request_head("-1"), 300 * 1024 * 1024)
        grown = peak_rss_mb(process.pid) - before
        assert grown < 20, f"peak memory grew {grown:.0f} MB"
        assert upload.answer.startswith(b"HTTP/1.0 400"), upload
        assert not upload.finished_before_answer
        wait_listening(url, log)  # and it still serves
    finally:
        assert stop(process) == 0


def test_slack_listen_without_a_token_or_port_says_what_to_set(
    tmp_path: Path, slack: FakeSlack
) -> None:
    config = write_config(tmp_path, slack)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "slack-listen"],
        env={**os.environ, "SLACK_APP_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "set SLACK_APP_TOKEN (Socket Mode) or [slack] http_port and SLACK_SIGNING_SECRET" in (
        result.stderr
    )
