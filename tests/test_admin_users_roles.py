"""Administering users and roles (users.admin)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from tests.conftest import PASSWORD, GraphQLClient, user_token

CREATE_USER = """
mutation($input: CreateUserInput!) {
  createUser(input: $input) {
    user { id username email displayName isLocked roles { name } scopes }
    userErrors { field code message }
  }
}
"""
CREATE_ROLE = """
mutation($input: CreateRoleInput!) {
  createRole(input: $input) { role { id name scopes } userErrors { field code message } }
}
"""


async def role_ids(gql: GraphQLClient) -> dict[str, str]:
    roles = (await gql.data("{ roles { nodes { id name } } }"))["roles"]["nodes"]
    return {r["name"]: r["id"] for r in roles}


async def test_seeded_roles_and_scope_registry(gql: GraphQLClient) -> None:
    data = await gql.data("{ roles { nodes { name scopes } } scopes { name description } }")
    roles = {r["name"]: set(r["scopes"]) for r in data["roles"]["nodes"]}
    every = {s["name"] for s in data["scopes"]}
    assert set(roles) == {"admin", "editor", "viewer"}
    assert roles["admin"] == every
    assert roles["viewer"] == {"contacts.read", "albums.read"}
    assert {"contacts.write", "albums.write", "users.admin"} <= every


async def test_create_user_with_roles_then_log_in(gql: GraphQLClient, anon: GraphQLClient) -> None:
    ids = await role_ids(gql)
    payload = (
        await gql.data(
            CREATE_USER,
            input={
                "username": "newbie",
                "password": PASSWORD,
                "email": "newbie@example.com",
                "displayName": "New Bie",
                "roleIds": [ids["viewer"]],
            },
        )
    )["createUser"]
    assert payload["userErrors"] == []
    assert payload["user"]["roles"] == [{"name": "viewer"}]
    assert payload["user"]["scopes"] == ["albums.read", "contacts.read"]
    login = await anon.data(
        'mutation { login(input: {username: "newbie", password: "' + PASSWORD + '"}) { token } }'
    )
    assert login["login"]["token"]


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"username": "ab", "password": PASSWORD}, "username", "INVALID_VALUE"),
        ({"username": "has space", "password": PASSWORD}, "username", "INVALID_VALUE"),
        ({"username": "shorty", "password": "short"}, "password", "WEAK_PASSWORD"),
        ({"username": "samey", "password": "aaaaaaaaaaaa"}, "password", "WEAK_PASSWORD"),
        ({"username": "carol", "password": "carol-is-my-password"}, "password", "WEAK_PASSWORD"),
        ({"username": "mail", "password": PASSWORD, "email": "nope"}, "email", "INVALID_EMAIL"),
    ],
)
async def test_create_user_refusals(
    gql: GraphQLClient, fields: dict[str, str], field: str, code: str
) -> None:
    payload = (await gql.data(CREATE_USER, input=fields))["createUser"]
    assert payload["user"] is None
    assert (payload["userErrors"][0]["field"], payload["userErrors"][0]["code"]) == (field, code)


async def test_usernames_are_unique_case_insensitively(app: Starlette, gql: GraphQLClient) -> None:
    await user_token(app, "Taken")
    payload = (await gql.data(CREATE_USER, input={"username": "taken", "password": PASSWORD}))[
        "createUser"
    ]
    assert payload["userErrors"][0]["code"] == "TAKEN"


async def test_set_password_and_update_user(
    app: Starlette, gql: GraphQLClient, anon: GraphQLClient
) -> None:
    await user_token(app, "changer", "viewer")
    user_id = (await gql.data('{ users(filter: {search: "changer"}) { nodes { id } } }'))["users"][
        "nodes"
    ][0]["id"]
    weak = await gql.data(
        'mutation($id: ID!) { setUserPassword(input: {id: $id, password: "x"}) '
        "{ userErrors { code } } }",
        id=user_id,
    )
    assert weak["setUserPassword"]["userErrors"][0]["code"] == "WEAK_PASSWORD"
    await gql.data(
        'mutation($id: ID!) { setUserPassword(input: {id: $id, password: "a brand new secret"}) '
        "{ userErrors { code } } }",
        id=user_id,
    )
    login = await anon.data(
        'mutation { login(input: {username: "changer", password: "a brand new secret"}) { token } }'
    )
    assert login["login"]["token"]
    updated = await gql.data(
        'mutation($id: ID!) { updateUser(input: {id: $id, displayName: "Chang Er", email: null}) '
        "{ user { displayName email } userErrors { code } } }",
        id=user_id,
    )
    assert updated["updateUser"]["user"] == {"displayName": "Chang Er", "email": None}


async def test_role_validation_and_protection(gql: GraphQLClient) -> None:
    bad = (await gql.data(CREATE_ROLE, input={"name": "ops", "scopes": ["contacts.fly"]}))[
        "createRole"
    ]
    assert bad["userErrors"][0] == {
        "field": "scopes",
        "code": "INVALID_VALUE",
        "message": "unknown scopes: contacts.fly",
    }
    taken = (await gql.data(CREATE_ROLE, input={"name": "editor"}))["createRole"]
    assert taken["userErrors"][0]["code"] == "TAKEN"
    upper = (await gql.data(CREATE_ROLE, input={"name": "Editor"}))["createRole"]
    assert upper["userErrors"][0]["code"] == "INVALID_VALUE"
    created = (
        await gql.data(CREATE_ROLE, input={"name": "ops", "scopes": ["albums.read", "albums.read"]})
    )["createRole"]
    assert created["role"]["scopes"] == ["albums.read"]

    ids = await role_ids(gql)
    protected = await gql.data(
        "mutation($id: ID!) { updateRole(input: {id: $id, scopes: []}) { userErrors { code } } }",
        id=ids["admin"],
    )
    assert protected["updateRole"]["userErrors"][0]["code"] == "PROTECTED"
    refused = await gql.data(
        "mutation($id: ID!) { deleteRole(input: {id: $id}) { deletedRoleId userErrors { code } } }",
        id=ids["admin"],
    )
    assert refused["deleteRole"] == {"deletedRoleId": None, "userErrors": [{"code": "PROTECTED"}]}
    deleted = await gql.data(
        "mutation($id: ID!) { deleteRole(input: {id: $id}) { deletedRoleId userErrors { code } } }",
        id=ids["ops"],
    )
    assert deleted["deleteRole"] == {"deletedRoleId": ids["ops"], "userErrors": []}


async def test_assigning_an_unknown_role_changes_nothing(
    app: Starlette, gql: GraphQLClient
) -> None:
    import uuid

    from schema.ids import to_global_id

    await user_token(app, "keeps-roles", "viewer")
    user_id = (await gql.data('{ users(filter: {search: "keeps"}) { nodes { id } } }'))["users"][
        "nodes"
    ][0]["id"]
    payload = await gql.data(
        "mutation($u: ID!, $r: [ID!]!) { assignRoles(input: {userId: $u, roleIds: $r}) "
        "{ user { id } userErrors { field code } } }",
        u=user_id,
        r=[to_global_id("Role", uuid.uuid4())],
    )
    assert payload["assignRoles"] == {
        "user": None,
        "userErrors": [{"field": "roleIds", "code": "NOT_FOUND"}],
    }
    roles = await gql.data("query($id: ID!) { user(id: $id) { roles { name } } }", id=user_id)
    assert roles["user"]["roles"] == [{"name": "viewer"}]
