"""Storage entities: named buckets of files, each with its own permission scopes and limits.

``requires`` are the scopes needed to upload, replace or delete; ``readable`` the scopes needed
to download (empty means anyone, signed in or not). Limits come from the settings, per entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from app.auth.scopes import ALBUMS_READ, ALBUMS_WRITE, CONTACTS_READ, CONTACTS_WRITE
from app.config import Settings


@dataclass(frozen=True, slots=True)
class StorageEntity:
    name: str
    requires: frozenset[str]
    readable: frozenset[str]
    images_only: bool = True
    #: Users may always read their own files of this entity.
    owner_readable: bool = False

    @property
    def public(self) -> bool:
        return not self.readable


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_files: int


ENTITIES: MappingProxyType[str, StorageEntity] = MappingProxyType(
    {
        e.name: e
        for e in (
            StorageEntity(
                "contacts.avatar", frozenset({CONTACTS_WRITE}), frozenset({CONTACTS_READ})
            ),
            StorageEntity("albums.photos", frozenset({ALBUMS_WRITE}), frozenset({ALBUMS_READ})),
            # Users' pictures show next to their names everywhere: public, like most sites.
            StorageEntity("users.avatar", frozenset(), frozenset(), owner_readable=True),
        )
    }
)


def limits_for(settings: Settings, entity: str) -> Limits:
    override = settings.storage_limits.get(entity, {})
    return Limits(
        max_bytes=override.get("max_bytes", settings.upload_max_file_bytes),
        max_files=override.get("max_files", settings.upload_max_files),
    )
