"""The directory where ``serve --workers N`` workers keep their metrics (prometheus_client's
multiprocess mode), made fresh for each start and removed at exit.

prometheus_client picks its mode when it is first imported, from PROMETHEUS_MULTIPROC_DIR:
the serving command sets it before uvicorn spawns the workers (which import it afresh), and
never imports prometheus_client itself first - hence no import of it here. Values left over
from another run would be summed with this one's, so a directory is never reused: one set in
the environment is replaced, not wiped (it may be someone else's).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

logger = logging.getLogger("contentgraph")


def forget_inherited() -> None:
    """Before anything imports prometheus_client: a PROMETHEUS_MULTIPROC_DIR from the
    environment is not ours (and may hold another run's values)."""
    inherited = os.environ.pop(MULTIPROC_ENV, None)
    if inherited:
        logger.info("%s=%s is ignored: serve makes its own", MULTIPROC_ENV, inherited)


@contextlib.contextmanager
def metrics_directory(workers: int) -> Iterator[str | None]:
    """For several workers: a fresh directory in PROMETHEUS_MULTIPROC_DIR while the block
    runs (the workers, spawned inside it, inherit it), removed after. For one: none - the
    process's own registry. This process's own metrics (the start-up checks') stay out."""
    if workers <= 1:
        yield None
        return
    path = tempfile.mkdtemp(prefix="contentgraph-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)
