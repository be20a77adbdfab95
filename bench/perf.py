"""contentgraph against the raw limit: the three read workloads of issue #6.

Seeds a dedicated PostgreSQL database (1,000 contacts with avatars, 100 albums x 50 photos),
starts contentgraph in the production shape (PostgreSQL + Redis, uvloop/httptools, one process)
and the raw baseline (bench/raw_app.py: one SQL statement builds each whole JSON response),
and drives both with wrk (16 connections), alternating rounds so machine drift hits both alike.
Reports req/s, p50/p99, the ratio to raw in the same round, SQL statements per request and
server memory; writes bench/results/perf.md and perf.png.

    .venv/bin/python -m bench.perf [--rounds 3] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.common import (
    create_admin,
    environment,
    free_port,
    fresh_database,
    login,
    publish,
    seed,
    server,
    statements,
)
from bench.loadgen import drive

SMALL_ID = uuid.UUID(int=1)  # "Contact 00000" in the seed
FILE_FIELDS = "url contentType size width height"
SMALL_GID = base64.b64encode(f"Contact:{SMALL_ID}".encode()).decode()
WORKLOADS = {
    "Q_small": '{ contact(id: "'
    + SMALL_GID
    + '") { id name email avatar { '
    + FILE_FIELDS
    + " } } }",
    "Q_list": "{ contacts(first: 100, orderBy: NAME_ASC) { edges { node { id name avatar { "
    + FILE_FIELDS
    + " } } } } }",
    "Q_nested": "{ albums(first: 20, orderBy: TITLE_ASC) { nodes { id title photos(first: 50) "
    "{ nodes { id caption file { " + FILE_FIELDS + " } } } } } }",
}
#: Issue #6's table: peer req/s as a fraction of raw, measured on this machine kind.
PEERS = {"Q_small": 0.55, "Q_list": 0.38, "Q_nested": 0.27}
TARGETS = {"Q_small": 0.60, "Q_list": 0.50, "Q_nested": 0.40}


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def raw_server(url: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.raw_app:app",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
        ],
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                httpx.post(base, json={"extensions": {"workload": "Q_list"}})
                break
            time.sleep(0.05)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    url = asyncio.run(fresh_database("contentgraph_bench_perf"))
    asyncio.run(seed(url, contacts=1000, albums=100, photos_per_album=50))
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as work:
        env = environment(url, Path(work), REDIS_PREFIX="bench-perf")
        create_admin(env, "perf")
        with server(env) as (ours, our_pid), raw_server(url) as (raw, _raw_pid):
            time.sleep(1)
            idle = kib(our_pid, "VmRSS") / 1024
            token = login(ours, "perf")
            for name, query in WORKLOADS.items():
                extensions = {"workload": name, "id": str(SMALL_ID)}
                check = httpx.post(
                    f"{ours}/graphql",
                    json={"query": query},
                    headers={"Authorization": f"Bearer {token}"},
                ).json()
                assert "errors" not in check, check
                for base in (ours, raw):
                    drive(
                        f"{base}/graphql" if base == ours else base,
                        query,
                        token,
                        seconds=3,
                        extensions=extensions,
                    )
                series = rows.setdefault(name, {})
                for _ in range(args.rounds):
                    before = statements(ours)
                    mine = drive(
                        f"{ours}/graphql", query, token, seconds=args.seconds, extensions=extensions
                    )
                    per_request = (statements(ours) - before) / max(mine.requests, 1)
                    base_line = drive(
                        raw, query, token, seconds=args.seconds, extensions=extensions
                    )
                    assert mine.errors == 0 and base_line.errors == 0, (mine, base_line)
                    for key, value in (
                        ("ours", mine.rps),
                        ("raw", base_line.rps),
                        ("ratio", mine.rps / base_line.rps),
                        ("p50", mine.p50_ms),
                        ("p99", mine.p99_ms),
                        ("raw_p50", base_line.p50_ms),
                        ("raw_p99", base_line.p99_ms),
                        ("statements", per_request),
                    ):
                        series.setdefault(key, []).append(value)
            peak = kib(our_pid, "VmHWM") / 1024

    lines = [
        "| workload | contentgraph req/s | raw req/s | ratio to raw (target) | ratio per round | PostGraphile 4 | p50 / p99 ms | raw p50 / p99 ms | SQL statements / request |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, series in rows.items():
        med = {key: median(values) for key, values in series.items()}
        lines.append(
            f"| {name} | {med['ours']:.0f} | {med['raw']:.0f} | {med['ratio']:.3f} ({TARGETS[name]:.2f}) | "
            f"{' '.join(f'{r:.2f}' for r in series['ratio'])} | "
            f"{PEERS[name]:.2f} | {med['p50']:.1f} / {med['p99']:.1f} | {med['raw_p50']:.1f} / {med['raw_p99']:.1f} | "
            f"{med['statements']:.2f} |"
        )
    lines.append("")
    lines.append(
        f"contentgraph server: idle RSS {idle:.0f} MiB (target < 150), peak {peak:.0f} MiB; "
        f"{args.rounds} alternating rounds of {args.seconds} s, wrk -c16."
    )
    publish("perf", lines)
    chart(rows)


def median(values: list[float]) -> float:
    """The median of the rounds that reported a figure (wrk now and then prints a latency
    percentile we cannot read; one such round should not blank the column)."""
    known = [v for v in values if not math.isnan(v)]
    return statistics.median(known) if known else math.nan


def chart(rows: dict[str, dict[str, list[float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    ours = [statistics.median(rows[n]["ratio"]) for n in names]
    x = range(len(names))
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.bar([i - 0.2 for i in x], ours, width=0.4, label="contentgraph")
    axis.bar(
        [i + 0.2 for i in x],
        [PEERS[n] for n in names],
        width=0.4,
        label="PostGraphile 4 (issue #6)",
    )
    axis.scatter(
        list(x),
        [TARGETS[n] for n in names],
        marker="_",
        s=800,
        color="black",
        label="target",
        zorder=3,
    )
    axis.set_xticks(list(x), names)
    axis.set_ylabel("req/s as a fraction of the raw baseline")
    axis.set_title("Reads against the one-statement raw baseline (same run)")
    axis.legend()
    figure.tight_layout()
    figure.savefig("bench/results/perf.png", dpi=120)


if __name__ == "__main__":
    main()
