"""Storage entities: named buckets of files, each with its own permission scopes and limits.

``requires`` are the scopes needed to upload, replace or delete; ``readable`` the scopes needed
to download (empty means anyone, signed in or not). Limits come from the settings, per entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from app.auth.scopes import ALBUMS_READ, ALBUMS_WRITE, CONTACTS_READ, CONTACTS_WRITE
from app.config import Settings
from app.storage.names import ALBUMS_PHOTOS, CONTACTS_AVATAR, USERS_AVATAR


@dataclass(frozen=True, slots=True)
class StorageEntity:
    name: str
    #: What it keeps, for people (the API's StorageEntity enum shows it).
    holds: str
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
    """What STORAGE_LIMITS may override per entity (its keys: app.storage.names.LIMIT_KEYS)."""

    max_bytes: int
    max_files: int


ENTITIES: MappingProxyType[str, StorageEntity] = MappingProxyType(
    {
        e.name: e
        for e in (
            StorageEntity(
                CONTACTS_AVATAR,
                "one picture per contact",
                frozenset({CONTACTS_WRITE}),
                frozenset({CONTACTS_READ}),
            ),
            StorageEntity(
                ALBUMS_PHOTOS,
                "the photos of the albums",
                frozenset({ALBUMS_WRITE}),
                frozenset({ALBUMS_READ}),
            ),
            # Users' pictures show next to their names everywhere: public, like most sites.
            StorageEntity(
                USERS_AVATAR,
                "one picture per user",
                frozenset(),
                frozenset(),
                owner_readable=True,
            ),
        )
    }
)


def limits_for(settings: Settings, entity: str) -> Limits:
    override = settings.storage_limits.get(entity, {})
    return Limits(
        max_bytes=override.get("max_bytes", settings.upload_max_file_bytes),
        max_files=override.get("max_files", settings.upload_max_files),
    )
