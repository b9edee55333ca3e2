"""A heartbeat a process supervisor can watch: a file touched each minute, GET /healthz, and
a row in the database that `monitor status` reads from another process."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from monitor.config import HeartbeatConfig
from monitor.store.db import reader
from monitor.store.db import session as open_session
from monitor.store.models import SchedulerBeat

log = logging.getLogger(__name__)
STALE_AFTER = 180.0  # seconds without a beat before /healthz answers 503 (the sweep: 60 s)


def record_beat(session: Session, now: datetime) -> None:
    """Called in the minute sweep's transaction: the row says the scheduler is alive."""
    row = session.get(SchedulerBeat, 1) or SchedulerBeat(id=1, beat_at=now)
    row.beat_at, row.host, row.pid = now, socket.gethostname()[:255], os.getpid()
    session.add(row)


def last_beat(engine: Engine) -> SchedulerBeat | None:
    """The last sweep's row, or None when `monitor run` never ran against this database."""
    with open_session(reader(engine)) as session:
        return session.get(SchedulerBeat, 1)


def is_stale(beat: SchedulerBeat | None, now: datetime) -> bool:
    return beat is None or now - beat.beat_at > timedelta(seconds=STALE_AFTER)


class Heartbeat:
    """`beat()` is called by the sweeper job; a stuck scheduler stops the beats."""

    def __init__(self, config: HeartbeatConfig, status: Callable[[], dict[str, Any]]) -> None:
        self.config = config
        self.status = status
        self.last_beat: float | None = None
        self._server: ThreadingHTTPServer | None = None

    def beat(self) -> None:
        self.last_beat = time.monotonic()
        if self.config.file:
            path = Path(self.config.file)
            try:
                path.touch()
            except OSError as exc:
                log.warning("cannot touch heartbeat file %s: %s", path, exc.strerror)

    def healthy(self) -> bool:
        return self.last_beat is not None and time.monotonic() - self.last_beat < STALE_AFTER

    def start(self) -> None:
        self.beat()
        if self.config.port is None:
            return
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/healthz":
                    self.send_error(404)
                    return
                body = {"ok": owner.healthy(), **owner.status()}
                payload = json.dumps(body, default=str).encode()
                self.send_response(200 if body["ok"] else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.config.host, self.config.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="healthz", daemon=True).start()
        log.info("health endpoint on http://%s:%d/healthz", self.config.host, self.config.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
