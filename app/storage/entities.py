"""Storage entities: named buckets of files, each with its own permission scopes.

``requires`` are the scopes needed to upload, replace or delete; ``readable`` the scopes needed
to download (empty means anyone signed in or not). Upload limits join these with the uploads.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from app.auth.scopes import ALBUMS_READ, ALBUMS_WRITE, CONTACTS_READ, CONTACTS_WRITE


@dataclass(frozen=True, slots=True)
class StorageEntity:
    name: str
    requires: frozenset[str]
    readable: frozenset[str]
    images_only: bool = True
    #: Users may read their own files of this entity whatever ``readable`` says.
    owner_readable: bool = False


ENTITIES: MappingProxyType[str, StorageEntity] = MappingProxyType(
    {
        e.name: e
        for e in (
            StorageEntity(
                "contacts.avatar", frozenset({CONTACTS_WRITE}), frozenset({CONTACTS_READ})
            ),
            StorageEntity("albums.photos", frozenset({ALBUMS_WRITE}), frozenset({ALBUMS_READ})),
            StorageEntity("users.avatar", frozenset(), frozenset(), owner_readable=True),
        )
    }
)
