"""Resolve any global id to its object (Relay's ``node`` field), through the loaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from schema.context import Context
from schema.errors import BadUserInput
from schema.ids import parse_global_id
from schema.types.album import Album
from schema.types.contact import Contact
from schema.types.node import Node
from schema.types.photo import Photo
from schema.types.stored_file import StoredFile


def _resolvers(context: Context) -> dict[str, tuple[Any, Callable[[Any], Node]]]:
    loaders = context.loaders
    return {
        "Contact": (loaders.contact, Contact.from_row),
        "Album": (loaders.album, Album.from_row),
        "Photo": (loaders.photo, Photo.from_row),
        "StoredFile": (loaders.file, StoredFile.from_row),
    }


async def resolve_node(context: Context, global_id: str) -> Node | None:
    type_name, key = parse_global_id(global_id)
    entry = _resolvers(context).get(type_name)
    if entry is None:
        raise BadUserInput(f"{global_id!r} is not the id of any object type")
    loader, to_node = entry
    load: Callable[[Any], Awaitable[Any]] = loader.load
    row = await load(key)
    return to_node(row) if row is not None else None
