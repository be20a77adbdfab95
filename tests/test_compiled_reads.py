"""The compiled read path answers exactly as the resolvers do.

Every operation - fixed ones and a few hundred generated ones, valid and not, for viewers with
different scopes - is posted to two apps on the same database: one with the compiled path,
one without. The bodies must be byte-for-byte equal once decoded (key order included), and
most valid operations must really have been compiled, or the comparison would prove nothing.
"""

from __future__ import annotations

import gc
import logging
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.db.models import Album, Contact, Photo, Role
from app.server import create_app
from schema.declarations import NODE_SCOPES, ROOT_LISTINGS, ROOT_OBJECTS, TYPES, Listing
from schema.ids import to_global_id
from tests.backends import FRONTEND_ORIGIN
from tests.conftest import client_address, user_token
from tests.factories import add, album_with_photos, stored_file
from tests.metrics import metric


def leaves(type_name: str) -> list[str]:
    """A declared type's scalar fields, as the compiled path knows them."""
    table = TYPES[type_name]
    return [*table.columns, *table.counts, "__typename"]


#: Each compiled connection: its declaration, by the field that lists it.
LISTINGS: dict[str, Listing[Any]] = {
    **{name: r.listing for name, r in ROOT_LISTINGS.items() if r.listing.target in TYPES},
    **{name: listing for table in TYPES.values() for name, listing in table.listings.items()},
}
ORDERS = {field: [o.value for o in listing.orders] for field, listing in LISTINGS.items()}
ORDER_TYPES = {field: listing.orders.__name__ for field, listing in LISTINGS.items()}
PAGE_INFO = ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"]
#: Fields the compiled path does not declare: an operation with one is the resolvers'.
UNDECLARED = {
    "Contact": "viewerCanEdit",
    "Album": "viewerCanEdit",
    "Photo": "album { cover { id } }",
}
SEARCHES = ["a", "An", "%", "_", "o'b", "  ", "", "É", "\\", "ann", "x" * 201]
MOMENTS = ["2026-01-11T00:00:00Z", "2026-01-10T12:30:05.000010+00:00", "2026-01-12T00:00:00"]
#: Valid sizes, then ones the normal path refuses (the compiled path must step aside).
FIRSTS = [None, 0, 1, 2, 3, 100, None, 1, 2, 3, 2, None, 1, 3, 101, -1]


def moment(day: int, micro: int) -> datetime:
    return datetime(2026, 1, day, 12, 30, 5, micro, tzinfo=UTC)


async def seed(app: Starlette) -> dict[str, uuid.UUID]:
    """Awkward data: quotes, unicode, newlines, nulls, ties, whole and fractional seconds."""
    names = ["O'Brien", 'Zoë "Z" 日本', "tab\there", "line\nbreak", "Ann", "Ann", "😀 emoji"]
    ids: dict[str, uuid.UUID] = {}
    for i, name in enumerate(names):
        avatar = None
        if i % 3 != 1:
            avatar = stored_file(
                name=["my photo ü.png", "a&b?c=d#e.png", "plain.png"][i % 3],
                width=None if i == 4 else 10 + i,
                created_at=moment(1 + i, 0 if i % 2 else 123456),
            )
            await add(app, avatar)
        contact = Contact(
            id=uuid.uuid4(),
            name=name,
            email=None if i % 2 else f"c{i}@example.com",
            phone="+1 555" if i == 3 else None,
            notes="multi\nline 'notes' \\ \"quoted\"" if i == 2 else None,
            avatar_id=avatar.id if avatar else None,
            created_at=moment(10 + i % 3, 0 if i % 2 else 10 * i),
            updated_at=moment(20, 999999),
        )
        await add(app, contact)
        ids.setdefault("contact", contact.id)
    for a in range(4):
        album = Album(
            id=uuid.uuid4(),
            title=["Beach", "beach", "Écoles", "Zoo"][a],
            description=None if a % 2 else "about\n'it'",
            created_at=moment(5 + a % 2, 0 if a == 2 else 7),
            updated_at=moment(6, 0),
        )
        files = [stored_file("albums.photos", f"{a}-{i} é.jpg") for i in range(a * 2)]
        photos = [
            Photo(
                id=uuid.uuid4(),
                album_id=album.id,
                file_id=f.id,
                sort=i // 2,  # ties on sort break on the id
                caption=None if i % 3 == 0 else f"#{i} «caption»",
                created_at=moment(7, i),
            )
            for i, f in enumerate(files)
        ]
        await add(app, album, *files)
        await add(app, *photos)
        ids.setdefault("album", album.id)
        if photos:
            ids.setdefault("photo", photos[-1].id)
            ids.setdefault("storedfile", files[0].id)
    role = Role(name="contacts-only", description="", scopes=["contacts.read"])
    await add(app, role)
    ids["role"] = role.id
    return ids


async def every_cursor(
    app: Starlette, http: httpx.AsyncClient, token: str, ids: dict[str, uuid.UUID]
) -> dict[str, list[tuple[str, str]]]:
    """Each list's cursors under each of its orderings, as the resolvers issue them."""
    album = to_global_id("Album", ids["album"])
    found: dict[str, list[tuple[str, str]]] = {}
    for field, orders in ORDERS.items():
        for order in orders:
            listing = f"{field}(first: 100, orderBy: {order}) {{ edges {{ cursor }} }}"
            nested = field not in ROOT_LISTINGS
            query = f'{{ album(id: "{album}") {{ {listing} }} }}' if nested else f"{{ {listing} }}"
            _, slow = await both(app, http, token, query, {})
            data = slow.json()["data"]
            connection = data["album"][field] if nested else data[field]
            found.setdefault(field, []).extend((order, e["cursor"]) for e in connection["edges"])
    return found


class Generator:
    """Random operations over the declared fields (schema.declarations), sometimes stepping
    outside them. ``outside`` records a step the compiled path rightly leaves to the
    resolvers (an undeclared field, an id of a type it does not compile)."""

    def __init__(
        self,
        rng: random.Random,
        ids: dict[str, uuid.UUID],
        cursors: dict[str, list[tuple[str, str]]],
    ) -> None:
        self.rng, self.ids, self.cursors = rng, ids, cursors
        self.variables: dict[str, Any] = {}
        self.definitions: list[str] = []
        self.fragments: list[str] = []
        self.outside = False
        #: An argument the resolvers refuse - if they get to it: one inside a list that comes
        #: back empty is never looked at by them, while the compiled path checks them all.
        self.refused = False

    def pick(self, fields: list[str]) -> list[str]:
        chosen = self.rng.sample(fields, self.rng.randint(1, len(fields)))
        return [self.alias(f) + self.condition() for f in chosen]

    def alias(self, field: str) -> str:
        if self.rng.random() < 0.1 and field != "__typename":
            return f"a{self.rng.randrange(99)}_{field}: {field}"
        return field

    def condition(self) -> str:
        """Now and then an @include/@skip, literal or from a variable."""
        roll = self.rng.random()
        if roll > 0.12:
            return ""
        directive = self.rng.choice(["include", "skip"])
        value = self.rng.random() < 0.5
        if roll < 0.06:
            return f" @{directive}(if: {str(value).lower()})"
        return f" @{directive}(if: {self.variable('Boolean!', value)})"

    def wrap(self, type_name: str, body: str) -> str:
        roll = self.rng.random()
        if roll < 0.15:
            return f"... on {type_name} {self.directive()}{{ {body} }}"
        if roll < 0.25:
            name = f"F{len(self.fragments)}"
            self.fragments.append(f"fragment {name} on {type_name} {{ {body} }}")
            return f"...{name}{self.directive()}"
        return body

    def directive(self) -> str:
        if self.rng.random() < 0.1:
            return f" @skip(if: {self.variable('Boolean!', self.rng.random() < 0.3)}) "
        return " "

    def variable(self, type_name: str, value: Any) -> str:
        key = f"v{len(self.definitions)}"
        self.definitions.append(f"${key}: {type_name}")
        self.variables[key] = value
        return f"${key}"

    def argument(self, name: str, type_name: str, value: Any, literal: str) -> str:
        if self.rng.random() < 0.4:
            return f"{name}: {self.variable(type_name, value)}"
        return f"{name}: {literal}"

    def object(self, type_name: str, depth: int = 0) -> str:
        """A selection on a declared type: its scalars, some of its references and lists."""
        table = TYPES[type_name]
        fields = self.pick(leaves(type_name))
        for name, relation in table.to_one.items():
            if depth < 2 and self.rng.random() < 0.5:
                body = self.object(relation.target, depth + 1)
                fields.append(f"{self.alias(name)}{self.condition()} {{ {body} }}")
        for name, linked in table.to_many.items():
            if depth < 2 and self.rng.random() < 0.5:
                body = self.object(linked.target, depth + 1)
                fields.append(f"{self.alias(name)}{self.condition()} {{ {body} }}")
        for name, listing in table.listings.items():
            if depth < 2 and self.rng.random() < 0.6:
                target = listing.target
                fields.append(self.connection(name, lambda t=target: self.object(t, depth + 1)))
        if type_name in UNDECLARED and self.rng.random() < 0.03:
            fields.append(UNDECLARED[type_name])
            self.outside = True
        self.rng.shuffle(fields)
        return self.wrap(type_name, " ".join(fields))

    def cursor(self, field: str, order: str) -> Any:
        # mostly real cursors - some made under another ordering - and now and then junk
        made_for, cursor = self.rng.choice([*self.cursors[field], ("", "bm90IGEgY3Vyc29y")])
        self.refused |= made_for != order
        return cursor

    def connection(self, field: str, node: Any) -> str:
        arguments = []
        backward = self.rng.random() < 0.3
        size = self.rng.choice(FIRSTS)
        if size is not None:
            name = "last" if backward else "first"
            arguments.append(self.argument(name, "Int", size, str(size)))
            self.refused |= not 0 <= size <= 100
        order = LISTINGS[field].default_order.value
        if self.rng.random() < 0.6:
            order = self.rng.choice(ORDERS[field])
            arguments.append(self.argument("orderBy", ORDER_TYPES[field], order, order))
        for name in ("after", "before"):
            if self.rng.random() < (0.3 if (name == "before") == backward else 0.05):
                cursor = self.cursor(field, order)
                arguments.append(
                    self.argument(name, "String", cursor, orjson.dumps(cursor).decode())
                )
        if self.rng.random() < 0.03:
            arguments.append("first: 1, last: 1" if not size else "first: 2")  # refused
            self.refused = True
        declared = ROOT_LISTINGS.get(field)
        if declared is not None and declared.filter_input and self.rng.random() < 0.4:
            arguments.append(self.filter(declared.filter_input.__name__))
        parts: list[str] = []
        if self.rng.random() < 0.1:  # no page at all: only its size, or only its bounds
            parts.append(self.rng.choice(["totalCount", "__typename totalCount", "pageInfo"]))
            if parts[0] == "pageInfo":
                parts[0] = f"pageInfo {{ {' '.join(self.rng.sample(PAGE_INFO, 3))} }}"
            args = f"({', '.join(arguments)})" if arguments else ""
            return f"{field}{args} {{ {' '.join(parts)} }}"
        if self.rng.random() < 0.6:
            edge = [f"node {{ {node()} }}"] + (["__typename"] if self.rng.random() < 0.3 else [])
            if self.rng.random() < 0.4:
                edge.insert(self.rng.randrange(len(edge) + 1), "cursor")
            parts.append(f"edges {{ {' '.join(edge)} }}")
        if self.rng.random() < 0.5 or not parts:
            parts.append(f"nodes {{ {node()} }}")
        if self.rng.random() < 0.3:
            parts.append("totalCount")
        if self.rng.random() < 0.2:
            parts.append("__typename")
        if self.rng.random() < 0.3:
            info = self.rng.sample(PAGE_INFO, self.rng.randint(1, len(PAGE_INFO)))
            parts.append(f"pageInfo {{ {' '.join(info)} }}")
        args = f"({', '.join(arguments)})" if arguments else ""
        return f"{self.alias(field)}{args} {{ {' '.join(parts)} }}"

    def filter(self, input_type: str) -> str:
        """search and created ranges, as a literal or a variable."""
        given: dict[str, Any] = {}
        if self.rng.random() < 0.7:
            given["search"] = self.rng.choice(SEARCHES)
            self.refused |= len(given["search"]) > 200
        for name in ("createdSince", "createdBefore"):
            if self.rng.random() < 0.4:
                given[name] = self.rng.choice(MOMENTS)
        if self.rng.random() < 0.4:
            return f"filter: {self.variable(input_type, given)}"
        fields = ", ".join(f"{k}: {orjson.dumps(v).decode()}" for k, v in given.items())
        return f"filter: {{{fields}}}"

    def object_id(self, type_name: str) -> str:
        return self.rng.choice(
            [
                to_global_id(type_name, self.ids[type_name.lower()]),
                to_global_id(type_name, self.ids[type_name.lower()]),
                to_global_id(type_name, self.ids[type_name.lower()]),
                to_global_id(type_name, uuid.uuid4()),  # no such row
                to_global_id("Photo", self.ids["album"]),  # the id of another type
                "not an id",
            ]
        )

    def node_id(self) -> str:
        type_name = self.rng.choice([*NODE_TYPES, *NODE_TYPES, "StoredFile"])
        if type_name == "StoredFile":  # a file's read rule is its entity's: resolvers
            self.outside = True
        return self.object_id(type_name)

    def node_selection(self) -> str:
        """Fields on Node, and fragments per type."""
        parts = self.rng.sample(["id", "__typename"], self.rng.randint(0, 2))
        for type_name in self.rng.sample(NODE_TYPES, self.rng.randint(1, len(NODE_TYPES))):
            parts.append(f"... on {type_name} {{ {self.object(type_name, 1)} }}")
        if self.rng.random() < 0.2:
            name = f"F{len(self.fragments)}"
            self.fragments.append(f"fragment {name} on Node {{ id }}")
            parts.append(f"...{name}")
        return " ".join(parts)

    def operation(self) -> tuple[str, dict[str, Any]]:
        roots = []
        choices = [
            *ROOT_OBJECTS,
            *(n for n, r in ROOT_LISTINGS.items() if r.listing.target in TYPES),
        ]
        for root in self.rng.sample(
            [*choices, "node", "nodes", "__typename"], self.rng.randint(1, 3)
        ):
            if root in ROOT_OBJECTS:
                target = ROOT_OBJECTS[root].target
                gid = self.object_id(target)
                argument = self.argument("id", "ID!", gid, orjson.dumps(gid).decode())
                roots.append(f"{root}({argument}) {{ {self.object(target)} }}")
            elif root in ROOT_LISTINGS:
                target = ROOT_LISTINGS[root].listing.target
                roots.append(self.connection(root, lambda t=target: self.object(t)))
            elif root == "node":
                gid = self.node_id()
                argument = self.argument("id", "ID!", gid, orjson.dumps(gid).decode())
                roots.append(f"node({argument}) {{ {self.node_selection()} }}")
            elif root == "nodes":
                ids = [self.node_id() for _ in range(self.rng.randint(0, 4))]
                argument = self.argument("ids", "[ID!]!", ids, orjson.dumps(ids).decode())
                roots.append(f"nodes({argument}) {{ {self.node_selection()} }}")
            elif root == "me":
                roots.append(f"me {{ {self.object('User')} }}")
            elif root == "scopes":
                fields = self.rng.sample(
                    ["name", "description", "__typename"], self.rng.randint(1, 3)
                )
                roots.append(f"scopes {{ {' '.join(self.alias(f) for f in fields)} }}")
            else:
                roots.append("__typename")
        header = f"query Q({', '.join(self.definitions)})" if self.definitions else "query Q"
        return f"{header} {{ {' '.join(roots)} }} {' '.join(self.fragments)}", self.variables


#: The types node and nodes compile for (the rest are read by rules of their own).
NODE_TYPES = [name for name in TYPES if name in NODE_SCOPES]


async def both(
    app: Starlette,
    http: httpx.AsyncClient,
    token: str | None,
    query: str,
    variables: dict[str, Any],
) -> tuple[httpx.Response, httpx.Response]:
    """The answer with the compiled path, then with it switched off on the same app (from a
    page on another origin, so CORS applies to both)."""
    headers = {"Origin": FRONTEND_ORIGIN}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {"query": query, "variables": variables}
    endpoint = app.state.graphql
    fast = await http.post("/graphql", json=body, headers=headers)
    compiled, endpoint.compiled = endpoint.compiled, None
    try:
        slow = await http.post("/graphql", json=body, headers=headers)
    finally:
        endpoint.compiled = compiled
    return fast, slow


#: Headers that may differ between equal answers: the body's length (the same JSON can be
#: spelled differently) and what the server adds per response.
VARYING_HEADERS = frozenset({"content-length", "date", "server", "x-request-id"})


def assert_same(fast: httpx.Response, slow: httpx.Response, query: str) -> None:
    assert fast.status_code == slow.status_code, query
    # orjson keeps key order, so this compares order too.
    assert orjson.dumps(fast.json()) == orjson.dumps(slow.json()), query
    headers = [
        {(k, v) for k, v in response.headers.items() if k not in VARYING_HEADERS}
        for response in (fast, slow)
    ]
    assert headers[0] == headers[1], query
    assert fast.headers["access-control-allow-origin"] == FRONTEND_ORIGIN


# graphql-core abandons sibling resolver coroutines it has already made when a field error
# nulls their parent (execute_fields raises mid-loop). Their finalizers run whenever the cyclic
# collector gets to them and now and then raise from inside the warnings machinery - harmless,
# but an "unraisable exception" to pytest. The garbage of this test's hundreds of failing
# operations is collected at its end, under this filter, instead of in some later test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_generated_operations_answer_the_same_on_both_paths(
    app: Starlette,
    client: httpx.AsyncClient,
    backend_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = await seed(app)
    tokens = {
        "admin": await user_token(app, "admin", "admin"),
        "contacts-only": await user_token(app, "partial", "contacts-only"),
        "anonymous": None,
    }
    cursors = await every_cursor(app, client, await user_token(app, "lister", "admin"), ids)
    compiled = app.state.graphql.compiled
    answered = claims = 0
    failed = compiled.failed if compiled else 0  # (the app, and its counters, outlive a test)
    caplog.set_level(logging.DEBUG, logger="contentgraph.compiled")
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        for number in range(400):
            rng = random.Random(number)
            generator = Generator(rng, ids, cursors)
            query, variables = generator.operation()
            viewer = rng.choice(["admin", "admin", "admin", "contacts-only", "anonymous"])
            before = compiled.answered if compiled else 0
            fast, slow = await both(app, client, tokens[viewer], query, variables)
            assert_same(fast, slow, query)
            took = (compiled.answered if compiled else 0) - before
            answered += took
            # What the compiled path claims (declared fields, an admin, arguments the
            # resolvers accept) it must answer itself.
            claimed = not generator.outside and not generator.refused and viewer == "admin"
            claimed &= "errors" not in slow.json()
            claims += claimed
            if compiled is not None and claimed:
                reasons = [r.getMessage() for r in caplog.records if r.name.endswith("compiled")]
                assert took == 1, (query, variables, reasons[-1:])
            # Equal bodies are not enough: the compiled path must not have failed and left
            # the answer to the resolvers.
            assert (compiled.failed if compiled else 0) == failed, query
    # Failing operations (bad cursors, refused windows) log nothing at ERROR: the resolvers'
    # shared page fetches once left "Task exception was never retrieved" tracebacks behind.
    # (SQLAlchemy's own graceful close of an aiosqlite connection that graphql-core's
    # cancellation of a failing field's siblings invalidated mid-query is left pending when the
    # connection is force-closed instead; collecting it logs "Task was destroyed", harmlessly.)
    logged = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert [m[:80] for m in logged if "_terminate_graceful_close" not in m] == []
    gc.collect()
    if backend_settings.is_sqlite:
        assert compiled is None  # PostgreSQL only: SQLite answers everything the normal way
    else:
        # Most of the rest are anonymous or partial viewers, and bad arguments.
        assert claims >= 60, f"only {claims} of 400 operations are the compiled path's to answer"
        assert answered >= claims, (answered, claims)


async def test_the_benchmark_workloads_are_compiled_and_equal(
    app: Starlette,
    client: httpx.AsyncClient,
    backend_settings: Settings,
    sql_counter: Any,
) -> None:
    from bench.perf import BACKWARD, MORE_WORKLOADS, WORKLOADS

    await seed(app)
    token = await user_token(app, "admin", "admin")
    compiled = app.state.graphql.compiled
    failed = compiled.failed if compiled else 0
    listed = await client.post(
        "/graphql",
        json={"query": "{ contacts(first: 3) { edges { cursor } } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    cursor = listed.json()["data"]["contacts"]["edges"][2]["cursor"]
    workloads = {
        **WORKLOADS,
        **MORE_WORKLOADS,
        "Q_backward": BACKWARD % orjson.dumps(cursor).decode(),
    }
    exported = await metric(client, "contentgraph_compiled_reads_total")
    for name, query in workloads.items():
        before = compiled.answered if compiled else 0
        fast, slow = await both(app, client, token, query, {})
        assert_same(fast, slow, query)
        assert "errors" not in fast.json(), name
        if compiled is not None:
            assert compiled.answered == before + 1, name
            assert compiled.failed == failed, name
    # The series is the process's (every app in it), so compared by what this test added.
    answered = len(workloads) if compiled else 0
    assert await metric(client, "contentgraph_compiled_reads_total") == exported + answered


async def test_compiled_operation_is_two_statements_whatever_the_page_size(
    app: Starlette,
    client: httpx.AsyncClient,
    backend_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The viewer's grants and the one statement; SQLite answers through batched loaders."""
    monkeypatch.setattr(app.state.services.auth.viewers, "ttl", 0)  # grants on every request
    app.state.services.auth.viewers.clear()
    for i in range(6):
        await album_with_photos(app, f"album {i}", 8)
    token = await user_token(app, "admin", "admin")
    query = (
        "query($albums: Int!, $photos: Int!) { albums(first: $albums) { totalCount nodes { "
        "title photoCount photos(first: $photos) { totalCount edges { node { caption "
        "album { title } file { url width } } } } } } }"
    )
    counts = []
    for albums, photos in ((1, 1), (6, 8)):
        variables = {"albums": albums, "photos": photos}
        before = app.state.db.statements
        await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        counts.append(app.state.db.statements - before)
        fast, slow = await both(app, client, token, query, variables)
        assert_same(fast, slow, query)
    assert counts[0] == counts[1], counts
    if app.state.graphql.compiled is not None:
        assert counts == [2, 2], counts


async def test_a_failing_compiled_statement_falls_back_to_the_resolvers(
    app: Starlette,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed(app)
    token = await user_token(app, "admin", "admin")

    async def broken(sql: str, params: list[object]) -> str:
        raise RuntimeError("a bug in the compiled path")  # (not the database's: counted)

    monkeypatch.setattr(app.state.db, "fetch_json", broken)
    query = "{ contacts(first: 3) { nodes { name avatar { url } } } }"
    exported = await metric(client, "contentgraph_compiled_read_failures_total")
    with caplog.at_level(logging.ERROR, logger="contentgraph.graphql"):
        fast, slow = await both(app, client, token, query, {})
    assert_same(fast, slow, query)
    assert len(fast.json()["data"]["contacts"]["nodes"]) == 3
    failures = [r for r in caplog.records if "compiled read failed" in r.getMessage()]
    compiled = app.state.graphql.compiled
    assert len(failures) == (1 if compiled is not None else 0)
    added = 1 if compiled else 0
    assert await metric(client, "contentgraph_compiled_read_failures_total") == exported + added


async def test_compiled_reads_follow_the_setting(
    app: Starlette, backend_settings: Settings
) -> None:
    """On by default where PostgreSQL can run them; COMPILED_READS=false turns them off."""
    assert (app.state.graphql.compiled is not None) == (not backend_settings.is_sqlite)
    switched_off = create_app(backend_settings.model_copy(update={"compiled_reads": False}))
    try:
        assert switched_off.state.graphql.compiled is None
    finally:
        await switched_off.state.services.close()


@pytest.mark.parametrize(
    "query",
    [
        "{ contacts(first: 1) { totalCount } }",
        "{ albums { totalCount } }",
        "{ albums(first: 2) { nodes { photos(first: 1) { totalCount } } } }",
        "{ contacts { pageInfo { hasPreviousPage } } }",
    ],
)
async def test_a_connection_without_a_page_is_compiled(
    app: Starlette, client: httpx.AsyncClient, query: str
) -> None:
    """Selecting only a connection's size uses no page-size parameter; asyncpg refused the
    statement once ("expects 0 arguments, 1 was passed") and every such read fell back."""
    await seed(app)
    token = await user_token(app, "admin", "admin")
    compiled = app.state.graphql.compiled
    before = (compiled.answered, compiled.failed) if compiled else (0, 0)
    fast, slow = await both(app, client, token, query, {})
    assert_same(fast, slow, query)
    assert "errors" not in fast.json()
    if compiled is not None:
        assert (compiled.answered, compiled.failed) == (before[0] + 1, before[1])


def file_urls(found: Any) -> list[str]:
    """Every ``url`` value in a decoded response."""
    if isinstance(found, list):
        return [url for item in found for url in file_urls(item)]
    if not isinstance(found, dict):
        return []
    own = [found["url"]] if isinstance(found.get("url"), str) else []
    return own + [url for value in found.values() for url in file_urls(value)]


PUBLIC_URL = "https://api.example.com/content"
#: File URLs of both kinds - signed (contacts.avatar, albums.photos) and public - on both paths.
URL_QUERIES = [
    "{ contacts(first: 20) { nodes { name avatar { url filename } } } }",
    "{ albums(first: 5) { nodes { photos(first: 9) { nodes { file { url } } } } } }",
]


# (Its generated operations fail now and then, leaving graphql-core's coroutines behind: see
# the note above the first test.)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
async def test_public_url_makes_file_urls_absolute_on_both_paths(
    app: Starlette, backend_settings: Settings
) -> None:
    """PUBLIC_URL reaches both read paths: the same absolute URLs, signed or not."""
    ids = await seed(app)
    # users.avatar is the public entity; a contact pointing at one of its files takes the
    # public branch of both paths (users themselves are not compiled).
    public = stored_file("users.avatar", "me & you.png")
    await add(app, public)
    await add(app, Contact(id=uuid.uuid4(), name="Public face", avatar_id=public.id))
    token = await user_token(app, "admin", "admin")
    absolute = create_app(backend_settings.model_copy(update={"public_url": PUBLIC_URL}))
    compiled = absolute.state.graphql.compiled
    transport = httpx.ASGITransport(app=absolute, client=(client_address(), 40000))
    urls: list[str] = []
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            cursors = await every_cursor(absolute, http, token, ids)
            generated = [Generator(random.Random(n), ids, cursors).operation() for n in range(60)]
            for query, variables in [(q, {}) for q in URL_QUERIES] + generated:
                before = (compiled.answered, compiled.failed) if compiled else (0, 0)
                fast, slow = await both(absolute, http, token, query, variables)
                assert_same(fast, slow, query)
                urls += file_urls(fast.json())
                if compiled is not None:
                    assert compiled.failed == before[1], query
                    assert query not in URL_QUERIES or compiled.answered == before[0] + 1
    finally:
        await absolute.state.services.close()
        gc.collect()
    assert urls and all(url.startswith(f"{PUBLIC_URL}/files/") for url in urls), urls
    assert any("?expires=" in url and "&signature=" in url for url in urls)
    assert f"{PUBLIC_URL}/files/users.avatar/{public.id}/me%20%26%20you.png" in urls
    if compiled is not None:
        assert compiled.answered >= 20, compiled.answered
