"""Every platform request has a total deadline, against peers on real sockets that answer one
byte at a time: in the status line, the headers or the body, directly or through a proxy."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from connectors import deadline
from connectors.errors import MalformedResponse, TransientError
from connectors.http import fetch, make_client
from tests.support.http_server import Reply, local_server

# An answer that would take 40 s at this pace: long enough that a client without a total
# deadline fails the test by succeeding, short enough that it does not hang the suite.
SLOW = 0.4
BODY = b"x" * 60


@contextmanager
def body_dripper(
    head_at_once: bytes, body: bytes, pace: float, tls: ssl.SSLContext | None = None
) -> Iterator[str]:
    """A server that sends the status line and headers at once, then the body a byte at a time."""
    listener = socket.create_server(("127.0.0.1", 0))
    stopped = threading.Event()

    def serve() -> None:
        while not stopped.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                if tls is not None:
                    conn = tls.wrap_socket(conn, server_side=True)
                conn.recv(65536)
                conn.sendall(head_at_once)
                for byte in body:
                    conn.sendall(bytes([byte]))
                    if stopped.wait(pace):
                        return
            except OSError:
                continue  # the client gave up, as it should
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopped.set()
        listener.close()
        thread.join(5)


def timed_fetch(client: httpx.Client, url: str) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        fetch(client, url)
    except Exception as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_peer_dripping_its_status_line_and_headers_is_given_up_at_the_deadline() -> None:
    with local_server() as server, make_client(timeout=2) as client:
        server.route("/drip", Reply(200, BODY, drip=SLOW))
        error, seconds = timed_fetch(client, f"{server.url}/drip")
    assert isinstance(error, TransientError), error
    assert str(error) == "timed out: no complete answer within 2 s"
    assert seconds < 8, f"{seconds:.1f} s for a 2 s deadline"


def test_a_peer_dripping_its_body_is_given_up_at_the_deadline() -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
    with body_dripper(head, BODY, SLOW) as url, make_client(timeout=2) as client:
        error, seconds = timed_fetch(client, f"{url}/feed")
    assert isinstance(error, TransientError), error
    assert "no complete answer within 2 s" in str(error)
    assert seconds < 8, f"{seconds:.1f} s for a 2 s deadline"


def test_the_deadline_holds_through_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a proxy in the environment httpx's own transports are used: they get it too."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with local_server() as proxy:
        # a forward proxy gets the absolute URL; the local server routes on its path
        proxy.route("/drip", Reply(200, BODY, drip=SLOW))
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        with make_client(timeout=2) as client:
            error, seconds = timed_fetch(client, "http://feeds.example.invalid/drip")
        assert proxy.requests, "the request did not go through the proxy"
    assert isinstance(error, TransientError), error
    assert "no complete answer within 2 s" in str(error)
    assert seconds < 8


def test_the_deadline_covers_a_whole_redirect_chain() -> None:
    """Each hop answers in time; the chain does not: one deadline for the call."""
    with local_server() as server, make_client(timeout=2) as client:
        for hop in range(10):
            server.route(f"/hop{hop}", Reply(302, b"", {"Location": f"/hop{hop + 1}"}, delay=0.5))
        server.route("/hop10", Reply(200, b"ok"))
        error, seconds = timed_fetch(client, f"{server.url}/hop0")
    assert isinstance(error, TransientError), error
    assert "no complete answer within 2 s" in str(error)
    assert seconds < 8


def test_cancelling_ends_a_request_in_flight_within_a_second_or_so() -> None:
    cancel = threading.Event()
    with local_server() as server, make_client(timeout=60, cancel=cancel) as client:
        server.route("/drip", Reply(200, BODY, drip=SLOW))
        threading.Timer(1.0, cancel.set).start()
        error, seconds = timed_fetch(client, f"{server.url}/drip")
        assert error is not None and deadline.cancelled(error), error
        assert seconds < 5, f"{seconds:.1f} s after a cancel at 1 s"
        # and nothing new starts once cancelled
        again, _ = timed_fetch(client, f"{server.url}/drip")
        assert again is not None and deadline.cancelled(again)


def test_a_redirect_loop_is_a_connector_error_naming_it() -> None:
    with local_server() as server, make_client(timeout=5) as client:
        server.route("/loop", Reply(302, b"", {"Location": "/loop"}))
        with pytest.raises(MalformedResponse, match="redirect loop"):
            fetch(client, f"{server.url}/loop")


def test_a_healthy_answer_is_not_affected() -> None:
    with local_server() as server, make_client(timeout=2) as client:
        server.route("/ok", Reply(200, b"hello"))
        for _ in range(3):  # the kept-alive connection is reused under a fresh deadline
            response, body = fetch(client, f"{server.url}/ok")
            assert (response.status_code, body) == (200, b"hello")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, for a TLS peer on loopback."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_the_deadline_holds_over_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over TLS the reads go through the encrypted stream start_tls made: it is bounded too."""
    cert_file, key_file = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the client trusts this peer alone
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
    with body_dripper(head, BODY, SLOW, tls=context) as url, make_client(timeout=2) as client:
        url = url.replace("http://", "https://")
        error, seconds = timed_fetch(client, f"{url}/feed")
    assert isinstance(error, TransientError), error
    assert "no complete answer within 2 s" in str(error)
    assert seconds < 8
