"""A redis-server of a test's own, which the test can kill, hang and restore from a snapshot."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import unavailable
from tests.processes import free_port


class DisposableRedis:
    SNAPSHOT = "dump.rdb"

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("no redis-server binary to start a disposable Redis")
        self.binary, self.directory, self.port = str(binary), directory, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (loading dump.rdb from the directory if one is there, as a restore does)."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--dbfilename",
                self.SNAPSHOT,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("disposable redis did not start")

    def stop(self) -> None:
        """kill -9: nothing saved, connections dropped."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def hang(self) -> None:
        """SIGSTOP: connections stay open and nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def snapshot(self) -> Path:
        """SAVE now, and keep a copy of the snapshot aside (to restore later)."""
        subprocess.run(["redis-cli", "-p", str(self.port), "SAVE"], check=True, capture_output=True)
        kept = self.directory / f"kept-{time.monotonic_ns()}.rdb"
        shutil.copy(self.directory / self.SNAPSHOT, kept)
        return kept

    def restore(self, snapshot: Path) -> None:
        """Stop, put an older snapshot in place, start: what an operator's restore does."""
        self.stop()
        shutil.copy(snapshot, self.directory / self.SNAPSHOT)
        self.start()


@pytest.fixture
def disposable_redis(tmp_path: Path) -> Iterator[DisposableRedis]:
    server = DisposableRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None:
        server.resume()  # in case a test left it stopped
        server.stop()
