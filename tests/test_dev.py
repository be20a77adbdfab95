"""`python3 dev.py run`: stopping the command stops the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.backends import TEST_SECRET
from tests.processes import free_port, kill_group, port_open, start, wait_healthy

ROOT = Path(__file__).resolve().parents[1]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM by PID is a POSIX affair")
def test_sigterm_to_dev_py_run_stops_the_server(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv yet: `python3 dev.py test` creates it before running the tests")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "VAR_DIR": str(tmp_path / "var"),
        "FILES_ROOT": str(tmp_path / "files"),
        "SECRET_KEY": TEST_SECRET,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "PASSWORD_TIME_COST": "1",
        "PASSWORD_MEMORY_KIB": "8",
    }
    # dev.py needs only Python 3.11+: any interpreter will do; this one is at hand.
    process = start([sys.executable, str(ROOT / "dev.py"), "run"], env)
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}", timeout=60)
        process.send_signal(signal.SIGTERM)  # to that PID, as `kill <pid>` does
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail("dev.py run ignored SIGTERM for 15 s")
        deadline = time.monotonic() + 5
        while (port_open(port) or group_alive(process.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not port_open(port), "the server still listens after dev.py was stopped"
        assert not group_alive(process.pid), "a process dev.py started is still running"
    finally:
        kill_group(process)
