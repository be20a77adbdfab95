#!/usr/bin/env python3
"""Set-up and everyday commands, needing nothing but Python 3.11+.

python3 dev.py run     create .venv, install pinned deps, migrate, serve on the embedded default
python3 dev.py test    same environment, then the whole test suite (extra args go to pytest)
python3 dev.py lint    ruff, mypy and the layers' import contracts
python3 dev.py bench upload    a benchmark from bench/ (results in bench/results/)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".contentgraph-installed"
INPUTS = ("pyproject.toml", "constraints.txt")


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create .venv and install the pinned dependencies, once per change of the pins."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is
        sys.exit(f"contentgraph needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    print("installing pinned dependencies into .venv ...", flush=True)
    subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            "-e",
            f"{ROOT}[dev]",
        ],
        check=True,
    )
    STAMP.write_text(_fingerprint())


def call(*command: str) -> int:
    """Run a step and return its exit code (for commands made of several steps)."""
    return subprocess.run(command, cwd=ROOT).returncode


def become(*command: str) -> int:
    """Replace this process with the command (POSIX), so it has our PID.

    A child would outlive us: `kill <pid>` (SIGTERM) stops only this script, and the server it
    started keeps the port. Exec'd, the signal reaches the server itself, and its exit code is
    ours. Windows has no exec that keeps the PID: there the command runs as a child.
    """
    if os.name != "posix":
        return call(*command)
    os.chdir(ROOT)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], list(command))


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "lint", "bench"}:
        print(__doc__)
        return 2
    ensure_environment()
    action, rest = argv[0], argv[1:]
    if action == "run":
        # `-m app.cli` from ROOT runs this checkout's code, even with a .venv shared by another.
        return become(str(PYTHON), "-m", "app.cli", "serve", "--migrate", *rest)
    if action == "test":
        return become(str(PYTHON), "-m", "pytest", *rest)
    if action == "bench":
        if not rest:
            print("which benchmark? e.g. python3 dev.py bench upload")
            return 2
        return become(str(PYTHON), "-m", f"bench.{rest[0]}", *rest[1:])
    status = call(str(PYTHON), "-m", "ruff", "check", ".")
    status |= call(str(PYTHON), "-m", "ruff", "format", "--check", ".")
    status |= call(str(PYTHON), "-m", "mypy", "app", "schema", "tests", "bench")
    # The layers' import contracts (pyproject.toml [tool.importlinter]).
    return status | call(str(BIN / "lint-imports"), "--no-cache")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
