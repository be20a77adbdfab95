"""Server processes the tests start themselves - to kill them, or to watch them refuse."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.config import Settings
from tests.backends import REDIS_URL, TEST_SECRET

#: Where Debian puts daemons (pgbouncer, nginx): off the PATH of users other than root.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


#: The environment variables Settings reads: a server the tests start inherits none of them.
SETTINGS = {name.upper() for name in Settings.model_fields}


def server_env(
    directory: Path, database_url: str, redis_prefix: str, **settings: str
) -> dict[str, str]:
    """The environment of a server (or CLI) process the tests start: this one's, less any
    setting, then the test database and Redis prefix, state under ``directory``, cheap
    password hashing and quiet logs; ``settings`` add to or override it."""
    return {
        **{k: v for k, v in os.environ.items() if k.upper() not in SETTINGS},
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": redis_prefix,
        "SECRET_KEY": TEST_SECRET,
        "VAR_DIR": str(directory / "var"),
        "FILES_ROOT": str(directory / "files"),
        "PASSWORD_TIME_COST": "1",
        "PASSWORD_MEMORY_KIB": "8",
        "LOG_LEVEL": "WARNING",
        **settings,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(arguments: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A process leading its own session, so kill_group reaches everything it starts."""
    return subprocess.Popen(
        arguments,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def start_server(env: dict[str, str], port: int, *arguments: str) -> subprocess.Popen[bytes]:
    """`contentgraph serve` on ``port``, its output discarded."""
    return start([sys.executable, "-m", "app.cli", "serve", "--port", str(port), *arguments], env)


def start_logged_servers(
    env: dict[str, str], directory: Path, count: int
) -> list[tuple[subprocess.Popen[bytes], str]]:
    """``count`` `contentgraph serve` processes on free ports, each writing to
    ``directory/server-N.log``, healthy when this returns: [(process, base URL)]."""
    started = []
    for number in range(count):
        port = free_port()
        with (directory / f"server-{number}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append((process, f"http://127.0.0.1:{port}"))
    for process, base in started:
        wait_healthy(process, base)
    return started


def login_token(base: str, username: str, password: str) -> str:
    """A session token from the login mutation of the server at ``base``."""
    answer = httpx.post(
        f"{base}/graphql",
        json={
            "query": "mutation($u: String!, $p: String!) "
            "{ login(input: {username: $u, password: $p}) { token } }",
            "variables": {"u": username, "p": password},
        },
    ).json()
    token: str = answer["data"]["login"]["token"]
    return token


def wait_answering(
    process: subprocess.Popen[bytes], url: str, *, healthy: bool = True, timeout: float = 30
) -> None:
    """Until ``url`` answers - with 200 when ``healthy``, anything otherwise; fail at once if
    the process exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before {url}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200 or not healthy:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout} s")
        time.sleep(0.1)


def wait_healthy(process: subprocess.Popen[bytes], base_url: str, timeout: float = 30) -> None:
    """Until the server's /healthz answers 200; fail at once if it exits first."""
    wait_answering(process, f"{base_url}/healthz", timeout=timeout)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything it started (it must lead its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
