"""Relay global ids: node(id), nodes(ids), and what happens to ids that are not ours."""

from __future__ import annotations

import base64
import uuid

import pytest
from starlette.applications import Starlette

from schema.ids import to_global_id
from tests.conftest import GraphQLClient, StatementCounter
from tests.factories import album_with_photos, contact_with_avatar

NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Contact { name avatar { filename } }
    ... on Album { title }
    ... on Photo { caption }
  }
}
"""


async def test_node_resolves_every_type(app: Starlette, gql: GraphQLClient) -> None:
    contact = await contact_with_avatar(app, "Node Person")
    album = await album_with_photos(app, "Node Album", 1)
    contact_id = to_global_id("Contact", contact.id)
    found = (await gql.data(NODE, id=contact_id))["node"]
    assert found == {
        "__typename": "Contact",
        "id": contact_id,
        "name": "Node Person",
        "avatar": {"filename": "Node Person.png"},
    }
    found = (await gql.data(NODE, id=to_global_id("Album", album.id)))["node"]
    assert found["title"] == "Node Album"


async def test_global_ids_are_base64_of_type_and_uuid(gql: GraphQLClient) -> None:
    created = await gql.data('mutation { createContact(input: {name: "X"}) { contact { id } } }')
    raw = base64.b64decode(created["createContact"]["contact"]["id"]).decode()
    type_name, _, key = raw.partition(":")
    assert type_name == "Contact"
    uuid.UUID(key)


async def test_unknown_but_well_formed_id_is_null(gql: GraphQLClient) -> None:
    missing = to_global_id("Contact", uuid.uuid4())
    assert (await gql.data(NODE, id=missing)) == {"node": None}
    assert (await gql.data("query($id: ID!) { contact(id: $id) { id } }", id=missing)) == {
        "contact": None
    }


@pytest.mark.parametrize(
    "bad_id",
    [
        "nope",
        base64.b64encode(b"Contact:not-a-uuid").decode(),
        base64.b64encode(b"Spaceship:" + str(uuid.uuid4()).encode()).decode(),
        "",
    ],
)
async def test_malformed_ids_are_bad_user_input(gql: GraphQLClient, bad_id: str) -> None:
    body = await gql(NODE, id=bad_id)
    assert body["data"] == {"node": None}
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_id_of_another_type_is_refused(app: Starlette, gql: GraphQLClient) -> None:
    album = await album_with_photos(app, "Not a contact", 0)
    body = await gql(
        "query($id: ID!) { contact(id: $id) { id } }", id=to_global_id("Album", album.id)
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "expected the id of a Contact" in body["errors"][0]["message"]
    body = await gql(
        "mutation($id: ID!) { deleteAlbum(input: {id: $id}) { deletedAlbumId } }",
        id=to_global_id("Contact", uuid.uuid4()),
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_nodes_keeps_order_and_nulls(
    app: Starlette, gql: GraphQLClient, sql_counter: StatementCounter
) -> None:
    a = await contact_with_avatar(app, "A")
    b = await contact_with_avatar(app, "B")
    ids = [
        to_global_id("Contact", b.id),
        to_global_id("Contact", uuid.uuid4()),
        to_global_id("Contact", a.id),
    ]
    compiled = app.state.graphql.compiled
    answered = compiled.answered if compiled is not None else 0
    sql_counter.reset()
    data = await gql.data(
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Contact { name } } }", ids=ids
    )
    assert data["nodes"] == [{"name": "B"}, None, {"name": "A"}]
    # The viewer's grants, then one batch for all the ids - or, on PostgreSQL, the compiled
    # path's one statement (on its own connections, which this counter does not see).
    assert sql_counter.count == (1 if compiled is not None else 2)
    if compiled is not None:
        assert compiled.answered == answered + 1
