"""Contacts over GraphQL: create, update, delete, list, filter, order, page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GraphQLClient

CREATE = """
mutation Create($input: CreateContactInput!) {
  createContact(input: $input) {
    contact { id name email phone notes createdAt updatedAt avatar { id } }
    userErrors { field message code }
  }
}
"""
UPDATE = """
mutation Update($input: UpdateContactInput!) {
  updateContact(input: $input) {
    contact { id name email phone notes }
    userErrors { field message code }
  }
}
"""
DELETE = """
mutation Delete($input: DeleteContactInput!) {
  deleteContact(input: $input) { deletedContactId userErrors { field message code } }
}
"""
LIST = """
query List($first: Int, $after: String, $last: Int, $before: String,
           $filter: ContactFilterInput, $orderBy: ContactOrder! = NAME_ASC) {
  contacts(first: $first, after: $after, last: $last, before: $before,
           filter: $filter, orderBy: $orderBy) {
    totalCount
    edges { cursor node { id name email } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def create(gql: GraphQLClient, **fields: object) -> dict[str, object]:
    payload = (await gql.data(CREATE, input=fields))["createContact"]
    assert payload["userErrors"] == [], payload
    contact: dict[str, object] = payload["contact"]
    return contact


def names(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


async def test_create_then_list_round_trips(gql: GraphQLClient) -> None:
    created = await create(
        gql, name="  Ada Lovelace ", email="ada@example.com", phone="+44 20 7946 0000"
    )
    assert created["name"] == "Ada Lovelace"
    assert created["avatar"] is None
    assert str(created["createdAt"]).endswith("+00:00")

    listed = (await gql.data(LIST))["contacts"]
    assert listed["totalCount"] == 1
    assert listed["edges"][0]["node"] == {
        "id": created["id"],
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": ""}, [("name", "REQUIRED")]),
        ({"name": "   "}, [("name", "REQUIRED")]),
        ({"name": "x" * 201}, [("name", "TOO_LONG")]),
        ({"name": "Bob", "email": "not-an-email"}, [("email", "INVALID_EMAIL")]),
        ({"name": "Bob", "phone": "call me"}, [("phone", "INVALID_PHONE")]),
        ({"name": "Bob\x00"}, [("name", "INVALID_VALUE")]),
        ({"name": "", "email": "@"}, [("name", "REQUIRED"), ("email", "INVALID_EMAIL")]),
    ],
)
async def test_create_refuses_bad_fields_and_writes_nothing(
    gql: GraphQLClient, fields: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    payload = (await gql.data(CREATE, input=fields))["createContact"]
    assert payload["contact"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == expected
    assert all(e["message"] for e in payload["userErrors"])
    assert (await gql.data(LIST))["contacts"]["totalCount"] == 0


async def test_update_changes_only_given_fields_and_null_clears(gql: GraphQLClient) -> None:
    contact = await create(gql, name="Grace", email="grace@example.com", notes="admiral")
    payload = (await gql.data(UPDATE, input={"id": contact["id"], "phone": "555-0100"}))[
        "updateContact"
    ]
    assert payload["userErrors"] == []
    assert payload["contact"]["email"] == "grace@example.com"
    assert payload["contact"]["phone"] == "555-0100"

    payload = (await gql.data(UPDATE, input={"id": contact["id"], "email": None}))["updateContact"]
    assert payload["contact"]["email"] is None
    assert payload["contact"]["notes"] == "admiral"


async def test_update_refuses_clearing_the_name(gql: GraphQLClient) -> None:
    contact = await create(gql, name="Grace")
    payload = (await gql.data(UPDATE, input={"id": contact["id"], "name": None}))["updateContact"]
    assert payload["contact"] is None
    assert payload["userErrors"][0]["code"] == "REQUIRED"
    listed = (await gql.data(LIST))["contacts"]
    assert names(listed) == ["Grace"]


async def test_update_and_delete_of_a_missing_contact_say_not_found(gql: GraphQLClient) -> None:
    contact = await create(gql, name="Temp")
    deleted = (await gql.data(DELETE, input={"id": contact["id"]}))["deleteContact"]
    assert deleted == {"deletedContactId": contact["id"], "userErrors": []}

    again = (await gql.data(DELETE, input={"id": contact["id"]}))["deleteContact"]
    assert again["deletedContactId"] is None
    assert again["userErrors"][0]["code"] == "NOT_FOUND"
    update = (await gql.data(UPDATE, input={"id": contact["id"], "name": "X"}))["updateContact"]
    assert update["userErrors"][0] == {
        "field": "id",
        "message": "the contact does not exist",
        "code": "NOT_FOUND",
    }


async def test_search_matches_name_or_email_and_takes_wildcards_literally(
    gql: GraphQLClient,
) -> None:
    await create(gql, name="Alice", email="alice@example.com")
    await create(gql, name="Bob 100%", email="bob@example.org")
    await create(gql, name="Carol_x", email="carol@example.net")
    await create(gql, name="Dave", email="d@EXAMPLE.org")

    async def search(term: str) -> list[str]:
        return names((await gql.data(LIST, filter={"search": term}))["contacts"])

    assert await search("ALI") == ["Alice"]
    assert await search("example.org") == ["Bob 100%", "Dave"]
    assert await search("%") == ["Bob 100%"]
    assert await search("_") == ["Carol_x"]
    assert await search("r_l") == []  # "_" would match the "o" of Carol
    assert await search("\\") == []


async def test_created_range_is_inclusive_exclusive(gql: GraphQLClient) -> None:
    first = await create(gql, name="First")
    await create(gql, name="Second")
    since = first["createdAt"]
    listed = (await gql.data(LIST, filter={"createdSince": since}))["contacts"]
    assert names(listed) == ["First", "Second"]
    listed = (await gql.data(LIST, filter={"createdBefore": since}))["contacts"]
    assert names(listed) == []


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("NAME_ASC", ["amy", "bea", "bea", "cid"]),
        ("NAME_DESC", ["cid", "bea", "bea", "amy"]),
        ("CREATED_AT_ASC", ["bea", "cid", "amy", "bea"]),
        ("CREATED_AT_DESC", ["bea", "amy", "cid", "bea"]),
    ],
)
async def test_orderings(gql: GraphQLClient, order: str, expected: list[str]) -> None:
    for name in ("bea", "cid", "amy", "bea"):
        await create(gql, name=name)
    listed = (await gql.data(LIST, orderBy=order))["contacts"]
    assert names(listed) == expected


@pytest.mark.parametrize("order", ["NAME_ASC", "NAME_DESC", "CREATED_AT_ASC", "CREATED_AT_DESC"])
async def test_paging_forward_and_backward_visits_every_contact_once(
    gql: GraphQLClient, order: str
) -> None:
    for i in range(7):
        await create(gql, name=f"same-{i % 3}")  # duplicates exercise the id tie-break
    everything = [
        e["node"]["id"] for e in (await gql.data(LIST, orderBy=order))["contacts"]["edges"]
    ]
    assert len(everything) == 7

    seen: list[str] = []
    after = None
    while True:
        page = (await gql.data(LIST, first=3, after=after, orderBy=order))["contacts"]
        seen += [e["node"]["id"] for e in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == everything

    seen = []
    before = None
    while True:
        page = (await gql.data(LIST, last=3, before=before, orderBy=order))["contacts"]
        seen = [e["node"]["id"] for e in page["edges"]] + seen
        assert page["pageInfo"]["hasNextPage"] is (before is not None)
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert seen == everything


async def test_cursor_survives_inserts_before_it(gql: GraphQLClient) -> None:
    for name in ("b", "c", "d"):
        await create(gql, name=name)
    page = (await gql.data(LIST, first=2))["contacts"]
    assert names(page) == ["b", "c"]
    await create(gql, name="a")  # lands before the cursor: an offset would repeat "c"
    following = (await gql.data(LIST, first=2, after=page["pageInfo"]["endCursor"]))["contacts"]
    assert names(following) == ["d"]


async def test_empty_list_has_no_cursors(gql: GraphQLClient) -> None:
    page = (await gql.data(LIST, first=0))["contacts"]
    assert page["edges"] == []
    assert page["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"first": 101}, "must not exceed 100"),
        ({"last": 1000}, "must not exceed 100"),
        ({"first": -1}, "must not be negative"),
        ({"first": 1, "last": 1}, "either first or last"),
        ({"after": "not-a-cursor"}, "not one this server issued"),
        ({"after": "WyJOQU1FX0FTQyJd"}, "not one this server issued"),
    ],
)
async def test_bad_page_arguments_are_bad_user_input(
    gql: GraphQLClient, arguments: dict[str, object], message: str
) -> None:
    await create(gql, name="someone")
    body = await gql(LIST, **arguments)
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert message in error["message"]


async def test_cursor_of_another_ordering_is_refused(gql: GraphQLClient) -> None:
    await create(gql, name="someone")
    cursor = (await gql.data(LIST, first=1))["contacts"]["pageInfo"]["endCursor"]
    body = await gql(LIST, after=cursor, orderBy="CREATED_AT_DESC")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "another ordering" in body["errors"][0]["message"]


async def test_default_page_size_applies_without_first(gql: GraphQLClient) -> None:
    for i in range(22):
        await create(gql, name=f"c{i:02d}")
    page = (await gql.data(LIST))["contacts"]
    assert len(page["edges"]) == 20
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == 22
