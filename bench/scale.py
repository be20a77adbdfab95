"""Past one process: read throughput with 1 and 2 server processes, in one run.

Seeds a dedicated PostgreSQL database, then runs contentgraph in the production shape
(PostgreSQL + Redis, `serve --workers N`) with N = 1 and N = 2 in alternating rounds, driving
each with wrk (16 connections): a compiled read (`Q_list`), a one-object compiled read
(`Q_small`) and a read the resolvers answer (`Q_resolved`). Reports req/s per workload and
process count and the 2/1 ratio of each round; writes bench/results/scale.md.

On a machine whose cores are shared with wrk (the 2-core development machine), a second
process can only take what wrk and PostgreSQL leave: the ratio says how much of a core the
first process left unused, not how far the server scales on a bigger host.

    python3 dev.py bench scale [--rounds 3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import create_admin, environment, fresh_database, login, publish, seed, server
from bench.loadgen import drive
from bench.perf import WORKLOADS

READS = {
    "Q_small": WORKLOADS["Q_small"],
    "Q_list": WORKLOADS["Q_list"],
    "Q_resolved": "{ contacts(first: 20) { nodes { id name viewerCanEdit avatar { url } } } }",
}
PROCESSES = (1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=6)
    args = parser.parse_args()
    url = asyncio.run(fresh_database("contentgraph_bench_scale"))
    asyncio.run(seed(url, contacts=1000, albums=10, photos_per_album=10))
    found: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as work:
        env = environment(url, Path(work), REDIS_PREFIX="bench-scale")
        create_admin(env, "scale")
        for _ in range(args.rounds):
            for workers in PROCESSES:
                command = ("-m", "app.cli", "serve", "--workers", str(workers))
                with server(env, command=command) as (base, _pid):
                    time.sleep(1)
                    token = login(base, "scale")
                    for name, query in READS.items():
                        drive(f"{base}/graphql", query, token, seconds=2)  # warm every worker
                        result = drive(f"{base}/graphql", query, token, seconds=args.seconds)
                        assert result.errors == 0, (name, workers, result)
                        found.setdefault((name, workers), []).append(result.rps)
    lines = [
        "| workload | 1 process req/s | 2 processes req/s | 2 / 1 (median of rounds) | per round |",
        "|---|---|---|---|---|",
    ]
    for name in READS:
        one, two = found[name, 1], found[name, 2]
        ratios = [b / a for a, b in zip(one, two, strict=True)]
        lines.append(
            f"| {name} | {statistics.median(one):.0f} | {statistics.median(two):.0f} | "
            f"{statistics.median(ratios):.2f} | {' '.join(f'{r:.2f}' for r in ratios)} |"
        )
    lines.append("")
    lines.append(
        f"{args.rounds} alternating rounds of {args.seconds} s per workload, wrk -c16, "
        "PostgreSQL + Redis on the same machine."
    )
    publish("scale", lines)


if __name__ == "__main__":
    main()
