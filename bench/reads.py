"""Read throughput with the Redis row cache warm against the cache disabled, in one run.

Two production-shape servers (PostgreSQL + Redis, uvloop/httptools) over the same seeded
database - 1,000 contacts with avatars, 100 albums x 50 photos - one with CACHE_TTL_SECONDS=600,
one with 0, both with the compiled read path off (it reads no rows through the cache: this
measures the resolvers' path, which every operation outside the compiled subset takes).
wrk (16 connections) alternates between them for several rounds so machine drift
hits both alike. Reports requests/s (median), p50/p99 and SQL statements per request.

    .venv/bin/python -m bench.reads [--rounds 3] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from bench.common import (
    create_admin,
    environment,
    fresh_database,
    login,
    publish,
    seed,
    server,
    statements,
)
from bench.loadgen import drive
from bench.perf import WORKLOADS as PERF_WORKLOADS

WORKLOADS = {name: PERF_WORKLOADS[name] for name in ("Q_list", "Q_nested")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    url = asyncio.run(fresh_database("contentgraph_bench_reads"))
    asyncio.run(seed(url, contacts=1000, albums=100, photos_per_album=50))
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        warm_env = environment(
            url,
            root / "warm",
            CACHE_TTL_SECONDS="600",
            REDIS_PREFIX="bench-warm",
            COMPILED_READS="false",
        )
        cold_env = environment(
            url,
            root / "cold",
            CACHE_TTL_SECONDS="0",
            REDIS_PREFIX="bench-cold",
            COMPILED_READS="false",
        )
        create_admin(warm_env, "reader")
        results: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
        with server(warm_env) as (warm, _), server(cold_env) as (cold, _):
            tokens = {warm: login(warm, "reader"), cold: login(cold, "reader")}
            for name, query in WORKLOADS.items():
                for base in (warm, cold):  # warm-up: fills the cache, JITs nothing, opens pools
                    drive(f"{base}/graphql", query, tokens[base], seconds=3)
                for _ in range(args.rounds):
                    for label, base in (("cache warm", warm), ("cache off", cold)):
                        before = statements(base)
                        result = drive(f"{base}/graphql", query, tokens[base], seconds=args.seconds)
                        per_request = (statements(base) - before) / max(result.requests, 1)
                        assert result.errors == 0, result
                        results.setdefault((name, label), []).append(
                            (result.rps, result.p50_ms, result.p99_ms, per_request)
                        )
    lines = [
        "| workload | server | req/s (median) | p50 ms | p99 ms | SQL statements / request | ratio to cache off |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in WORKLOADS:
        off = statistics.median(r[0] for r in results[(name, "cache off")])
        for label in ("cache warm", "cache off"):
            rows = results[(name, label)]
            rps = statistics.median(r[0] for r in rows)
            lines.append(
                f"| {name} | {label} | {rps:.0f} | {statistics.median(r[1] for r in rows):.1f} | "
                f"{statistics.median(r[2] for r in rows):.1f} | {statistics.median(r[3] for r in rows):.2f} | "
                f"{rps / off:.2f} |"
            )
    publish("reads", lines)


if __name__ == "__main__":
    main()
