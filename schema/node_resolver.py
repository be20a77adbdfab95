"""Resolve any global id to its object (Relay's ``node`` field), with the same permission
checks as the type's own root field, so ``node`` is never a side door."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from app.auth.scopes import USERS_ADMIN
from app.auth.viewer import Viewer
from app.storage.entities import ENTITIES
from schema.context import Context
from schema.declarations import NODE_SCOPES
from schema.errors import BadUserInput
from schema.ids import parse_global_id
from schema.permissions import require_scope, require_viewer
from schema.types.album import Album
from schema.types.contact import Contact
from schema.types.node import Node
from schema.types.photo import Photo
from schema.types.stored_file import StoredFile
from schema.types.user import Role, User


def may_read_file(viewer: Viewer, entity_name: str, uploaded_by: Any) -> bool:
    entity = ENTITIES.get(entity_name)
    if entity is None:
        return False
    if entity.owner_readable and viewer.user_id is not None and viewer.user_id == uploaded_by:
        return True
    return entity.readable <= viewer.scopes


async def require_self_or_admin(context: Context, user_id: uuid.UUID) -> Viewer:
    """Users see themselves; seeing anyone else takes users.admin."""
    viewer = await require_viewer(context)
    if viewer.user_id != user_id:
        await require_scope(context, USERS_ADMIN)
    return viewer


def _resolvers(context: Context) -> dict[str, tuple[Any, Callable[[Any], Node]]]:
    loaders = context.loaders
    return {
        "Contact": (loaders.contact, Contact.from_row),
        "Album": (loaders.album, Album.from_row),
        "Photo": (loaders.photo, Photo.from_row),
        "StoredFile": (loaders.file, StoredFile.from_row),
        "User": (loaders.user, User.from_row),
        "Role": (loaders.role, Role.from_row),
    }


async def resolve_node(context: Context, global_id: str) -> Node | None:
    type_name, key = parse_global_id(global_id)
    entry = _resolvers(context).get(type_name)
    if entry is None:
        raise BadUserInput(f"{global_id!r} is not the id of any object type")
    scope = NODE_SCOPES.get(type_name)
    if scope is not None:
        await require_scope(context, scope)
    elif type_name == "User":
        await require_self_or_admin(context, key)
    loader, to_node = entry
    load: Callable[[Any], Awaitable[Any]] = loader.load
    row = await load(key)
    if row is None:
        return None
    if type_name == "StoredFile" and not may_read_file(
        await context.viewer(), row.entity, row.uploaded_by_id
    ):
        # A file's permission depends on its entity, known only from its row: answering
        # FORBIDDEN here and null for a missing id would say which ids exist.
        return None
    return to_node(row)
