"""Metrics and logs that work with N processes (issue 14, item 5).

In process: the request id's round trip, the request's log line (and its JSON form), an
unexpected error's id in the response and in the log, every series on /metrics. Live: a real
``contentgraph serve --workers 2`` on PostgreSQL and Redis with LOG_FORMAT=json, whose
/metrics - whichever worker answers it - sums what both workers did.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import prometheus_client
import pytest
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.typing import Subprotocol

from app.observability import context, logs, metrics
from app.observability.multiprocess import MULTIPROC_ENV, forget_inherited, metrics_directory
from tests import images
from tests.backends import (
    TEST_SECRET,
    create_postgres_database,
    drop_postgres_database,
    drop_redis_keys,
    postgres_settings,
    require_redis,
)
from tests.conftest import serve, signed_in
from tests.metrics import Sample, samples, total, value
from tests.timing import eventually
from tests.uploads import upload

GENERATED = re.compile(r"[0-9a-f]{32}")
NAMED_QUERY = "query ListContacts { contacts(first: 5) { totalCount nodes { name } } }"
#: viewerCanEdit is not compiled: the resolvers answer, and read each avatar by id (row cache).
RESOLVER_QUERY = (
    "query Editable { contacts(first: 5) { nodes { name viewerCanEdit avatar { url } } } }"
)
CREATE = "mutation Create($n: String!) { createContact(input: {name: $n}) { contact { id } } }"
RENAME = (
    "mutation Rename($id: ID!, $n: String!) { updateContact(input: {id: $id, name: $n}) "
    "{ contact { id } } }"
)
AVATAR = (
    "mutation Avatar($c: ID!, $f: Upload!) { setContactAvatar(input: {contactId: $c, file: $f}) "
    "{ userErrors { code } } }"
)
WATCH = "subscription Watch($id: ID!) { contactChanged(id: $id) { kind contact { name } } }"
TRANSPORT_WS = Subprotocol("graphql-transport-ws")

#: Every series issue 14 asks for (and those /metrics had before), as the exposition names them.
SERIES = (
    "contentgraph_graphql_requests_total",
    "contentgraph_graphql_request_duration_seconds_bucket",
    "contentgraph_graphql_request_duration_seconds_count",
    "contentgraph_graphql_request_duration_seconds_sum",
    "contentgraph_compiled_reads_total",
    "contentgraph_compiled_read_failures_total",
    "contentgraph_resolver_reads_total",
    "contentgraph_row_cache_lookups_total",
    "contentgraph_upload_bytes_total",
    "contentgraph_upload_files_total",
    "contentgraph_upload_refusals_total",
    "contentgraph_websocket_connections",
    "contentgraph_sse_connections",
    "contentgraph_subscriptions",
    "contentgraph_events_published_total",
    "contentgraph_events_delivered_total",
    "contentgraph_events_dropped_total",
    "contentgraph_event_position",
    "contentgraph_subscription_executions_total",
    "contentgraph_subscription_results_shared_total",
    "contentgraph_db_connections_in_use",
    "contentgraph_db_connections_waiting",
    "contentgraph_sql_statements_total",
    "contentgraph_redis_errors_total",
    "contentgraph_redis_outages_total",
    "contentgraph_redis_circuit_open",
)


def names(found: dict[Sample, float]) -> set[str]:
    return {name for name, _ in found}


# -- in process ---------------------------------------------------------------------------------


async def test_a_request_id_goes_back_as_it_came_or_is_made(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/no/such/route"):
        sent = f"req-{uuid.uuid4()}"
        response = await client.get(path, headers={"X-Request-Id": sent})
        assert response.headers["x-request-id"] == sent
    posted = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-Id": "abc.DEF_1:2-3"}
    )
    assert posted.headers["x-request-id"] == "abc.DEF_1:2-3"

    made = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3 and all(GENERATED.fullmatch(found) for found in made)
    # Too long, or characters a log line should not carry from a client: replaced.
    unfit = [b"x" * 65, b"two words", b"line\tbreak", "\xfcn\xefcode".encode("latin-1"), b""]
    for header in unfit:
        response = await client.get("/healthz", headers={b"X-Request-Id": header})
        assert GENERATED.fullmatch(response.headers["x-request-id"]), header


def test_the_hot_path_adders_export_what_prometheus_clients_own_calls_do() -> None:
    registry = prometheus_client.CollectorRegistry()
    histogram = prometheus_client.Histogram(
        "latency", "", ["way"], buckets=metrics.LATENCY_BUCKETS, registry=registry
    )
    counter = prometheus_client.Counter("calls", "", ["way"], registry=registry)
    gauge = prometheus_client.Gauge("held", "", ["way"], registry=registry)
    observer = metrics.LatencyObserver(histogram.labels(way="fast"))
    add_call, add_held = (
        metrics.adder(counter.labels(way="fast")),
        metrics.adder(gauge.labels(way="fast")),
    )
    # On a bound (a bucket's "le" includes it), between, below the first, past the last.
    for seconds in (0.0, 0.0005, 0.001, 0.0010001, 0.004, 0.25, 9.99, 10.0, 10.5, 3600.0):
        histogram.labels(way="own").observe(seconds)
        observer.observe(seconds)
        counter.labels(way="own").inc()
        add_call(1)
        gauge.labels(way="own").inc()
        add_held(1)
    gauge.labels(way="own").dec()
    add_held(-1)

    def exported(way: str) -> dict[tuple[str, str], float]:
        return {
            (sample.name, sample.labels.get("le", "")): sample.value
            for family in registry.collect()
            for sample in family.samples
            if sample.labels.get("way") == way
        }

    own, fast = exported("own"), exported("fast")
    assert own == fast and own[("latency_bucket", "0.001")] == 3 and own[("held", "")] == 9


def test_made_request_ids_never_repeat_and_a_forked_worker_draws_its_own() -> None:
    made = [context.new_request_id() for _ in range(10_000)]
    assert len(set(made)) == len(made) and all(GENERATED.fullmatch(found) for found in made)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child: one id, through the pipe, and out without pytest's teardown
        os.write(writer, context.new_request_id().encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    theirs = os.read(reader, 64).decode()
    os.close(reader)
    assert GENERATED.fullmatch(theirs) and theirs[:16] != made[-1][:16]
    assert theirs not in made


@pytest.mark.parametrize(
    ("query", "operation_type"), [(NAMED_QUERY, "query"), (CREATE, "mutation")]
)
async def test_each_request_has_one_log_line_with_its_id_operation_and_duration(
    gql: Any, caplog: pytest.LogCaptureFixture, query: str, operation_type: str
) -> None:
    http: httpx.AsyncClient = gql.http
    request_id = f"line-{uuid.uuid4().hex}"
    with caplog.at_level(logging.INFO, logger="contentgraph.access"):
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": {"n": "Logged"}},
            headers={"Authorization": f"Bearer {gql.token}", "X-Request-Id": request_id},
        )
    assert response.status_code == 200 and "errors" not in response.json()
    (record,) = [r for r in caplog.records if r.name == "contentgraph.access"]
    assert vars(record)["request_id"] == request_id
    fields = vars(record)["fields"]
    name = "ListContacts" if operation_type == "query" else "Create"
    assert fields["method"] == "POST" and fields["path"] == "/graphql"
    assert fields["status"] == 200
    assert fields["operation"] == name and fields["operation_type"] == operation_type
    assert isinstance(fields["duration_ms"], float) and fields["duration_ms"] >= 0

    entry = json.loads(logs.LogFormatter(json=True).format(record))
    assert entry["request_id"] == request_id and entry["logger"] == "contentgraph.access"
    assert entry["operation"] == name and entry["status"] == 200
    assert entry["duration_ms"] == fields["duration_ms"] and entry["level"] == "INFO"
    assert entry["message"].startswith("POST /graphql 200 ")
    text = logs.LogFormatter().format(record)
    assert f"operation={name} " in text and text.endswith(f"request_id={request_id}")


async def test_an_unexpected_error_outside_graphql_carries_the_logged_id(
    app: Starlette,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def explode(request: Request) -> Response:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(app.router, "routes", [*app.router.routes, Route("/boom", explode)])
    with caplog.at_level(logging.INFO):
        response = await client.get("/boom", headers={"X-Request-Id": "boom-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "boom-1"
    assert response.json() == {
        "errors": [
            {
                "message": "Internal server error",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "boom-1"},
            }
        ]
    }
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert vars(error)["request_id"] == "boom-1" and error.exc_info is not None
    assert "secret detail" in str(error.exc_info[1]) and "secret" not in response.text
    entry = json.loads(logs.LogFormatter(json=True).format(error))
    assert entry["request_id"] == "boom-1" and "RuntimeError: secret detail" in entry["exception"]
    (line,) = [r for r in caplog.records if r.name == "contentgraph.access"]
    assert vars(line)["request_id"] == "boom-1" and vars(line)["fields"]["status"] == 500


async def test_metrics_lists_every_series(gql: Any) -> None:
    await gql.data(NAMED_QUERY)
    response = await gql.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)
    assert set(SERIES) <= names(found), set(SERIES) - names(found)
    assert total(found, "contentgraph_graphql_requests_total", transport="http") >= 1


def test_log_lines_keep_to_one_line_and_json_keeps_everything() -> None:
    record = logging.LogRecord("contentgraph.x", logging.WARNING, __file__, 1, "m", None, None)
    record.fields = {"path": "/a\nforged 200 line", "operation": None}
    record.request_id = None
    text = logs.LogFormatter().format(record)
    assert "\n" not in text and text.endswith("path=/a\\x0aforged 200 line")
    try:
        raise ValueError("why")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    entry = json.loads(logs.LogFormatter(json=True).format(record))
    assert entry["path"] == "/a\nforged 200 line" and entry["operation"] is None
    assert entry["level"] == "WARNING" and entry["pid"] == os.getpid()
    assert "ValueError: why" in entry["exception"]


def test_serve_makes_a_fresh_metrics_directory_per_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))  # someone else's: ignored, not wiped
    (tmp_path / "counter_1.db").write_bytes(b"old")
    forget_inherited()
    assert MULTIPROC_ENV not in os.environ
    with metrics_directory(1) as none:
        assert none is None and MULTIPROC_ENV not in os.environ
    with metrics_directory(2) as first, metrics_directory(2) as second:
        assert first != second and os.environ[MULTIPROC_ENV] == second
        assert first is not None and os.listdir(first) == []
    assert not Path(first).exists() and MULTIPROC_ENV not in os.environ
    assert (tmp_path / "counter_1.db").read_bytes() == b"old"


# -- two live workers ---------------------------------------------------------------------------


def _run_async(coroutine: Any) -> Any:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """`contentgraph serve --workers 2` on a database of its own and Redis, logging JSON:
    (base URL, environment); the log is at VAR_DIR/../server.log."""
    url = _run_async(create_postgres_database())
    workdir = tmp_path_factory.mktemp("two-workers")
    settings = postgres_settings(url, workdir)
    _run_async(require_redis(settings))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": str(settings.redis_url),
        "REDIS_PREFIX": settings.redis_prefix,
        "VAR_DIR": str(workdir / "var"),
        "FILES_ROOT": str(workdir / "files"),
        "SECRET_KEY": TEST_SECRET,
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "PASSWORD_TIME_COST": "1",
        "PASSWORD_MEMORY_KIB": "8",
    }
    try:
        with serve(env, workdir / "server.log", "--workers", "2") as base:
            yield base, env
    finally:
        _run_async(drop_redis_keys(settings))
        _run_async(drop_postgres_database(url))


class Sent:
    """A client of the live server that counts the GraphQL requests it sends over HTTP."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token, self.http_requests = base, token, 0
        # No keep-alive: each request its own connection, so both workers accept some.
        self.http = httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=30,
        )

    async def post(self, query: str, **variables: Any) -> httpx.Response:
        self.http_requests += 1
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or None}
        )

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = (await self.post(query, **variables)).json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def metrics(self) -> dict[Sample, float]:
        response = await self.http.get("/metrics")
        assert response.status_code == 200
        return samples(response.text)


@pytest.fixture
async def sent(two_workers: tuple[str, dict[str, str]]) -> AsyncIterator[Sent]:
    base, env = two_workers
    _, token = await asyncio.to_thread(signed_in, base, env, "--admin")
    client = Sent(base, token)
    client.http_requests = 1  # signed_in's login mutation
    yield client
    await client.http.aclose()


def log_entries(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every line the server wrote, each parsed as JSON (it fails on a line that is not)."""
    text = (Path(env["VAR_DIR"]).parent / "server.log").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def request_lines(env: dict[str, str]) -> list[dict[str, Any]]:
    return [entry for entry in log_entries(env) if entry["logger"] == "contentgraph.access"]


async def test_two_workers_metrics_sum_both_and_log_json(
    two_workers: tuple[str, dict[str, str]], sent: Sent
) -> None:
    base, env = two_workers
    contact = (await sent.data(CREATE, n="Ada"))["createContact"]["contact"]["id"]
    png = images.png()
    uploaded = await upload(
        sent.http,
        AVATAR,
        {"c": contact, "f": None},
        {"0": ("a.png", png, "image/png")},
        {"0": ["variables.f"]},
    )
    sent.http_requests += 1
    assert uploaded.json()["data"]["setContactAvatar"]["userErrors"] == [], uploaded.text
    refused = await upload(
        sent.http,
        AVATAR,
        {"c": contact, "f": None},
        {"0": ("a.png", png, "image/png")},
        {"0": ["variables.f"]},
        headers={},
    )
    sent.http_requests += 1
    assert refused.status_code == 400  # no preflight header: CSRF

    # Reads, concurrently on fresh connections, until both workers have answered some.
    for _ in range(20):
        reads = [NAMED_QUERY] * 8 + [RESOLVER_QUERY] * 4
        answers = await asyncio.gather(*[sent.post(query) for query in reads])
        assert all(a.status_code == 200 and "errors" not in a.json() for a in answers)
        if len({line["pid"] for line in request_lines(env)}) >= 2:
            break
    served = {line["pid"] for line in request_lines(env) if line["path"] == "/graphql"}
    assert len(served) == 2, served
    for _ in range(2):  # one after the other: the second finds the avatar's row cached
        await sent.data(RESOLVER_QUERY)

    # A named read with our own id: its JSON line carries id, operation and duration.
    traced = await sent.http.post(
        "/graphql", json={"query": NAMED_QUERY}, headers={"X-Request-Id": "traced-1"}
    )
    sent.http_requests += 1
    assert traced.headers["x-request-id"] == "traced-1"

    # GraphQL over SSE (a query, completed at once).
    async with sent.http.stream(
        "POST",
        "/graphql/stream",
        json={"query": NAMED_QUERY},
        headers={"Accept": "text/event-stream"},
    ) as stream:
        body = b"".join([chunk async for chunk in stream.aiter_bytes()])
    assert b"event: complete" in body

    # A subscription over a websocket gets an event; while it is open, whichever worker
    # answers /metrics counts it (live gauges summed over the workers).
    ws_url = base.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"token": sent.token}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": WATCH, "variables": {"id": contact}},
                }
            )
        )

        async def subscribed() -> bool:
            return value(await sent.metrics(), "contentgraph_subscriptions") == 1

        await eventually(subscribed, "the subscription counted")
        for _ in range(6):  # several scrapes: both workers answer some
            found = await sent.metrics()
            assert value(found, "contentgraph_websocket_connections") == 1
            assert value(found, "contentgraph_subscriptions") == 1
        await sent.data(RENAME, id=contact, n="Ada Lovelace")
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if message["type"] == "next":
                break
        assert message["payload"]["data"]["contactChanged"]["contact"]["name"] == "Ada Lovelace"
        await socket.send(json.dumps({"id": "1", "type": "complete"}))

    async def closed() -> bool:
        found = await sent.metrics()
        return (
            value(found, "contentgraph_websocket_connections") == 0
            and value(found, "contentgraph_subscriptions") == 0
            and total(found, "contentgraph_graphql_requests_total", transport="websocket") == 1
        )

    await eventually(closed, "the socket and its subscription gone from the gauges")
    found = await sent.metrics()
    assert set(SERIES) <= names(found), set(SERIES) - names(found)

    # Summed across the workers: every GraphQL request sent over HTTP, once.
    http = total(found, "contentgraph_graphql_requests_total", transport="http")
    assert http == sent.http_requests
    timed = total(found, "contentgraph_graphql_request_duration_seconds_count", transport="http")
    assert timed == sent.http_requests
    assert (
        value(
            found,
            "contentgraph_graphql_requests_total",
            transport="http",
            operation="none",
            code="BAD_REQUEST",
        )
        == 1
    )
    assert (
        value(
            found,
            "contentgraph_graphql_requests_total",
            transport="sse",
            operation="query",
            code="OK",
        )
        == 1
    )
    assert (
        value(
            found,
            "contentgraph_graphql_requests_total",
            transport="websocket",
            operation="subscription",
            code="OK",
        )
        == 1
    )
    compiled = value(found, "contentgraph_compiled_reads_total")
    resolved = value(found, "contentgraph_resolver_reads_total")
    queries = total(found, "contentgraph_graphql_requests_total", operation="query")
    assert compiled >= 8 and resolved >= 4 and compiled + resolved == queries
    assert value(found, "contentgraph_compiled_read_failures_total") == 0
    assert value(found, "contentgraph_row_cache_lookups_total", kind="file", result="miss") >= 1
    assert value(found, "contentgraph_row_cache_lookups_total", kind="file", result="hit") >= 1
    assert value(found, "contentgraph_upload_bytes_total") == len(png)
    assert value(found, "contentgraph_upload_files_total") == 1
    assert value(found, "contentgraph_upload_refusals_total", reason="csrf") == 1
    assert value(found, "contentgraph_upload_refusals_total", reason="too_large") == 0
    assert value(found, "contentgraph_events_published_total") >= 3  # create, avatar, rename
    assert value(found, "contentgraph_events_delivered_total") >= 1
    assert value(found, "contentgraph_events_dropped_total", reason="slow_subscriber") == 0
    assert value(found, "contentgraph_event_position") >= 3
    assert value(found, "contentgraph_subscription_executions_total") >= 1
    assert value(found, "contentgraph_sql_statements_total") > sent.http_requests
    assert value(found, "contentgraph_db_connections_waiting", pool="requests") == 0
    assert value(found, "contentgraph_db_connections_in_use", pool="compiled") == 0
    assert value(found, "contentgraph_redis_errors_total", kind="error") == 0
    assert value(found, "contentgraph_redis_circuit_open") == 0

    # The logs: every line JSON (uvicorn's too), the request lines complete.
    entries = log_entries(env)
    assert any(e["logger"].startswith("uvicorn") for e in entries)
    (line,) = [e for e in request_lines(env) if e["request_id"] == "traced-1"]
    assert line["method"] == "POST" and line["path"] == "/graphql" and line["status"] == 200
    assert line["operation"] == "ListContacts" and line["operation_type"] == "query"
    assert isinstance(line["duration_ms"], float) and line["pid"] in served
    assert line["message"].startswith("POST /graphql 200 ")
    others = [e["request_id"] for e in request_lines(env) if e["request_id"] != "traced-1"]
    assert others and all(GENERATED.fullmatch(found) for found in others)
