"""How every database session of a worker process names itself in pg_stat_activity, and
asks the server to notice a dead peer.

"monitor worker HOST:PID:NONCE", "monitor host slots HOST:PID:NONCE"...: an operator sees
which process holds what, and a worker found silent has exactly its own sessions closed
(presence.cut_off_silent). The nonce, drawn once per process, tells apart two processes with
the same host name and pid: a container restarted after a kill -9 runs as pid 1 again."""

from __future__ import annotations

import os
import secrets
import socket

# PostgreSQL keeps 63 bytes of an application name: the longest prefix ("monitor host slots ",
# 19) + 24 + ":" + 7 + ":" + 8 = 60
HOST_CHARS = 24
_NONCE = secrets.token_hex(4)


def process_tag() -> str:
    """HOST:PID:NONCE of this process, the tail of each of its sessions' names."""
    return f"{socket.gethostname()[:HOST_CHARS]}:{os.getpid()}:{_NONCE}"


def session_name(role: str) -> str:
    """`monitor ROLE HOST:PID:NONCE`, within PostgreSQL's 63 bytes."""
    return f"monitor {role} {process_tag()}"[:63]


# The server's TCP keepalives (5 s idle, 3 probes 2 s apart): it ends the session of a dead
# host after about 11 s instead of the kernel's two hours, and the advisory locks the session
# held (a host slot, an account's login) go with it.
SERVER_KEEPALIVE = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"


def session_args(role: str, *, connect_timeout: int, options: str = "") -> dict[str, object]:
    """psycopg connect arguments of a long-lived session: named `monitor ROLE HOST:PID:NONCE`,
    with the server's keepalives and any more server `options`."""
    return {
        "connect_timeout": connect_timeout,
        "application_name": session_name(role),
        "options": f"{SERVER_KEEPALIVE} {options}".strip(),
    }
