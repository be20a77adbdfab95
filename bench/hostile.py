"""Hostile documents against a live server: the slowest validation or refusal, and what a
health probe waits meanwhile (issue #10: under 50 ms, and under 100 ms).

Every document of bench/hostile_documents.py - the fragment fan-out, 10,000 repeated fields,
alias floods, deep nesting, long strings, what can be generated from the live schema - is
posted ROUNDS times back to back by one attacker (anonymous, as in the issue; each time with a
comment of its own, so no cache helps), while a prober
GETs /healthz every 10 ms. Times are the client's: the whole HTTP round trip. Then the same
with four attackers at once, for the record. A trivial query sets the baseline, same run.

    python3 dev.py bench hostile [--rounds 5] [--attackers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from graphql import GraphQLError

from app.config import load_settings
from app.server import GC_THRESHOLDS
from bench.common import environment, fresh_database, publish, server
from bench.hostile_documents import hostile_documents
from schema import build_schema

TARGET_MS, PROBE_TARGET_MS = 50.0, 100.0


async def probe(base: str, stop: asyncio.Event, waits: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while not stop.is_set():
            started = time.perf_counter()
            await http.get("/healthz")
            waits.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)


async def attack(
    base: str, documents: list[tuple[str, str]], rounds: int
) -> dict[str, tuple[float, str]]:
    """Each document ``rounds`` times: (worst ms, what the server answered)."""
    found: dict[str, tuple[float, str]] = {}
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        for name, document in documents:
            worst, answer = 0.0, ""
            for _ in range(rounds):
                # A comment of its own makes every request a new text: the parse and
                # validation caches never answer, every request pays in full.
                unique = f"{document}\n#{uuid.uuid4().hex}"
                started = time.perf_counter()
                response = await http.post("/graphql", json={"query": unique})
                worst = max(worst, (time.perf_counter() - started) * 1000)
                answer = describe(response)
            found[name] = (worst, answer)
    return found


def describe(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} (not JSON)"
    errors = body.get("errors") or []
    if not errors:
        return f"{response.status_code} answered"
    extensions = errors[0].get("extensions") or {}
    limit = f" ({extensions['limit']})" if "limit" in extensions else ""
    return f"{response.status_code} {extensions.get('code')}{limit}"


async def run(
    base: str, documents: list[tuple[str, str]], rounds: int, attackers: int
) -> tuple[dict[str, tuple[float, str]], list[float]]:
    stop, waits = asyncio.Event(), list[float]()
    prober = asyncio.create_task(probe(base, stop, waits))
    await asyncio.sleep(0.2)
    waits.clear()  # only what was measured during the attack
    results = await asyncio.gather(*(attack(base, documents, rounds) for _ in range(attackers)))
    stop.set()
    await prober
    merged: dict[str, tuple[float, str]] = {}
    for result in results:
        for name, (worst, answer) in result.items():
            merged[name] = (max(worst, merged.get(name, (0.0, ""))[0]), answer)
    return merged, waits


def validation_times(documents: list[tuple[str, str]], rounds: int) -> dict[str, tuple[float, str]]:
    """The server's own work, in this process: parse, validate and count nodes, with the
    server's garbage-collector settings; (worst ms, verdict) per document, never cached."""
    settings = load_settings(database_url="", secret_key="x" * 40)
    checks = build_schema(settings).documents
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    found: dict[str, tuple[float, str]] = {}
    for _ in range(rounds):
        for name, document in documents:
            text = f"{document}\n#{uuid.uuid4().hex}"
            started = time.perf_counter()
            try:
                parsed = checks.parse(text)
                errors = checks.validate(text) or checks.node_errors(parsed, None, {})
            except GraphQLError as error:
                errors = [error]
            took = (time.perf_counter() - started) * 1000
            code = str((errors[0].extensions or {}).get("code")) if errors else "valid"
            found[name] = (max(took, found.get(name, (0.0, ""))[0]), code)
    return found


async def main(rounds: int, attackers: int) -> None:
    settings = load_settings(database_url="", secret_key="x" * 40)
    documents = list(hostile_documents(build_schema(settings)._schema, settings))
    checked = validation_times(documents, rounds * 4)
    url = await fresh_database("contentgraph_bench_hostile")
    with (
        tempfile.TemporaryDirectory() as workdir,
        server(environment(url, Path(workdir))) as (
            base,
            _,
        ),
    ):
        baseline, _ = await run(base, [("{ __typename }", "{ __typename }")], rounds * 4, 1)
        alone, alone_waits = await run(base, documents, rounds, 1)
        crowd, crowd_waits = await run(base, documents, rounds, attackers)

    lines = [
        f"Hostile documents, {rounds} rounds each (client-side ms, the whole round trip); "
        f"baseline `{{ __typename }}`: {baseline['{ __typename }'][0]:.1f} ms worst",
        "",
        f"| document | bytes | validation, worst ms | round trip, 1 attacker | round trip, "
        f"{attackers} attackers | answer |",
        "|---|---|---|---|---|---|",
    ]
    for name, document in documents:
        lines.append(
            f"| {name} | {len(document.encode())} | {checked[name][0]:.1f} | "
            f"{alone[name][0]:.1f} | {crowd[name][0]:.1f} | {alone[name][1]} |"
        )
    worst = max(result[0] for result in alone.values())
    slowest = max(result[0] for result in checked.values())
    lines += [
        "",
        f"- slowest validation or refusal (the server's parse, validation and node count, "
        f"{rounds * 4} rounds): **{slowest:.1f} ms** (target {TARGET_MS:.0f})",
        f"- slowest round trip, one attacker: {worst:.1f} ms; with {attackers}: "
        f"{max(r[0] for r in crowd.values()):.1f} ms",
        f"- /healthz during the attack, one attacker: worst **{max(alone_waits):.1f} ms**, "
        f"median {statistics.median(alone_waits):.1f} ms over {len(alone_waits)} probes "
        f"(target {PROBE_TARGET_MS:.0f}); with {attackers}: worst {max(crowd_waits):.1f} ms, "
        f"median {statistics.median(crowd_waits):.1f} ms",
    ]
    publish("hostile", lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--attackers", type=int, default=4)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.attackers))
