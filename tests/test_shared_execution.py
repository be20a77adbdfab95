"""One execution per event and shape, over real websockets on both stacks: subscribers with the
same operation, variables and scopes share one execution; a viewer whose scopes differ gets an
execution of its own (what it may see is never decided by someone else's scopes); a viewer who
loses a scope stops receiving while the others go on."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.conftest import PASSWORD
from tests.test_subscriptions import Stack, connected, login, receive, subscribe
from tests.test_subscriptions import stack as stack  # the fixture

#: viewerCanEdit depends on the viewer's scopes: the result must not be shared across them.
ALBUM_WITH_RIGHTS = """
subscription($id: ID!) {
  albumChanged(id: $id) { kind album { title viewerCanEdit } photos { caption } }
}
"""
UPDATE_ALBUM = (
    "mutation($id: ID!, $t: String!) { updateAlbum(input: {id: $id, title: $t}) { album { id } } }"
)


async def counters(base: str) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=base) as http:
        text = (await http.get("/metrics")).text
    names = {
        "contentgraph_subscription_executions_total": "executed",
        "contentgraph_subscription_results_shared_total": "shared",
    }
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in names:
            found[names[name]] = int(float(value))
    return found


async def reader_with(stack: Stack, *scopes: str) -> tuple[str, str]:
    """A user whose one role holds ``scopes``, signed in: (token, role id)."""
    suffix = uuid.uuid4().hex[:8]
    role = (
        await stack.gql(
            "mutation($n: String!, $s: [String!]!) { createRole(input: {name: $n, scopes: $s}) "
            "{ role { id } } }",
            n=f"readers-{suffix}",
            s=list(scopes),
        )
    )["createRole"]["role"]["id"]
    username = f"reader-{suffix}"
    user = (
        await stack.gql(
            "mutation($u: String!, $p: String!) { createUser(input: {username: $u, password: $p})"
            " { user { id } } }",
            u=username,
            p=PASSWORD,
        )
    )["createUser"]["user"]["id"]
    await stack.gql(
        "mutation($u: ID!, $r: [ID!]!) { assignRoles(input: {userId: $u, roleIds: $r}) "
        "{ user { id } } }",
        u=user,
        r=[role],
    )
    async with httpx.AsyncClient(base_url=stack.base) as http:
        body = (
            await http.post(
                "/graphql",
                json={
                    "query": "mutation($u: String!, $p: String!) { login(input: {username: $u, "
                    "password: $p}) { token } }",
                    "variables": {"u": username, "p": PASSWORD},
                },
            )
        ).json()
    token: str = body["data"]["login"]["token"]
    return token, role


async def test_same_scopes_share_one_execution_and_other_scopes_get_their_own(
    stack: Stack,
) -> None:
    album = (
        await stack.gql('mutation { createAlbum(input: {title: "Shared"}) { album { id } } }')
    )["createAlbum"]["album"]["id"]
    second_admin = await login(stack.base, stack.env, "admin")
    reader, role = await reader_with(stack, "albums.read")
    tokens = [stack.token, second_admin, reader]
    async with (
        connected(stack.ws_url, tokens[0]) as first,
        connected(stack.ws_url, tokens[1]) as second,
        connected(stack.ws_url, tokens[2]) as third,
    ):
        sockets = [first, second, third]
        for socket in sockets:
            await subscribe(socket, "a", ALBUM_WITH_RIGHTS, id=album)
        before = await counters(stack.base)
        await stack.gql(UPDATE_ALBUM, id=album, t="Once")
        frames = [await receive(socket) for socket in sockets]
        after = await counters(stack.base)
        for frame in frames:
            assert frame["type"] == "next", frame
            assert frame["payload"]["data"]["albumChanged"]["album"]["title"] == "Once"
        # One shape, two frames: what each may do is its own.
        can_edit = [f["payload"]["data"]["albumChanged"]["album"]["viewerCanEdit"] for f in frames]
        assert can_edit == [True, True, False]
        # Two shapes: the admins' (executed once, then shared) and the reader's.
        assert after["executed"] - before["executed"] == 2
        assert after["shared"] - before["shared"] == 1

        # The reader's role loses albums.read: its stream ends, the admins' go on.
        await stack.gql(
            "mutation($id: ID!) { updateRole(input: {id: $id, scopes: []}) { role { id } } }",
            id=role,
        )
        await asyncio.sleep(1.2)  # a connection re-checks its viewer at most once a second
        await stack.gql(UPDATE_ALBUM, id=album, t="Twice")
        stopped = await receive(third)
        errors = stopped["payload"] if stopped["type"] == "error" else stopped["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
        for socket in (first, second):
            frame = await receive(socket)
            assert frame["payload"]["data"]["albumChanged"]["album"]["title"] == "Twice"
