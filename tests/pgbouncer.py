"""A PgBouncer of a test's own, in transaction pooling mode, in front of the test PostgreSQL.

Debian and Ubuntu package it (``apt-get install pgbouncer``); without the binary the tests that
need it skip, or fail under CONTENTGRAPH_REQUIRE_SERVICES=1 (CI installs it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.backends import POSTGRES_ADMIN_URL, unavailable
from tests.processes import SEARCH_PATH, free_port, port_open


def _unprivileged_user() -> str | None:
    """PgBouncer refuses to run as root: whom it switches to (-u) when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    unavailable("running as root, and no user (postgres, nobody) to run PgBouncer as")
    return None


class DisposablePgBouncer:
    """``pool_size`` server connections shared by every client: with 2, a client's next
    transaction may run on either, which is what transaction pooling promises - and all the
    hazard there is to prepared statements."""

    def __init__(self, pool_size: int = 2) -> None:
        binary = shutil.which("pgbouncer", path=SEARCH_PATH)
        if binary is None:
            unavailable("no pgbouncer binary (Debian, Ubuntu: apt-get install pgbouncer)")
        self.binary, self.pool_size, self.port = str(binary), pool_size, free_port()
        self.process: subprocess.Popen[bytes] | None = None
        # Readable by the user PgBouncer switches to (pytest's tmp_path is root's only).
        self.directory = Path(tempfile.mkdtemp(prefix="contentgraph-pgbouncer-"))
        self.directory.chmod(0o755)

    def url(self, database: str) -> str:
        """Where clients connect: any user name will do (auth_type any)."""
        return f"postgresql://contentgraph@127.0.0.1:{self.port}/{database}"

    def _config(self) -> str:
        server = make_url(POSTGRES_ADMIN_URL)
        target = " ".join(
            f"{key}={value}"
            for key, value in (
                ("host", server.host or "127.0.0.1"),
                ("port", server.port or 5432),
                ("user", server.username or "postgres"),
                ("password", server.password),
            )
            if value is not None
        )
        return "\n".join(
            [
                "[databases]",
                f"* = {target}",  # any database name, on the test server, as its user
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = any",
                "pool_mode = transaction",
                f"default_pool_size = {self.pool_size}",
                "max_client_conn = 500",
                "server_round_robin = 1",  # spread transactions over the server connections
                "",
            ]
        )

    def start(self) -> None:
        config = self.directory / "pgbouncer.ini"
        config.write_text(self._config())
        config.chmod(0o644)
        user = _unprivileged_user()
        self.process = subprocess.Popen(
            [self.binary, *(["-u", user] if user else []), str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(self.directory / "pgbouncer.log").open("wb"),
        )
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.directory / "pgbouncer.log").read_text()
                raise RuntimeError(f"pgbouncer did not start: {log}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def running_pgbouncer(pool_size: int = 2) -> Iterator[DisposablePgBouncer]:
    bouncer = DisposablePgBouncer(pool_size)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()
