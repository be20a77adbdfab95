"""Subscription fan-out, against a bare broadcaster measured in the same run.

The floor is bench/broadcaster.py: the same uvicorn, Redis and clients, but one pre-serialised
frame per message written to every socket and nothing else. Each scenario is its own server
(and its own database): the broadcaster, contentgraph on one process and on two
(``--workers 2``) with 1,000 subscribers; the broadcaster and one process with 10,000; one
process with none (what a mutation costs when nobody listens).

The subscribers run in worker processes, not here: 10,000 sockets in one Python process
would measure that process. They all share the machine's cores with the server - a fan-out on
a bigger machine does better, but the ratio to the broadcaster is what this is about. Every
arrival is stamped with the wall clock (one machine), by event number (events arrive in the
order they were sent, so a socket's k-th event is the k-th mutation): an event's latency is
its arrival minus the moment its mutation's HTTP response arrived (contentgraph answers a
mutation once its event is relayed, so an arrival may precede the response: a negative time).
Neither server compresses frames (contentgraph's default, WS_PER_MESSAGE_DEFLATE=false, and
the broadcaster is started alike): a zlib state per socket and a compression per frame and
subscriber cost more than the few hundred bytes of an event save.
Latency is measured one mutation at a time; throughput with SENDERS mutations in flight and
at most WINDOW events ahead of the subscribers.

    .venv/bin/python -m bench.fanout [--quick] [--subscribers 1000] [--big 10000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import re
import statistics
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

from bench.common import (
    REDIS_URL,
    create_admin,
    environment,
    fresh_database,
    login,
    publish,
    server,
)

ROOT = Path(__file__).resolve().parent.parent
CLIENT_PROCESSES = 4
WAVE = 200  # sockets opening at once, over all client processes: the accept backlog copes
LATENCY_ROUNDS = 20
BURST = 20
BURST_FIRST = 1_000  # event numbers: 0 warm-up, 1.. latency, 1000.. burst, 100000.. throughput
THROUGHPUT_FIRST = 100_000
#: Mutations in flight at once for the throughput run: the server is never idle waiting for
#: the next one (a single sender would measure a mutation's round trip instead).
SENDERS = 4
#: ...but at most this many events ahead of what the subscribers have: the rate the server
#: sustains, not a backlog growing until subscribers are dropped as slow (at 256 behind).
WINDOW = 64

SUBSCRIPTION = (
    "subscription($id: ID!) { albumChanged(id: $id) "
    "{ kind eventId album { title } photos { id caption } } }"
)
CREATE = 'mutation { createAlbum(input: {title: "Fan"}) { album { id } } }'
UPDATE = (
    "mutation($id: ID!, $t: String!) { updateAlbum(input: {id: $id, title: $t}) { album { id } } }"
)
#: The event numbers in the order they are sent: the warm-up, the latency rounds, the burst;
#: then the throughput run's, from THROUGHPUT_FIRST on.
PLAN = [0, *range(1, LATENCY_ROUNDS + 1), *range(BURST_FIRST, BURST_FIRST + BURST)]
EVENT_ID = re.compile(rb'"eventId":\s*"(\d+)"')


# -- the subscribers (in their own processes) --------------------------------------------------


@dataclass
class Sockets:
    """What one client process saw: per socket, each event number's arrival (wall clock)."""

    arrivals: list[dict[int, float]]
    subscribed: int = 0
    failed: list[str] = field(default_factory=list)
    closed: int = 0
    out_of_order: set[int] = field(default_factory=set)
    error_frames: int = 0
    first_error: str = ""
    received: dict[int, int] = field(default_factory=dict)  # event number -> sockets with it
    throughput: int = 0
    last: float = 0.0


async def subscriber(
    url: str, init: str, subscribe: str, index: int, seen: Sockets, subscribed: asyncio.Event
) -> None:
    try:
        socket = await websockets.connect(
            url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            max_queue=None,
            ping_interval=None,  # the server pings; answering is all the client does
            open_timeout=120,
            close_timeout=1,
        )
    except Exception as exc:
        seen.failed.append(f"{type(exc).__name__}: {exc}")
        subscribed.set()
        return
    arrivals = seen.arrivals[index]
    previous, count = -1, 0
    try:
        await socket.send(init)
        ack = await asyncio.wait_for(socket.recv(), 120)
        if b"connection_ack" not in (ack if isinstance(ack, bytes) else ack.encode()):
            seen.failed.append(f"no ack: {ack!r:.200}")
            subscribed.set()
            return
        await socket.send(subscribe)
        seen.subscribed += 1
        subscribed.set()
        async for message in socket:
            now = time.time()
            data = message if isinstance(message, bytes) else message.encode()
            if b'"errors"' in data or b'"error"' in data:
                seen.error_frames += 1
                seen.first_error = seen.first_error or data[:300].decode(errors="replace")
                continue
            if b'"next"' not in data:
                continue
            # Events arrive in order, so the k-th is the k-th sent (one at a time) - the
            # event shows its album as it is *now*, so a title can name a later mutation.
            number = PLAN[count] if count < len(PLAN) else THROUGHPUT_FIRST + count - len(PLAN)
            count += 1
            event = EVENT_ID.search(data)
            if event is not None and number < THROUGHPUT_FIRST:  # throughput: 4 senders race
                event_id = int(event.group(1))
                if event_id <= previous:
                    seen.out_of_order.add(index)
                previous = event_id
            seen.received[number] = seen.received.get(number, 0) + 1
            if number >= THROUGHPUT_FIRST:
                seen.throughput += 1
                seen.last = max(seen.last, now)
            else:
                arrivals[number] = now
    except Exception as exc:
        if not subscribed.is_set():
            seen.failed.append(f"{type(exc).__name__}: {exc}")
            subscribed.set()
    finally:
        seen.closed += 1
        await socket.close()


async def client_main(url: str, init: str, subscribe: str, count: int, conn: Connection) -> None:
    seen = Sockets(arrivals=[{} for _ in range(count)])
    tasks = []
    wave = max(1, WAVE // CLIENT_PROCESSES)
    for start in range(0, count, wave):
        events = []
        for index in range(start, min(start + wave, count)):
            event = asyncio.Event()
            events.append(event)
            tasks.append(asyncio.create_task(subscriber(url, init, subscribe, index, seen, event)))
        await asyncio.gather(*(event.wait() for event in events))
    conn.send(("ready", seen.subscribed, seen.failed[:5], len(seen.failed)))

    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def answer(what: str, argument: Any) -> Any:
        # On the loop, so nothing changes under the pickling of a report.
        if what == "count":
            return seen.received.get(argument, 0)
        if what == "throughput":
            return (seen.throughput, seen.last)
        if what == "report":
            return {
                "arrivals": seen.arrivals,
                "closed": seen.closed,
                "out_of_order": len(seen.out_of_order),
                "error_frames": seen.error_frames,
                "first_error": seen.first_error,
            }
        done.set()
        return None

    def commands() -> None:
        # A thread with a blocking pipe: the loop's add_reader makes the descriptor
        # non-blocking, and a reply then fails with EAGAIN under load.
        while not done.is_set():
            what, argument = conn.recv()
            reply = asyncio.run_coroutine_threadsafe(answer(what, argument), loop).result()
            conn.send(reply)

    threading.Thread(target=commands, daemon=True).start()
    await done.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def client_process(url: str, init: str, subscribe: str, count: int, conn: Connection) -> None:
    try:
        import uvloop

        uvloop.run(client_main(url, init, subscribe, count, conn))
    except ImportError:
        asyncio.run(client_main(url, init, subscribe, count, conn))


class Clients:
    """The client processes, driven over pipes."""

    def __init__(self, url: str, init: dict[str, Any], variables: dict[str, Any], n: int):
        context = multiprocessing.get_context("fork")
        self.pipes: list[Connection] = []
        self.processes = []
        init_text = json.dumps(init)
        subscribe = json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": variables},
            }
        )
        shares = [
            n // CLIENT_PROCESSES + (i < n % CLIENT_PROCESSES) for i in range(CLIENT_PROCESSES)
        ]
        for share in shares:
            if not share:
                continue
            ours, theirs = context.Pipe()
            process = context.Process(
                target=client_process, args=(url, init_text, subscribe, share, theirs), daemon=True
            )
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    def ready(self, timeout: float) -> tuple[int, list[str]]:
        subscribed, failures = 0, []
        deadline = time.monotonic() + timeout
        for pipe in self.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"subscribers not connected within {timeout:.0f} s")
            _, count, sample, failed = pipe.recv()
            subscribed += count
            if failed:
                failures.append(f"{failed} failed, e.g. {sample[0]}")
        return subscribed, failures

    def ask(self, what: str, argument: object = None, timeout: float = 120) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((what, argument))
        answers = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError(f"a client process did not answer {what!r} in {timeout:g} s")
            answers.append(pipe.recv())
        return answers

    def received(self, number: int) -> int:
        return sum(self.ask("count", number))

    def wait_for(self, numbers: list[int], expected: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.received(n) >= expected for n in numbers):
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop", None))
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)


# -- servers ------------------------------------------------------------------------------------


def tree_rss_kib(pid: int) -> int:
    """VmRSS of a process and all its descendants (uvicorn's workers are its children)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
    return total


# -- one scenario -------------------------------------------------------------------------------


@dataclass
class Target:
    """The server under test: how to start it, subscribe to it, and make it publish."""

    name: str
    command: list[str]
    health: str
    env: dict[str, str]
    ws_path: str
    prepare: Callable[[str], tuple[dict[str, Any], dict[str, Any]]]  # -> (init, variables)
    mutate: Callable[[httpx.Client, int], bool]  # event number -> answered without errors
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    subscribers: int
    cells: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failure: str | None = None

    def cell(self, key: str) -> str:
        if key in self.cells:
            return self.cells[key]
        return f"failed: {self.failure}" if self.failure else "-"


def ms(value: float) -> str:
    return f"{value:.0f}".replace("-0", "0") if abs(value) < 0.5 else f"{value:.0f}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]


def measure(target: Target, result: Result, seconds: float, log: Path) -> None:
    subscribers = result.subscribers
    with server(target.env, command=tuple(target.command), health=target.health, log=log) as (
        base,
        pid,
    ):
        init, variables = target.prepare(base)
        http = httpx.Client(base_url=base, timeout=60, headers=target.headers)
        errors = 0

        def mutate(number: int) -> float:
            nonlocal errors
            started = time.perf_counter()
            if not target.mutate(http, number):
                errors += 1
            return time.perf_counter() - started

        time.sleep(1)
        before = tree_rss_kib(pid)
        round_trips: list[float] = []
        answered: dict[int, float] = {}
        clients: Clients | None = None
        try:
            if subscribers:
                url = base.replace("http://", "ws://") + target.ws_path
                clients = Clients(url, init, variables, subscribers)
                subscribed, failures = clients.ready(60 + subscribers / 50)
                result.cells["subscribed"] = f"{subscribed} / {subscribers}"
                result.notes.extend(failures)
                time.sleep(2)  # every subscription live on the server, and idle
                after = tree_rss_kib(pid)
                result.numbers["memory"] = (after - before) / subscribers
                result.cells["memory"] = (
                    f"{(after - before) / subscribers:.1f} KiB "
                    f"({before / 1024:.0f} -> {after / 1024:.0f} MiB)"
                )
                mutate(0)
                if not clients.wait_for([0], subscribed, 30):
                    result.notes.append(
                        f"warm-up event reached only {clients.received(0)} / {subscribed}"
                    )
            else:
                result.cells["subscribed"] = "0"

            # Latency: one mutation at a time, until every subscriber has it.
            for number in range(1, LATENCY_ROUNDS + 1):
                round_trips.append(mutate(number))
                answered[number] = time.time()
                if clients is not None:
                    clients.wait_for([number], subscribers, 10)
                else:
                    time.sleep(0.05)
            median = statistics.median(round_trips) * 1000
            result.numbers["mutation"] = median
            result.cells["mutation"] = f"{median:.1f} ms"
            if clients is None:
                result.cells["errors"] = str(errors)
                return

            # Burst: back to back, then up to 30 s for every socket to have all of them.
            burst = list(range(BURST_FIRST, BURST_FIRST + BURST))
            started = time.perf_counter()
            for number in burst:
                mutate(number)
            sent = time.perf_counter() - started
            clients.wait_for(burst, subscribers, 60)

            # Throughput: back to back for a while; events/s from first send to last arrival.
            first = time.time()
            sent_by, failed_by = [0] * SENDERS, [0] * SENDERS
            progress = [0.0]  # events every subscriber has, on average (polled below)

            def send(which: int) -> None:
                with httpx.Client(base_url=base, timeout=60, headers=target.headers) as own:
                    while time.time() - first < seconds:
                        if sum(sent_by) - progress[0] >= WINDOW:
                            time.sleep(0.001)  # as many in flight as a server should queue
                            continue
                        if not target.mutate(own, THROUGHPUT_FIRST):
                            failed_by[which] += 1
                        sent_by[which] += 1

            senders = [threading.Thread(target=send, args=(i,)) for i in range(SENDERS)]
            for sender in senders:
                sender.start()
            while any(sender.is_alive() for sender in senders):
                progress[0] = sum(a[0] for a in clients.ask("throughput")) / subscribers
                time.sleep(0.02)
            for sender in senders:
                sender.join()
            errors += sum(failed_by)
            mutations = sum(sent_by)
            expected = mutations * subscribers
            delivered, last, stable_since = 0, first, time.monotonic()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                answers = clients.ask("throughput")
                now = sum(a[0] for a in answers)
                if now != delivered:
                    delivered, stable_since = now, time.monotonic()
                last = max([last, *(a[1] for a in answers)])
                if delivered >= expected or time.monotonic() - stable_since > 15:
                    break
                time.sleep(0.1)
            rate = delivered / max(last - first, 1e-9)
            result.numbers["throughput"] = rate
            result.cells["throughput"] = (
                f"{rate:,.0f} events/s ({delivered:,} / {expected:,}, "
                f"{mutations} mutations in {seconds:g} s)"
            )

            reports = clients.ask("report")
        finally:
            if clients is not None:
                clients.close()
            http.close()

    arrivals = [socket for report in reports for socket in report["arrivals"]]
    latencies = [
        (socket[n] - answered[n]) * 1000
        for socket in arrivals
        for n in range(1, LATENCY_ROUNDS + 1)
        if n in socket
    ]
    expected = LATENCY_ROUNDS * subscribers
    result.numbers["latency_delivered"] = len(latencies) / expected
    result.cells["latency_delivered"] = f"{len(latencies):,} / {expected:,}"
    if latencies:
        p99 = percentile(latencies, 0.99)
        result.numbers["p99"] = p99
        result.cells["latency"] = (
            f"{ms(percentile(latencies, 0.5))} / {ms(p99)} / {ms(max(latencies))} ms"
        )
    else:
        result.cells["latency"] = "nothing delivered"
    got = sum(1 for socket in arrivals for n in burst if n in socket)
    missing = sum(1 for socket in arrivals if any(n not in socket for n in burst))
    full = "in full" if got == BURST * subscribers else "NOT in full"
    result.numbers["burst"] = got / (BURST * subscribers)
    result.cells["burst"] = (
        f"{got:,} / {BURST * subscribers:,} {full} (sent in {sent * 1000:.0f} ms)"
    )
    out_of_order = sum(report["out_of_order"] for report in reports)
    result.cells["gaps"] = f"{missing} missed some, {out_of_order} out of order"
    frames = sum(report["error_frames"] for report in reports)
    first_error = next((r["first_error"] for r in reports if r["first_error"]), "")
    if first_error:
        result.notes.append(f"first error frame: {first_error}")
    result.cells["errors"] = f"{errors} mutations, {frames} error frames"
    closed = sum(report["closed"] for report in reports)
    if closed:
        result.notes.append(f"{closed} sockets closed before the end")


# -- the two kinds of server --------------------------------------------------------------------


def broadcaster(work: Path) -> Target:
    env = environment("", work, BROADCAST_CHANNEL=f"bench-fanout-{uuid.uuid4().hex}")
    env["BENCH_REDIS_URL"] = REDIS_URL

    def mutate(http: httpx.Client, number: int) -> bool:
        data = {
            "albumChanged": {
                "kind": "UPDATED",
                "eventId": str(number),
                "album": {"title": f"e{number}"},
                "photos": [],
            }
        }
        return http.post("/publish", content=json.dumps(data)).status_code == 200

    return Target(
        name="bare broadcaster",
        command=[
            *("-m", "uvicorn", "bench.broadcaster:app", "--log-level", "warning"),
            *("--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio"),
            *("--ws-per-message-deflate", "false"),
        ],
        health="/count",
        env=env,
        prepare=lambda base: ({"type": "connection_init", "payload": {}}, {"id": "1"}),
        ws_path="/",
        mutate=mutate,
    )


def contentgraph(work: Path, workers: int) -> Target:
    url = asyncio.run(fresh_database("contentgraph_bench_fanout"))
    env = environment(
        url,
        work,
        REDIS_PREFIX=f"bench-fanout-{uuid.uuid4().hex}",
        WS_MAX_CONNECTIONS_PER_ADDRESS="20000",
        WS_MAX_SUBSCRIPTIONS="100",
    )
    create_admin(env, "fan")
    album: dict[str, str] = {}

    def prepare(base: str) -> tuple[dict[str, Any], dict[str, Any]]:
        token = login(base, "fan")
        target.headers["Authorization"] = f"Bearer {token}"
        body = httpx.post(
            f"{base}/graphql",
            json={"query": CREATE},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        album["id"] = body["data"]["createAlbum"]["album"]["id"]
        return {"type": "connection_init", "payload": {"token": token}}, {"id": album["id"]}

    def mutate(http: httpx.Client, number: int) -> bool:
        response = http.post(
            "/graphql", json={"query": UPDATE, "variables": {"id": album["id"], "t": f"e{number}"}}
        )
        return response.status_code == 200 and "errors" not in response.json()

    command = ["-m", "app.cli", "serve", *(["--workers", str(workers)] if workers > 1 else [])]
    target = Target(
        name=f"contentgraph {workers} process" + ("es" if workers > 1 else ""),
        command=command,
        health="/healthz",
        env=env,
        prepare=prepare,
        ws_path="/graphql",
        mutate=mutate,
    )
    return target


# -- the run ------------------------------------------------------------------------------------

ROWS = (
    ("subscribers connected", "subscribed", "all"),
    ("event latency after the mutation's response: p50 / p99 / max", "latency", "p99 {p99}"),
    (f"events delivered ({LATENCY_ROUNDS} mutations, one at a time)", "latency_delivered", "all"),
    (f"mutation round trip, median of {LATENCY_ROUNDS}", "mutation", "<= 2x no subscribers"),
    (f"burst of {BURST} back to back: delivered within 60 s", "burst", "in full"),
    ("burst: sockets that missed an event / saw eventIds out of order", "gaps", "0 / 0"),
    ("throughput: mutations back to back", "throughput", ">= 0.25x broadcaster"),
    ("server RSS growth per idle subscriber", "memory", "{memory}"),
    ("errors: mutations answering errors / error frames", "errors", "0"),
)


def scenario(
    key: str, make: Callable[[Path], Target], subscribers: int, seconds: float, logs: Path
) -> Result:
    result = Result(subscribers)
    log = logs / f"{key}.log"
    print(f"== {key}: {subscribers} subscribers (server log: {log})", flush=True)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as work:
            target = make(Path(work))
            measure(target, result, seconds, log)
    except Exception as exc:
        traceback.print_exc()
        result.failure = f"{type(exc).__name__}: {exc}".replace("|", "/")[:120]
    for note in result.notes:
        print(f"   note: {note}", flush=True)
    print(f"   {time.perf_counter() - started:.0f} s: {result.cells}", flush=True)
    return result


def table(columns: list[tuple[str, Result]], targets: dict[str, str]) -> list[str]:
    lines = [
        "| measure | " + " | ".join(name for name, _ in columns) + " | target |",
        "|---" * (len(columns) + 2) + "|",
    ]
    for label, key, target in ROWS:
        cells = " | ".join(result.cell(key) for _, result in columns)
        lines.append(f"| {label} | {cells} | {target.format(**targets)} |")
    return lines


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("meets" if ok else "MISSES")


def ratio(a: Result, b: Result, key: str) -> float | None:
    if key in a.numbers and key in b.numbers and b.numbers[key]:
        return a.numbers[key] / b.numbers[key]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 subscribers, 3 s")
    parser.add_argument("--subscribers", type=int, help="the small scenarios (default 1,000)")
    parser.add_argument("--big", type=int, help="the big scenarios (default 10,000)")
    parser.add_argument("--seconds", type=float, help="throughput duration (default 10)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="SCENARIO",
        help="run only this scenario (repeatable): broadcaster-small, contentgraph-1-small, "
        "contentgraph-2-small, broadcaster-big, contentgraph-1-big, contentgraph-1-none",
    )
    parser.add_argument(
        "--logs", type=Path, default=Path(tempfile.gettempdir()) / "contentgraph-bench-fanout"
    )
    args = parser.parse_args()
    small = args.subscribers or (100 if args.quick else 1000)
    big = args.big or (1000 if args.quick else 10_000)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.logs.mkdir(parents=True, exist_ok=True)

    def run(key: str, make: Callable[[Path], Target], subscribers: int) -> Result:
        if args.only and key not in args.only:
            return Result(subscribers, failure="not run (--only)")
        return scenario(key, make, subscribers, seconds, args.logs)

    base_small = run("broadcaster-small", broadcaster, small)
    one_small = run("contentgraph-1-small", lambda w: contentgraph(w, 1), small)
    two_small = run("contentgraph-2-small", lambda w: contentgraph(w, 2), small)
    base_big = run("broadcaster-big", broadcaster, big)
    one_big = run("contentgraph-1-big", lambda w: contentgraph(w, 1), big)
    idle = run("contentgraph-1-none", lambda w: contentgraph(w, 1), 0)

    lines = [
        f"Subscription fan-out, {small:,} subscribers (one album; 2 cores shared with the "
        f"{CLIENT_PROCESSES} client processes; throughput over {seconds:g} s):",
        "",
        *table(
            [
                ("bare broadcaster", base_small),
                ("contentgraph 1 process", one_small),
                ("contentgraph 2 processes", two_small),
            ],
            {"p99": "< 250 ms", "memory": "-"},
        ),
        "",
        f"{big:,} subscribers:",
        "",
        *table(
            [("bare broadcaster", base_big), ("contentgraph 1 process", one_big)],
            {"p99": "< 2 s, all delivered", "memory": "< 50 KiB"},
        ),
        "",
        f"Mutation round trip with no subscribers (contentgraph 1 process): {idle.cell('mutation')}",
        "",
    ]
    for name, result, base, size in (
        ("1 process", one_small, base_small, small),
        ("2 processes", two_small, base_small, small),
        ("1 process", one_big, base_big, big),
    ):
        r = ratio(result, base, "throughput")
        shown = "n/a" if r is None else f"{r:.2f}"
        lines.append(
            f"- throughput contentgraph {name} / broadcaster at {size:,}: {shown} "
            f"(target >= 0.25: {verdict(None if r is None else r >= 0.25)})"
        )
    for name, result in (("1 process", one_small), ("2 processes", two_small)):
        r = ratio(result, idle, "mutation")
        shown = "n/a" if r is None else f"{r:.2f}"
        lines.append(
            f"- mutation round trip, {name} with {small:,} subscribers / with none: {shown} "
            f"(target <= 2: {verdict(None if r is None else r <= 2)})"
        )
    for name, result in (("1 process", one_small), ("2 processes", two_small)):
        p99 = result.numbers.get("p99")
        lines.append(
            f"- p99 at {small:,}, contentgraph {name}: "
            + ("n/a" if p99 is None else f"{p99:.0f} ms")
            + f" (target < 250 ms: {verdict(None if p99 is None else p99 < 250)})"
        )
    p99 = one_big.numbers.get("p99")
    complete = (
        one_big.numbers.get("latency_delivered") == 1.0 and one_big.numbers.get("burst") == 1.0
    )
    lines.append(
        f"- p99 at {big:,}, contentgraph 1 process: "
        + ("n/a" if p99 is None else f"{p99:.0f} ms")
        + f", every event delivered: {'yes' if complete else 'no'}"
        + f" (target < 2 s and all: {verdict(None if p99 is None else p99 < 2000 and complete)})"
    )
    memory = one_big.numbers.get("memory")
    lines.append(
        f"- memory per idle subscriber at {big:,}, contentgraph 1 process: "
        + ("n/a" if memory is None else f"{memory:.1f} KiB")
        + f" (target < 50 KiB: {verdict(None if memory is None else memory < 50)})"
    )
    publish("fanout", lines)


if __name__ == "__main__":
    main()
