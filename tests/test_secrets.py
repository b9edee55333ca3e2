"""No secret reaches any output: every kind set, `monitor -v run` against feeds failing in
every way, then status and reports; the log, every database row, every command's output and
every Slack request body are searched for each secret value (raw and URL-encoded)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import sqlalchemy as sa

from tests.conftest import postgres_url
from tests.support.fake_slack import FakeSlack
from tests.support.http_server import LocalServer, Reply, Request, local_server
from tests.test_end_to_end import FEED, wait_for

pytestmark = pytest.mark.e2e
HTTP_TIMEOUT = 2.0

# One distinct value per secret, so a failure names the one that leaked. A few carry
# characters a URL must encode, so the encoded form is searched for too.
SLACK = {
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-s3cretBotToken",
    "SLACK_APP_TOKEN": "xapp-1-A01-s3cretAppToken",
    "SLACK_SIGNING_SECRET": "s3cretSigningSecret0123456789",
}
PLATFORM_KEYS = {
    "ACME_YT_KEY": "AIzaS3cretYouTubeKey-0123",
    "ACME_SE_KEY": "s3cretStackExchangeKey((",
    "ACME_GITHUB_TOKEN": "ghp_s3cretGitHubToken0123",
    "ACME_TRUSTPILOT_KEY": "s3cretTrustpilotKey0123",
    "ACME_BSKY_PASSWORD": "s3cret-bsky-app-password",
}
DB_PASSWORD = "s3cretDbPassw0rd"
# feed name -> (path served, token in the query, user:password or None)
FEED_TOKENS = {
    "timeout": ("/slow", "s3cretTimeoutToken", None),
    "refused": ("/feed.atom", "s3cretRefusedToken", ("feeduser", "s3cretRefusedPassw0rd")),
    "notfound": ("/missing", "s3cret/404+Token=", None),
    "error500": ("/e500", "s3cretE500Token", ("u", "s3cretE500Passw0rd")),
    "redirect": ("/moved", "s3cretRedirectToken", None),
    "loop": ("/loop", "s3cretLoopToken", None),
    "scheme": ("/to-ftp", "s3cretSchemeToken", None),
    "malformed": ("/garbage", "s3cretMalformedToken", None),
    "drip": ("/drip", "s3cretDripToken", ("dripper", "s3cretDripPassw0rd")),
    "good": ("/good.atom", "s3cretGoodFeedToken", ("reader", "s3cretGoodPassw0rd")),
}
# every feed but the good one fails, and each failure is told in Slack
FAILING = [
    "timeout",
    "refused",
    "notfound",
    "error500",
    "redirect",
    "loop",
    "malformed",
    "scheme",
    "drip",
]
PLATFORMS = ["acme-yt", "acme-se", "acme-github", "acme-tp", "acme-bsky"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def feed_url(server: LocalServer, name: str, port: int) -> str:
    path, token, userinfo = FEED_TOKENS[name]
    creds = f"{userinfo[0]}:{quote(userinfo[1], safe='')}@" if userinfo else ""
    port = port if name == "refused" else int(server.url.rsplit(":", 1)[1])
    return f"http://{creds}127.0.0.1:{port}{path}?format=atom&token={quote(token, safe='')}"


def serve_feeds(server: LocalServer) -> None:
    redirected = FEED_TOKENS["redirect"][1]
    server.route("/good.atom", Reply(200, FEED.read_bytes()))
    server.route("/slow", Reply(200, FEED.read_bytes(), delay=HTTP_TIMEOUT + 2))
    server.route("/e500", Reply(500, b"Internal Server Error"))
    # a redirect to a URL that carries the token too, which then hangs
    server.route("/moved", Reply(302, b"", {"Location": f"/moved-to?token={redirected}&page=2"}))
    server.route("/moved-to", Reply(200, b"", delay=HTTP_TIMEOUT + 2))
    server.route("/loop", lambda r: Reply(302, b"", {"Location": f"/loop?{_query(r)}"}))
    scheme = FEED_TOKENS["scheme"][1]
    server.route("/to-ftp", Reply(302, b"", {"Location": f"ftp://u:{scheme}@h/x?token={scheme}"}))
    server.route("/garbage", Reply(200, b"\x00\x01 not a feed <<<", {"Content-Type": "text/xml"}))
    server.route("/drip", Reply(200, FEED.read_bytes(), drip=1.0))
    # the platforms refuse or fail
    google_refusal = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "errors": [{"reason": "keyInvalid", "message": "API key not valid."}],
        }
    }
    server.route("/yt/*", Reply.json(google_refusal, 400))
    server.route("/se/*", Reply(200, b"{}", delay=HTTP_TIMEOUT + 2))
    server.route("/gh/*", Reply.json({"message": "Bad credentials"}, 401))
    server.route("/tp/*", Reply(500, b"upstream failed"))
    server.route("/bsky/*", Reply.json({"error": "AuthenticationRequired"}, 401))


def _query(request: Request) -> str:
    return "&".join(f"{k}={quote(v[0], safe='')}" for k, v in request.query.items())


def write_config(path: Path, server: LocalServer, slack: FakeSlack) -> None:
    rss = "".join(
        f'[[feeds]]\nname = "{name}"\ntype = "rss"\nurl_env = "FEED_URL_{name.upper()}"\n'
        'interval = "30s"\n'
        for name in FEED_TOKENS
    )
    path.write_text(
        f"""
[storage]
url_env = "MONITOR_DB_URL"

[slack]
api_url = "{slack.api_url}"
default_channel = "#support"
http_port = {free_port()}
timeout = "5s"

[alerts]
max_age = "5000d"
dispatch_interval = "1s"
feed_failures = 1
health_channel = "#ops"

[scheduler]
jitter = 0
http_timeout = "{HTTP_TIMEOUT}s"
concurrency = 32
per_host = 32

{rss}
[[feeds]]
name = "acme-yt"
type = "youtube"
interval = "30s"
base_url = "{server.url}/yt"
video_id = "F1UP7wRCPH8"
api_key_env = "ACME_YT_KEY"

[[feeds]]
name = "acme-se"
type = "stackexchange"
interval = "30s"
base_url = "{server.url}/se"
site = "stackoverflow"
tagged = "acme"
key_env = "ACME_SE_KEY"

[[feeds]]
name = "acme-github"
type = "github"
interval = "30s"
base_url = "{server.url}/gh"
repo = "acme/widgets"
token_env = "ACME_GITHUB_TOKEN"

[[feeds]]
name = "acme-tp"
type = "trustpilot"
interval = "30s"
base_url = "{server.url}/tp"
business_unit_id = "507f191e810c19729de860ea"
api_key_env = "ACME_TRUSTPILOT_KEY"

[[feeds]]
name = "acme-bsky"
type = "bluesky"
interval = "30s"
base_url = "{server.url}/bsky"
query = "acme"
handle_env = "ACME_BSKY_HANDLE"
password_env = "ACME_BSKY_PASSWORD"
""",
        encoding="utf-8",
    )


def secret_forms(env: dict[str, str]) -> dict[str, str]:
    """form of a secret as it could appear -> which secret it is."""
    values: dict[str, str] = {}
    for name, value in env.items():
        for form in {value, quote(value, safe=""), quote_plus(value)}:
            values[form] = name
    return values


def leaks(text: str, forms: dict[str, str]) -> set[str]:
    return {name for form, name in forms.items() if form in text}


def dump_rows(url: str) -> dict[str, str]:
    """Every column of every row of every table, as text, per table."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    tables: dict[str, str] = {}
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = conn.execute(table.select()).all()
                tables[table.name] = "\n".join(repr(tuple(row)) for row in rows)
    finally:
        engine.dispose()
    return tables


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL; on PostgreSQL it carries a password (trust auth ignores it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitor.db'}"
        return
    if not postgres_url():
        pytest.skip("PostgreSQL tests need MONITOR_TEST_POSTGRES_URL")
    engine = request.getfixturevalue("postgres_engine")
    url = engine.url.set(password=DB_PASSWORD)
    engine.dispose()
    yield url.render_as_string(hide_password=False).replace("+psycopg", "")


def test_no_secret_reaches_logs_rows_status_reports_or_slack(tmp_path: Path, database: str) -> None:
    with local_server() as server, local_server() as slack_server:
        slack = FakeSlack(slack_server, token=SLACK["SLACK_BOT_TOKEN"])
        serve_feeds(server)
        dead_port = free_port()
        feed_env = {
            f"FEED_URL_{name.upper()}": feed_url(server, name, dead_port) for name in FEED_TOKENS
        }
        feed_secrets = {f"token of {n}": t for n, (_, t, _) in FEED_TOKENS.items()}
        feed_secrets |= {f"password of {n}": u[1] for n, (_, _, u) in FEED_TOKENS.items() if u}
        env = {**os.environ, **SLACK, **PLATFORM_KEYS, **feed_env, "MONITOR_DB_URL": database}
        env["ACME_BSKY_HANDLE"] = "acme.bsky.social"  # an identifier, not a secret
        secrets = {**SLACK, **PLATFORM_KEYS, **feed_secrets, **feed_env}
        if ":" + DB_PASSWORD + "@" in database:
            secrets["database password"] = DB_PASSWORD
        forms = secret_forms(secrets)
        config = tmp_path / "config.toml"
        write_config(config, server, slack)
        command = [sys.executable, "-m", "monitor", "--config", str(config)]
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, "-v", "run"], stdout=out, stderr=subprocess.STDOUT, env=env
            )
        try:

            def told() -> set[str]:
                texts = " ".join(m.text for m in slack.messages)
                return {name for name in FAILING + PLATFORMS if f"Feed {name} is failing" in texts}

            everyone = set(FAILING + PLATFORMS)
            wait_for(lambda: told() == everyone, 90, f"feed-health alerts for {everyone}")

            def good() -> list[Request]:
                return [r for r in server.requests if r.path == "/good.atom"]

            wait_for(lambda: len(good()) >= 1, 30, "a poll of the healthy feed")
            assert good()[0].query["token"] == [FEED_TOKENS["good"][1]], "the token was sent"
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)  # a dripping peer cannot hold the shutdown
        outputs = {"monitor -v run": log.read_text(errors="replace")}
        for args in (
            ["status"],
            ["status", "--problems"],
            *(["report", "--since", "4000d", "--format", fmt] for fmt in ("text", "csv", "json")),
            ["report", "--since", "4000d", "--format", "html", "-o", str(tmp_path / "r.html")],
            ["check-config"],
        ):
            done = subprocess.run(
                [*command, "-v", *args], capture_output=True, text=True, env=env, timeout=120
            )
            # `status --problems` exits 1 when it lists problems, as it does here
            assert done.returncode == (1 if "--problems" in args else 0), done.stderr
            outputs[" ".join(args)] = done.stdout + done.stderr
        outputs["report.html"] = (tmp_path / "r.html").read_text(encoding="utf-8")
        rows = dump_rows(database)
        if database.startswith("sqlite:///"):  # the file itself, free pages and WAL included
            for path in tmp_path.glob("monitor.db*"):
                rows[path.name] = path.read_bytes().decode("latin-1")
        # the bot token belongs in the Authorization header, and nowhere else
        slack_requests = [
            f"{r.path} {json.dumps(r.query)} {r.body.decode('utf-8', 'replace')} "
            + json.dumps({k: v for k, v in r.headers.items() if k != "authorization"})
            for r in slack_server.requests
        ]

    # the run did what the test needs: failures stored and told, the good feed stored
    assert "Feed timeout is failing" in rows["alert"] and rows["mention"]
    assert "timed out" in outputs["status"] and "failing" in outputs["status --problems"]

    found: dict[str, set[str]] = {}
    for where, text in outputs.items():
        found[where] = leaks(text, forms)
    for table, text in rows.items():
        found[f"table {table}"] = leaks(text, forms)
    found["Slack requests"] = leaks("\n".join(slack_requests), forms)
    leaked = {where: sorted(names) for where, names in found.items() if names}
    assert leaked == {}, f"secrets found: {json.dumps(leaked, indent=1)}"
    # httpx's request lines were there to be redacted, not silenced
    assert "HTTP Request: GET" in outputs["monitor -v run"], "-v shows each request"
