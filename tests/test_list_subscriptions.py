"""Lists that stay live, over real websockets on both stacks: contactsChanged and albumsChanged
deliver CREATED (which no per-object subscription can), UPDATED and DELETED, each with the
node as it is now and its edge - the cursor the list field itself gives that node, so a
client can insert it in place - and honour the list's filter."""

from __future__ import annotations

from typing import Any

from tests.test_subscriptions import Stack, connected, receive, subscribe
from tests.test_subscriptions import stack as stack  # the fixture

CONTACTS_CHANGED = """
subscription($filter: ContactFilterInput, $order: ContactOrder! = NAME_ASC) {
  contactsChanged(filter: $filter, orderBy: $order) {
    kind eventId contactId contact { name } edge { cursor node { id name } }
  }
}
"""
ALBUMS_CHANGED = """
subscription($order: AlbumOrder!) {
  albumsChanged(orderBy: $order) { kind albumId album { title photoCount } edge { cursor } }
}
"""


async def next_event(socket: Any, field: str) -> dict[str, Any]:
    message = await receive(socket)
    assert message["type"] == "next", message
    event: dict[str, Any] = message["payload"]["data"][field]
    return event


async def cursor_in_list(stack: Stack, field: str, node: str, order: str) -> str:
    data = await stack.gql(
        f"query($o: {'ContactOrder' if field == 'contacts' else 'AlbumOrder'}!) "
        f"{{ {field}(first: 100, orderBy: $o) {{ edges {{ cursor node {{ id }} }} }} }}",
        o=order,
    )
    cursor: str = next(e["cursor"] for e in data[field]["edges"] if e["node"]["id"] == node)
    return cursor


async def test_contacts_changed_keeps_a_list_live(stack: Stack) -> None:
    async with connected(stack.ws_url, stack.token) as socket:
        await subscribe(socket, "l", CONTACTS_CHANGED)
        created = (
            await stack.gql(
                'mutation { createContact(input: {name: "Newcomer"}) { contact { id } } }'
            )
        )["createContact"]["contact"]["id"]
        event = await next_event(socket, "contactsChanged")
        assert (event["kind"], event["contactId"]) == ("CREATED", created)
        assert event["edge"]["node"] == {"id": created, "name": "Newcomer"}
        assert event["edge"]["cursor"] == await cursor_in_list(
            stack, "contacts", created, "NAME_ASC"
        )

        await stack.gql(
            'mutation($id: ID!) { updateContact(input: {id: $id, name: "Renamed"}) '
            "{ contact { id } } }",
            id=created,
        )
        event = await next_event(socket, "contactsChanged")
        assert (event["kind"], event["contact"]) == ("UPDATED", {"name": "Renamed"})
        assert event["edge"]["cursor"] == await cursor_in_list(
            stack, "contacts", created, "NAME_ASC"
        )

        await stack.gql(
            "mutation($id: ID!) { deleteContact(input: {id: $id}) { deletedContactId } }",
            id=created,
        )
        event = await next_event(socket, "contactsChanged")
        assert event["kind"] == "DELETED"
        assert (event["contactId"], event["contact"], event["edge"]) == (created, None, None)


async def test_a_filtered_list_hears_only_its_rows_and_every_deletion(stack: Stack) -> None:
    create = "mutation($n: String!) { createContact(input: {name: $n}) { contact { id } } }"
    async with connected(stack.ws_url, stack.token) as socket:
        await subscribe(socket, "f", CONTACTS_CHANGED, filter={"search": "zeta"})
        outsider = (await stack.gql(create, n="Alpha Outsider"))["createContact"]["contact"]["id"]
        member = (await stack.gql(create, n="Zeta Member"))["createContact"]["contact"]["id"]
        event = await next_event(socket, "contactsChanged")  # not the outsider's
        assert (event["kind"], event["contactId"]) == ("CREATED", member)
        await stack.gql(
            "mutation($id: ID!) { deleteContact(input: {id: $id}) { deletedContactId } }",
            id=outsider,
        )
        event = await next_event(socket, "contactsChanged")
        assert (event["kind"], event["contactId"]) == ("DELETED", outsider)


async def test_albums_changed_gives_cursors_of_the_ordering_asked_for(stack: Stack) -> None:
    async with connected(stack.ws_url, stack.token) as socket:
        await subscribe(socket, "a", ALBUMS_CHANGED, order="CREATED_AT_DESC")
        album = (
            await stack.gql('mutation { createAlbum(input: {title: "Fresh"}) { album { id } } }')
        )["createAlbum"]["album"]["id"]
        event = await next_event(socket, "albumsChanged")
        assert (event["kind"], event["albumId"], event["album"]) == (
            "CREATED",
            album,
            {"title": "Fresh", "photoCount": 0},
        )
        assert event["edge"]["cursor"] == await cursor_in_list(
            stack, "albums", album, "CREATED_AT_DESC"
        )
