"""contentgraph against the raw limit: the read workloads of issues #6 and #13.

Seeds a dedicated PostgreSQL database (1,000 contacts with avatars, 100 albums x 50 photos),
starts contentgraph in the production shape (PostgreSQL + Redis, uvloop/httptools, one process)
and the raw baseline (bench/raw_app.py: one SQL statement builds each whole JSON response),
and drives both with wrk (16 connections), in rounds, each in another order, so machine drift
hits both alike.
Reports req/s, p50/p99, the ratio to raw in the same round, SQL statements per request and
server memory; writes bench/results/perf.md and perf.png. Before measuring, it checks that the
raw app answers every workload with the same data as contentgraph (file URLs compared without
their signature), so the two do the same work.

    .venv/bin/python -m bench.perf [--rounds 3] [--seconds 8] [--only Q_search,Q_node]
                                   [--before REF]

``--before REF`` also runs the code at git ref REF (checked out in a temporary worktree, on
the same database) in the same rounds, for a before/after measured in one run: this
machine's absolute figures drift by 2x between runs, so only same-run ratios compare.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
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
from typing import Any

import httpx

from bench.common import (
    ROOT,
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
#: Issue #13's workloads: a filtered list, paging backwards, and node. Q_backward's cursor is a
#: real one, asked of contentgraph at startup: see backward(). The search matches every seeded
#: contact ("Contact 00042"), so the page is full and the filter is not selective.
SEARCH = "act"
BACKWARD_AT = 600  # Q_backward pages back from the 600th contact in NAME_ASC order
MORE_WORKLOADS = {
    "Q_search": "{ contacts(first: 100, filter: {search: "
    + json.dumps(SEARCH)
    + "}) { edges { node { id name avatar { "
    + FILE_FIELDS
    + " } } } } }",
    "Q_node": '{ node(id: "'
    + SMALL_GID
    + '") { id ... on Contact { name email avatar { '
    + FILE_FIELDS
    + " } } } }",
}
BACKWARD = (
    "{ contacts(last: 100, before: %s) { edges { cursor node { id name avatar { "
    + FILE_FIELDS
    + " } } } pageInfo { hasPreviousPage startCursor } } }"
)
NAMES = ("Q_small", "Q_list", "Q_nested", "Q_search", "Q_backward", "Q_node")
#: Issue #6's and #13's tables: peer req/s as a fraction of raw, measured on this machine kind
#: (none for Q_search: the table has no figure).
PEERS = {"Q_small": 0.55, "Q_list": 0.38, "Q_nested": 0.27, "Q_backward": 0.37, "Q_node": 0.50}
TARGETS = {
    "Q_small": 0.60,
    "Q_list": 0.50,
    "Q_nested": 0.40,
    "Q_search": 0.60,
    "Q_backward": 0.60,
    "Q_node": 0.60,
}


#: How long the idle server's background statements are counted before the rounds.
BACKGROUND_SECONDS = 3


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


def graphql(base: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(
        f"{base}/graphql", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    if "errors" in answer or not answer.get("data"):
        raise SystemExit(f"contentgraph failed {body['query'][:80]!r}: {answer}")
    return answer


def backward(base: str, token: str) -> str:
    """The cursor contentgraph gives the BACKWARD_AT-th contact in NAME_ASC order, walking
    the pages forward as a client would."""
    cursors: list[str] = []
    after = "null"
    while len(cursors) < BACKWARD_AT:
        query = (
            f"{{ contacts(first: 100, after: {after}) "
            "{ edges { cursor } pageInfo { hasNextPage endCursor } } }"
        )
        page = graphql(base, token, {"query": query})["data"]["contacts"]
        cursors += [edge["cursor"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = json.dumps(page["pageInfo"]["endCursor"])
    if len(cursors) < BACKWARD_AT:
        raise SystemExit(f"only {len(cursors)} contacts: Q_backward needs {BACKWARD_AT}")
    return cursors[BACKWARD_AT - 1]


def workloads(base: str, token: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Every workload's query and the ``extensions`` that tell the raw app what to answer
    (the same body goes to both servers)."""
    cursor = backward(base, token)
    # app.db.paging's cursor: base64url (unpadded) of the JSON ["NAME_ASC", name, uuid hex].
    sort, name, hex_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert sort == "NAME_ASC", cursor
    queries = {**WORKLOADS, **MORE_WORKLOADS, "Q_backward": BACKWARD % json.dumps(cursor)}
    extra = {
        "Q_search": {"search": SEARCH},
        "Q_backward": {"name": name, "id": str(uuid.UUID(hex=hex_id))},
    }
    return {
        n: (queries[n], {"workload": n, "id": str(SMALL_ID), **extra.get(n, {})}) for n in NAMES
    }


def unsigned(value: Any) -> Any:
    """``value`` with each file URL cut at its query string: contentgraph signs the URLs of
    restricted files (expiry and HMAC), the raw app does not."""
    if isinstance(value, dict):
        return {
            k: v.partition("?")[0] if k == "url" and isinstance(v, str) else unsigned(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [unsigned(v) for v in value]
    return value


def difference(mine: Any, raw: Any, path: str = "data") -> str | None:
    """Where two parsed JSON values first differ, or None."""
    if isinstance(mine, dict) and isinstance(raw, dict):
        if mine.keys() != raw.keys():
            return f"{path}: keys {sorted(mine)} against {sorted(raw)}"
        for key in mine:
            if (found := difference(mine[key], raw[key], f"{path}.{key}")) is not None:
                return found
        return None
    if isinstance(mine, list) and isinstance(raw, list):
        if len(mine) != len(raw):
            return f"{path}: {len(mine)} items against {len(raw)}"
        for i, (a, b) in enumerate(zip(mine, raw, strict=True)):
            if (found := difference(a, b, f"{path}[{i}]")) is not None:
                return found
        return None
    if mine != raw or type(mine) is not type(raw):
        return f"{path}: {mine!r} against {raw!r}"
    return None


def ids(value: Any) -> int:
    """How many objects with an id an answer holds (its rows)."""
    if isinstance(value, dict):
        return ("id" in value) + sum(ids(v) for v in value.values())
    if isinstance(value, list):
        return sum(ids(v) for v in value)
    return 0


def same_answers(
    ours: str, raw: str, token: str, plan: dict[str, tuple[str, dict[str, str]]]
) -> None:
    """Fail unless the raw app answers every workload with contentgraph's data."""
    for name, (query, extensions) in plan.items():
        body = {"query": query, "extensions": extensions}
        mine = graphql(ours, token, body)["data"]
        base_line = httpx.post(raw, json=body, timeout=30).json().get("data")
        found = difference(unsigned(mine), unsigned(base_line))
        if found is not None:
            raise SystemExit(f"{name}: the raw app's answer differs from contentgraph's at {found}")
        rows = ids(mine)
        note = " - WARNING: an empty answer" if rows == 0 else ""
        print(f"{name}: raw app and contentgraph agree ({rows} objects with an id){note}")


def selected(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown workload {unknown}; choose from {NAMES}")
    return [n for n in NAMES if n in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument(
        "--only",
        type=selected,
        default=list(NAMES),
        metavar="NAME[,NAME]",
        help=f"run only these workloads (of {', '.join(NAMES)})",
    )
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also measure the code at this git ref, in the same rounds (a 'before' column)",
    )
    args = parser.parse_args()
    url = asyncio.run(fresh_database("contentgraph_bench_perf"))
    asyncio.run(seed(url, contacts=1000, albums=100, photos_per_album=50))
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as work, contextlib.ExitStack() as stack:
        env = environment(url, Path(work), REDIS_PREFIX="bench-perf")
        create_admin(env, "perf")
        ours, our_pid = stack.enter_context(server(env))
        raw, _raw_pid = stack.enter_context(raw_server(url))
        older: str | None = None
        if args.before:
            folder = stack.enter_context(checkout(args.before))
            older_env = environment(url, Path(work) / "before", REDIS_PREFIX="bench-perf-before")
            older, _older_pid = stack.enter_context(server(older_env, cwd=folder))
        time.sleep(1)
        idle = kib(our_pid, "VmRSS") / 1024
        quiet = statements(ours)
        time.sleep(BACKGROUND_SECONDS)
        background = (statements(ours) - quiet) / BACKGROUND_SECONDS
        token = login(ours, "perf")
        plan = workloads(ours, token)
        same_answers(ours, raw, token, plan)
        older_token = ""
        if older is not None:
            older_token = login(older, "perf")
            same_answers(older, raw, older_token, plan)
        for name in args.only:
            query, extensions = plan[name]
            targets = {"ours": (f"{ours}/graphql", token), "raw": (raw, token)}
            if older is not None:
                targets["before"] = (f"{older}/graphql", older_token)
            for target, key in targets.values():
                drive(target, query, key, seconds=3, extensions=extensions)
            series = rows.setdefault(name, {})
            # Each round runs the servers in another order: none is always first, or always
            # right behind the same one.
            orders = list(itertools.permutations(targets))
            for round_number in range(args.rounds):
                results = {}
                for label in orders[round_number % len(orders)]:
                    target, key = targets[label]
                    counted = statements(ours)
                    results[label] = drive(
                        target, query, key, seconds=args.seconds, extensions=extensions
                    )
                    if label == "ours":
                        sent = statements(ours) - counted
                        per_request = sent / max(results[label].requests, 1)
                assert all(result.errors == 0 for result in results.values()), results
                mine, base_line = results["ours"], results["raw"]
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
                if "before" in results:
                    series.setdefault("before", []).append(results["before"].rps / base_line.rps)
        peak = kib(our_pid, "VmHWM") / 1024

    lines = [
        "| workload | contentgraph req/s | raw req/s | ratio to raw (target) | ratio per round | "
        f"before{f' ({args.before})' if args.before else ''} | PostGraphile 4 | p50 / p99 ms | "
        "raw p50 / p99 ms | SQL statements / request |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, series in rows.items():
        med = {key: median(values) for key, values in series.items()}
        peer = f"{PEERS[name]:.2f}" if name in PEERS else "-"
        before_ratio = f"{med['before']:.2f}" if "before" in med else "-"
        lines.append(
            f"| {name} | {med['ours']:.0f} | {med['raw']:.0f} | {med['ratio']:.3f} ({TARGETS[name]:.2f}) | "
            f"{' '.join(f'{r:.2f}' for r in series['ratio'])} | "
            f"{before_ratio} | {peer} | {med['p50']:.1f} / {med['p99']:.1f} | {med['raw_p50']:.1f} / {med['raw_p99']:.1f} | "
            f"{med['statements']:.2f} |"
        )
    lines.append("")
    lines.append(
        f"contentgraph server: idle RSS {idle:.0f} MiB (target < 150), peak {peak:.0f} MiB; "
        f"{args.rounds} rounds of {args.seconds} s in turning order, wrk -c16. SQL statements a "
        f"second with no requests: {background:.1f}; the per-request figures count whatever "
        "the server sends meanwhile, the viewer cache's re-checks of the session among it."
    )
    publish("perf", lines)
    chart(rows)


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """The code at git ref ``ref``, in a temporary worktree removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="contentgraph-before-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(folder), ref], cwd=ROOT, check=True
    )
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False)


def median(values: list[float]) -> float:
    """The median of the rounds that reported a figure (a latency percentile that could not be
    read is nan; one such round should not blank the column)."""
    known = [v for v in values if not math.isnan(v)]
    return statistics.median(known) if known else math.nan


def chart(rows: dict[str, dict[str, list[float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    ours = [median(rows[n]["ratio"]) for n in names]
    x = range(len(names))
    peers = [i for i, n in enumerate(names) if n in PEERS]  # no peer figure for some
    figure, axis = plt.subplots(figsize=(max(9, 1.2 * len(names) + 3), 4))
    axis.bar([i - 0.2 for i in x], ours, width=0.4, label="contentgraph")
    axis.bar(
        [i + 0.2 for i in peers],
        [PEERS[names[i]] for i in peers],
        width=0.4,
        label="PostGraphile 4 (issues #6, #13)",
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
    for i, n in enumerate(names):
        if n not in PEERS:
            axis.text(i + 0.2, 0.01, "no figure", rotation=90, ha="center", va="bottom", size=8)
    axis.set_xticks(list(x), names)
    axis.set_ylabel("req/s as a fraction of the raw baseline")
    axis.set_title("Reads against the one-statement raw baseline (same run)")
    axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig("bench/results/perf.png", dpi=120)


if __name__ == "__main__":
    main()
