"""Subscription fan-out: 1,000 websocket subscribers on one server process.

One mutation: the time until every subscriber has the event (p50/p99, from the moment the
mutation is sent). Then mutations back to back for a while: events delivered per second. The
subscribers all run in this one client process, on the same 2 cores as the server.

    .venv/bin/python -m bench.fanout [--subscribers 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

from bench.common import create_admin, environment, fresh_database, login, publish, server

SUBSCRIPTION = (
    "subscription($id: ID!) { contactChanged(id: $id) { kind contactId contact { name } } }"
)
UPDATE = "mutation($id: ID!, $n: String!) { updateContact(input: {id: $id, name: $n}) { contact { id } } }"


async def subscriber(
    url: str,
    token: str,
    contact: str,
    ready: asyncio.Event,
    arrivals: list[float],
    counts: list[int],
    index: int,
    stop: asyncio.Event,
) -> None:
    async with websockets.connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")], max_queue=None
    ) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        await socket.recv()
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"id": contact}},
                }
            )
        )
        counts[index] = 0
        ready.set()
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(socket.recv(), 0.5)
            except TimeoutError:
                continue
            if json.loads(message).get("type") == "next":
                if counts[index] == 0:
                    arrivals[index] = time.perf_counter()
                counts[index] += 1


async def run(base: str, token: str, subscribers: int, seconds: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        created = (
            await http.post(
                "/graphql",
                json={
                    "query": 'mutation { createContact(input: {name: "Fan"}) { contact { id } } }'
                },
            )
        ).json()
        contact = created["data"]["createContact"]["contact"]["id"]
        url = base.replace("http://", "ws://") + "/graphql"
        arrivals = [0.0] * subscribers
        counts = [-1] * subscribers
        stop = asyncio.Event()
        tasks = []
        for start in range(0, subscribers, 100):  # connect in waves, not a thundering herd
            readies = [asyncio.Event() for _ in range(start, min(start + 100, subscribers))]
            for offset, ready in enumerate(readies):
                tasks.append(
                    asyncio.create_task(
                        subscriber(
                            url, token, contact, ready, arrivals, counts, start + offset, stop
                        )
                    )
                )
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
        for _ in range(200):
            metrics = (await http.get("/metrics")).text
            live = int(
                next(
                    line.split()[1]
                    for line in metrics.splitlines()
                    if line.startswith("contentgraph_subscriptions ")
                )
            )
            if live >= subscribers:
                break
            await asyncio.sleep(0.1)

        sent = time.perf_counter()
        await http.post(
            "/graphql", json={"query": UPDATE, "variables": {"id": contact, "n": "first"}}
        )
        for _ in range(600):
            if all(c >= 1 for c in counts):
                break
            await asyncio.sleep(0.05)
        latencies = sorted((a - sent) * 1000 for a in arrivals if a)
        received_first = sum(1 for c in counts if c >= 1)

        before = sum(counts)
        mutations = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            await http.post(
                "/graphql",
                json={"query": UPDATE, "variables": {"id": contact, "n": f"n{mutations}"}},
            )
            mutations += 1
        await asyncio.sleep(2)  # let the last events drain
        elapsed = time.perf_counter() - started
        delivered = sum(counts) - before
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "received_first": received_first,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "mutations": mutations,
        "delivered": delivered,
        "elapsed": elapsed,
        "expected": mutations * subscribers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    url = asyncio.run(fresh_database("contentgraph_bench_fanout"))
    with tempfile.TemporaryDirectory() as work:
        env = environment(url, Path(work), REDIS_PREFIX="bench-fanout")
        create_admin(env, "fan")
        with server(env) as (base, _):
            token = login(base, "fan")
            result = asyncio.run(run(base, token, args.subscribers, args.seconds))
    n = args.subscribers
    lines = [
        "| measure | value |",
        "|---|---|",
        f"| subscribers on one server process | {n} |",
        f"| one mutation: subscribers that got the event | {result['received_first']} / {n} |",
        f"| time until each has it: p50 / p99 / max | {result['p50']:.0f} / {result['p99']:.0f} / {result['max']:.0f} ms |",
        f"| sustained: mutations sent back to back | {result['mutations']} in {args.seconds} s |",
        f"| sustained: events delivered | {result['delivered']} of {result['expected']} ({result['delivered'] / result['elapsed']:.0f} events/s) |",
    ]
    publish("fanout", lines)


if __name__ == "__main__":
    main()
