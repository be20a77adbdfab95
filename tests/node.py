"""Node.js for the tests that drive real JavaScript clients (tests/js/).

Node and npm are optional on a laptop (those tests skip) and required in CI, where
``CONTENTGRAPH_REQUIRE_NODE=1`` turns their absence into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).parent / "js"
REQUIRE_NODE = os.environ.get("CONTENTGRAPH_REQUIRE_NODE") == "1"
MIN_NODE_MAJOR = 18  # the clients use the global fetch


def unavailable(reason: str) -> None:
    if REQUIRE_NODE:
        pytest.fail(f"CONTENTGRAPH_REQUIRE_NODE=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not on PATH")
    assert path is not None
    return path


def node() -> str:
    """The node binary, with tests/js/node_modules installed from the lockfile."""
    binary = tool("node")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    if major < MIN_NODE_MAJOR:
        unavailable(f"node {version.stdout.strip()} is older than {MIN_NODE_MAJOR}")
    _install(tool("npm"))
    return binary


def _install(npm: str) -> None:
    """npm ci when node_modules is missing or older than the lockfile."""
    installed = JS_DIR / "node_modules" / ".package-lock.json"
    lock = JS_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    completed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, f"npm ci failed:\n{completed.stdout}\n{completed.stderr}"
