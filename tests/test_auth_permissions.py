"""Every read and write checks its scope: UNAUTHENTICATED for anonymous callers, FORBIDDEN for
signed-in callers without the scope, and no data leaks through filters, ordering or node()."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.server import create_app
from schema.ids import to_global_id
from tests.conftest import GraphQLClient, user_token
from tests.factories import album_with_photos, contact_with_avatar

READS = {
    "contacts": '{ contacts(filter: {search: "secret"}, orderBy: NAME_DESC) { totalCount } }',
    "albums": "{ albums { nodes { title } } }",
    "users": "{ users { totalCount } }",
    "roles": "{ roles { nodes { name } } }",
}
WRITES = {
    "createContact": 'mutation { createContact(input: {name: "x"}) { contact { id } } }',
    "createAlbum": 'mutation { createAlbum(input: {title: "x"}) { album { id } } }',
    "createRole": 'mutation { createRole(input: {name: "x"}) { role { id } } }',
}


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


@pytest.mark.parametrize("query", [*READS.values(), *WRITES.values()])
async def test_anonymous_callers_are_unauthenticated(anon: GraphQLClient, query: str) -> None:
    body = await anon(query)
    assert code(body) == "UNAUTHENTICATED"
    assert not any(body.get("data") or {})


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("viewer", ["contacts", "albums"], ["users", "roles", "createContact", "createAlbum"]),
        ("editor", ["contacts", "albums", "createContact", "createAlbum"], ["users", "createRole"]),
        (None, [], ["contacts", "albums", "users", "createContact"]),
    ],
)
async def test_scopes_decide_what_a_signed_in_user_may_do(
    app: Starlette, anon: GraphQLClient, role: str | None, allowed: list[str], refused: list[str]
) -> None:
    token = await user_token(app, "someone", *([role] if role else []))
    user = anon.as_user(token)
    for name in allowed:
        body = await user({**READS, **WRITES}[name])
        assert "errors" not in body, (name, body)
    for name in refused:
        body = await user({**READS, **WRITES}[name])
        assert code(body) == "FORBIDDEN", (name, body)
        assert body["errors"][0]["extensions"]["scope"]


async def test_node_is_no_side_door(app: Starlette, anon: GraphQLClient) -> None:
    contact = await contact_with_avatar(app, "Hidden Person")
    album = await album_with_photos(app, "Hidden Album", 1)
    albums_only = anon.as_user(await user_token(app, "albums-only", "viewer"))
    nobody = anon.as_user(await user_token(app, "nobody"))
    query = "query($id: ID!) { node(id: $id) { id ... on Contact { name } } }"
    for caller, expected in ((anon, "UNAUTHENTICATED"), (nobody, "FORBIDDEN")):
        for global_id in (to_global_id("Contact", contact.id), to_global_id("Album", album.id)):
            body = await caller(query, id=global_id)
            assert body["data"] == {"node": None}
            assert code(body) == expected
        # A file's permission depends on its entity, known only once it is found: it answers
        # like a file that does not exist (tests/test_file_serving.py).
        file_id = to_global_id("StoredFile", contact.avatar_id)  # type: ignore[arg-type]
        assert await caller(query, id=file_id) == {"data": {"node": None}}
    body = await albums_only(query, id=to_global_id("Contact", contact.id))
    assert body["data"]["node"]["name"] == "Hidden Person"  # viewer holds contacts.read


async def test_users_see_themselves_but_not_others(app: Starlette, anon: GraphQLClient) -> None:
    await user_token(app, "other", "viewer")
    me = anon.as_user(await user_token(app, "me-myself", "viewer"))
    my_id = (await me.data("{ me { id } }"))["me"]["id"]
    others = await anon.as_user(await user_token(app, "admin-x", "admin")).data(
        '{ users(filter: {search: "other"}) { nodes { id } } }'
    )
    other_id = others["users"]["nodes"][0]["id"]
    query = "query($id: ID!) { user(id: $id) { username } node(id: $id) { id } }"
    assert (await me.data(query, id=my_id))["user"] == {"username": "me-myself"}
    body = await me(query, id=other_id)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    assert body["data"] == {"user": None, "node": None}


async def test_role_changes_apply_on_the_next_request(
    app: Starlette, gql: GraphQLClient, anon: GraphQLClient
) -> None:
    user = anon.as_user(await user_token(app, "promoted", "viewer"))
    create = WRITES["createContact"]
    assert code(await user(create)) == "FORBIDDEN"

    roles = (await gql.data("{ roles { nodes { id name } } }"))["roles"]["nodes"]
    role_id = {r["name"]: r["id"] for r in roles}
    users = await gql.data('{ users(filter: {search: "promoted"}) { nodes { id } } }')
    user_id = users["users"]["nodes"][0]["id"]
    assigned = await gql.data(
        "mutation($u: ID!, $r: [ID!]!) { assignRoles(input: {userId: $u, roleIds: $r}) "
        "{ user { roles { name } } userErrors { code } } }",
        u=user_id,
        r=[role_id["editor"]],
    )
    assert assigned["assignRoles"]["user"]["roles"] == [{"name": "editor"}]
    assert "errors" not in await user(create)

    narrowed = await gql.data(
        'mutation($id: ID!) { updateRole(input: {id: $id, scopes: ["contacts.read"]}) '
        "{ role { scopes } userErrors { code } } }",
        id=role_id["editor"],
    )
    assert narrowed["updateRole"]["role"]["scopes"] == ["contacts.read"]
    assert code(await user(create)) == "FORBIDDEN"


async def test_invalid_token_is_unauthenticated(anon: GraphQLClient) -> None:
    body = await anon.as_user("not-a-real-token")("{ contacts { totalCount } }")
    assert code(body) == "UNAUTHENTICATED"
    assert "sign in again" in body["errors"][0]["message"]


@pytest.fixture
async def open_app(backend_settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(backend_settings.model_copy(update={"anonymous_read": True}))
    yield application
    await application.state.services.close()


async def test_anonymous_read_option_lets_anyone_read_but_not_write(
    open_app: Starlette, app: Starlette
) -> None:
    await contact_with_avatar(app, "Public Person")
    transport = httpx.ASGITransport(app=open_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        public = GraphQLClient(http)
        listed = await public.data("{ contacts { nodes { name avatar { filename } } } }")
        assert listed["contacts"]["nodes"] == [
            {"name": "Public Person", "avatar": {"filename": "Public Person.png"}}
        ]
        assert code(await public(WRITES["createContact"])) == "UNAUTHENTICATED"
        assert code(await public(READS["users"])) == "UNAUTHENTICATED"


def test_anonymous_read_defaults_on_embedded_and_off_in_production() -> None:
    from app.config import load_settings

    assert load_settings(database_url="").allows_anonymous_read is True
    assert load_settings(database_url="postgresql://u@h/d").allows_anonymous_read is False
    assert load_settings(database_url="", anonymous_read=False).allows_anonymous_read is False
