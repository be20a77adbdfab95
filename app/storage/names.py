"""The names of the storage entities, importable by anything - the settings included.

``app.storage.entities`` declares what each entity is, and it reads the settings; the settings
need the names to refuse limits for an entity that does not exist. Keeping the bare names here
(no imports) lets both see them without an import cycle.
"""

from __future__ import annotations

CONTACTS_AVATAR = "contacts.avatar"
ALBUMS_PHOTOS = "albums.photos"
USERS_AVATAR = "users.avatar"

ENTITY_NAMES: frozenset[str] = frozenset({CONTACTS_AVATAR, ALBUMS_PHOTOS, USERS_AVATAR})

#: The limits an entry of STORAGE_LIMITS may override (app.storage.entities.Limits).
LIMIT_KEYS: frozenset[str] = frozenset({"max_bytes", "max_files"})
