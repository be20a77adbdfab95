"""Concurrent writers queue instead of failing (SQLite needs BEGIN IMMEDIATE for that)."""

from __future__ import annotations

import asyncio

from tests.conftest import GraphQLClient

UPDATE = """
mutation($id: ID!, $notes: String) {
  updateContact(input: {id: $id, notes: $notes}) { contact { notes } userErrors { code } }
}
"""


async def test_concurrent_updates_of_one_contact_all_succeed(gql: GraphQLClient) -> None:
    created = await gql.data('mutation { createContact(input: {name: "C"}) { contact { id } } }')
    contact_id = created["createContact"]["contact"]["id"]
    results = await asyncio.gather(*(gql(UPDATE, id=contact_id, notes=str(i)) for i in range(30)))
    assert [r for r in results if "errors" in r] == []
    final = await gql.data("query($id: ID!) { contact(id: $id) { notes } }", id=contact_id)
    assert final["contact"]["notes"] in {str(i) for i in range(30)}


async def test_concurrent_creates_all_land(gql: GraphQLClient) -> None:
    create = "mutation($n: String!) { createContact(input: {name: $n}) { contact { id } } }"
    results = await asyncio.gather(*(gql(create, n=f"p{i}") for i in range(30)))
    assert [r for r in results if "errors" in r] == []
    assert (await gql.data("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 30
