"""Regressions found in review: rate-limit bypasses, races, leaks, and 500s on bad input."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets
from starlette.applications import Starlette
from websockets.typing import Subprotocol

from app.auth.roles import create_role
from schema.ids import to_global_id
from tests.conftest import PASSWORD, GraphQLClient, user_token
from tests.factories import album_with_photos, contact_with_avatar

LOGIN = """
mutation($u: String!, $p: String!) {
  login(input: {username: $u, password: $p}) { token userErrors { code } }
}
"""


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_username_spellings_share_one_rate_limit(app: Starlette, anon: GraphQLClient) -> None:
    await user_token(app, "alice", "viewer")
    limit = app.state.settings.login_max_failures_per_user
    spellings = ["alice", " alice", "alice ", "ALICE", "\talice", "Alice\n"]
    for i in range(limit):
        body = await anon(LOGIN, u=spellings[i % len(spellings)], p="wrong wrong wrong")
        assert body["data"]["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    for spelling in spellings:
        assert codes(await anon(LOGIN, u=spelling, p=PASSWORD)) == ["RATE_LIMITED"]


async def test_concurrent_guesses_cannot_exceed_the_limit(
    app: Starlette, anon: GraphQLClient
) -> None:
    await user_token(app, "bob", "viewer")
    limit = app.state.settings.login_max_failures_per_user
    bodies = await asyncio.gather(*(anon(LOGIN, u="bob", p=f"guess {i:04d}") for i in range(30)))
    checked = [b for b in bodies if "errors" not in b]
    assert len(checked) <= limit
    assert all(codes(b) == ["RATE_LIMITED"] for b in bodies if "errors" in b)


async def test_write_scope_implies_read_so_nothing_leaks_through_mutations(
    app: Starlette, anon: GraphQLClient
) -> None:
    async with app.state.db.session() as session:
        await create_role(session, {"name": "writer", "scopes": ["contacts.write"]})
    writer = anon.as_user(await user_token(app, "writer1", "writer"))
    created = await writer.data('mutation { createContact(input: {name: "W"}) { contact { id } } }')
    assert created["createContact"]["contact"]["id"]
    assert (await writer.data("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 1
    assert codes(await writer("{ albums { totalCount } }")) == ["FORBIDDEN"]


async def test_concurrent_case_variants_create_one_user(app: Starlette, gql: GraphQLClient) -> None:
    create = (
        "mutation($u: String!, $p: String!) { createUser(input: {username: $u, password: $p}) "
        "{ user { id } userErrors { code } } }"
    )
    bodies = await asyncio.gather(
        *(gql(create, u=name, p=PASSWORD) for name in ("Carol1", "carol1", "CAROL1", "cArOl1"))
    )
    assert all("errors" not in b for b in bodies), bodies
    outcomes = sorted(
        "created"
        if b["data"]["createUser"]["user"]
        else b["data"]["createUser"]["userErrors"][0]["code"]
        for b in bodies
    )
    assert outcomes == ["TAKEN", "TAKEN", "TAKEN", "created"]


async def test_nodes_ids_count_toward_the_node_limit(app: Starlette, gql: GraphQLClient) -> None:
    ids = [to_global_id("Album", uuid.uuid4()) for _ in range(100)]
    aliases = " ".join(
        f"a{i}: nodes(ids: $ids) {{ ... on Album {{ photos(first: 100) {{ totalCount }} }} }}"
        for i in range(2)
    )
    body = await gql(f"query($ids: [ID!]!) {{ {aliases} }}", ids=ids)
    assert codes(body) == ["QUERY_TOO_COMPLEX"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($s: String) { contacts(filter: {search: $s}) { totalCount } }", {"s": "a\x00b"}),
        (
            "query($d: DateTime) { contacts(filter: {createdSince: $d}) { totalCount } }",
            {"d": "0001-01-01T00:00:00+01:00"},
        ),
        (
            "query($d: DateTime) { contacts(filter: {createdBefore: $d}) { totalCount } }",
            {"d": "9999-12-31T23:59:59-05:00"},
        ),
        ("query($c: String) { contacts(after: $c) { nodes { id } } }", {"c": "W" * 5000}),
    ],
)
async def test_hostile_input_is_bad_user_input_not_500(
    gql: GraphQLClient, query: str, variables: dict[str, str]
) -> None:
    body = await gql(query, **variables)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_deeply_nested_cursor_is_bad_user_input(gql: GraphQLClient) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(b"[" * 900).decode().rstrip("=")
    body = await gql("query($c: String) { contacts(after: $c) { nodes { id } } }", c=cursor)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_nul_in_login_is_invalid_credentials(app: Starlette, anon: GraphQLClient) -> None:
    body = await anon(LOGIN, u="ali\x00ce", p=PASSWORD)
    assert body["data"]["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_first_zero_still_tells_whether_more_exist(
    app: Starlette, gql: GraphQLClient
) -> None:
    await contact_with_avatar(app, "Someone")
    album = await album_with_photos(app, "Zero", 2)
    page = await gql.data("{ contacts(first: 0) { edges { cursor } pageInfo { hasNextPage } } }")
    assert page["contacts"] == {"edges": [], "pageInfo": {"hasNextPage": True}}
    photos = await gql.data(
        "query($id: ID!) { album(id: $id) { photos(first: 0) { pageInfo { hasNextPage } } } }",
        id=to_global_id("Album", album.id),
    )
    assert photos["album"]["photos"]["pageInfo"]["hasNextPage"] is True


async def test_password_changes_end_sessions(
    app: Starlette, anon: GraphQLClient, gql: GraphQLClient
) -> None:
    token = await user_token(app, "changing", "viewer")
    me = anon.as_user(token)
    wrong = await me.data(
        'mutation { changeMyPassword(input: {currentPassword: "nope nope nope", '
        'newPassword: "a whole new password"}) { token userErrors { field code } } }'
    )
    assert wrong["changeMyPassword"] == {
        "token": None,
        "userErrors": [{"field": "currentPassword", "code": "INVALID_CREDENTIALS"}],
    }
    changed = await me.data(
        'mutation { changeMyPassword(input: {currentPassword: "' + PASSWORD + '", '
        'newPassword: "a whole new password"}) { token userErrors { code } } }'
    )
    new_token = changed["changeMyPassword"]["token"]
    assert new_token and new_token != token
    assert codes(await me("{ me { username } }")) == ["UNAUTHENTICATED"]
    assert (await anon.as_user(new_token).data("{ me { username } }"))["me"][
        "username"
    ] == "changing"

    user_id = (await gql.data('{ users(filter: {search: "changing"}) { nodes { id } } }'))["users"][
        "nodes"
    ][0]["id"]
    await gql.data(
        'mutation($id: ID!) { setUserPassword(input: {id: $id, password: "reset by the admin"}) '
        "{ userErrors { code } } }",
        id=user_id,
    )
    assert codes(await anon.as_user(new_token)("{ me { username } }")) == ["UNAUTHENTICATED"]


async def test_websocket_frames_are_text_and_operations_do_not_share_loaders(
    live_stack: tuple[str, dict[str, str]],
) -> None:
    base, env = live_stack
    from tests.conftest import run_cli

    username = f"ws-{uuid.uuid4().hex[:8]}"
    assert (
        run_cli(
            env, "createuser", username, "--admin", "--password-stdin", stdin=PASSWORD
        ).returncode
        == 0
    )
    async with httpx.AsyncClient(base_url=base) as http:
        token = (
            await http.post(
                "/graphql", json={"query": LOGIN, "variables": {"u": username, "p": PASSWORD}}
            )
        ).json()["data"]["login"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = (
            await http.post(
                "/graphql",
                headers=headers,
                json={
                    "query": 'mutation { createContact(input: {name: "Old"}) { contact { id } } }'
                },
            )
        ).json()
        contact_id = created["data"]["createContact"]["contact"]["id"]
        query = {
            "query": "query($id: ID!) { contact(id: $id) { name } }",
            "variables": {"id": contact_id},
        }
        url = base.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(
            url, subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
            ack = await socket.recv()
            assert isinstance(ack, str)  # a text frame: browsers' graphql-ws drops binary ones

            async def name(operation_id: str) -> str:
                await socket.send(
                    json.dumps({"id": operation_id, "type": "subscribe", "payload": query})
                )
                message = await socket.recv()
                assert isinstance(message, str)
                result: str = json.loads(message)["payload"]["data"]["contact"]["name"]
                assert json.loads(await socket.recv())["type"] == "complete"
                return result

            assert await name("1") == "Old"
            await http.post(
                "/graphql",
                headers=headers,
                json={
                    "query": "mutation($id: ID!) "
                    '{ updateContact(input: {id: $id, name: "New"}) { contact { name } } }',
                    "variables": {"id": contact_id},
                },
            )
            assert await name("2") == "New"
