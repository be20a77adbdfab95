"""Which GraphQL fields the compiled read path can answer, and the columns behind them.

Only what is listed here compiles; any other field sends the whole operation down the normal
resolvers. Each entry must produce exactly what the resolver in ``schema.types`` produces -
the differential test (tests/test_compiled_reads.py) holds the two paths to that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from app.auth.scopes import ALBUMS_READ, CONTACTS_READ
from app.db.models import Album, Contact, Photo, StoredFile
from app.db.paging import SortKey
from app.services.albums import ALBUM_SORTS, PHOTO_SORTS, AlbumOrder, PhotoOrder
from app.services.contacts import CONTACT_SORTS, ContactOrder
from app.storage.entities import ENTITIES


class Value(StrEnum):
    """How a column becomes a JSON value."""

    PLAIN = "plain"  # text, integers, null: PostgreSQL's JSON is GraphQL's
    DATETIME = "datetime"  # Python's isoformat() in UTC
    GLOBAL_ID = "global_id"  # base64("Type:uuid")
    FILE_URL = "file_url"  # signed after the statement, in Python (see markers.py)


@dataclass(frozen=True)
class Column:
    name: str
    value: Value = Value.PLAIN


@dataclass(frozen=True)
class ToOne:
    """A nullable reference from the parent's ``column`` to the target's id."""

    target: str
    column: str
    scopes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Listing:
    """A cursor connection over the target's rows (children of the parent when ``parent``)."""

    target: str
    sorts: Mapping[Any, SortKey]
    orders: type[Enum]
    default_order: Enum
    parent: str | None = None  # the child's column holding the parent's id


@dataclass(frozen=True)
class Count:
    table: str
    parent: str


@dataclass(frozen=True)
class TableType:
    name: str
    table: str
    columns: Mapping[str, Column]
    to_one: Mapping[str, ToOne] = field(default_factory=dict)
    listings: Mapping[str, Listing] = field(default_factory=dict)
    counts: Mapping[str, Count] = field(default_factory=dict)


_ID = Column("id", Value.GLOBAL_ID)

_CREATED = Column("created_at", Value.DATETIME)
_UPDATED = Column("updated_at", Value.DATETIME)

PHOTOS = Listing("Photo", PHOTO_SORTS, PhotoOrder, PhotoOrder.SORT_ASC, parent="album_id")

TYPES: dict[str, TableType] = {
    "Contact": TableType(
        "Contact",
        Contact.__tablename__,
        {
            "id": _ID,
            "name": Column("name"),
            "email": Column("email"),
            "phone": Column("phone"),
            "notes": Column("notes"),
            "createdAt": _CREATED,
            "updatedAt": _UPDATED,
        },
        to_one={"avatar": ToOne("StoredFile", "avatar_id", ENTITIES["contacts.avatar"].readable)},
    ),
    "Album": TableType(
        "Album",
        Album.__tablename__,
        {
            "id": _ID,
            "title": Column("title"),
            "description": Column("description"),
            "createdAt": _CREATED,
            "updatedAt": _UPDATED,
        },
        listings={"photos": PHOTOS},
        counts={"photoCount": Count(Photo.__tablename__, "album_id")},
    ),
    "Photo": TableType(
        "Photo",
        Photo.__tablename__,
        {
            "id": _ID,
            "caption": Column("caption"),
            "sort": Column("sort"),
            "createdAt": _CREATED,
        },
        to_one={
            "file": ToOne("StoredFile", "file_id", ENTITIES["albums.photos"].readable),
            "album": ToOne("Album", "album_id"),
        },
    ),
    "StoredFile": TableType(
        "StoredFile",
        StoredFile.__tablename__,
        {
            "id": _ID,
            "entity": Column("entity"),
            "filename": Column("filename"),
            "contentType": Column("content_type"),
            "size": Column("size"),
            "sha256": Column("sha256"),
            "width": Column("width"),
            "height": Column("height"),
            "createdAt": _CREATED,
            "url": Column("filename", Value.FILE_URL),
        },
    ),
}


@dataclass(frozen=True)
class RootObject:
    target: str
    scope: str


@dataclass(frozen=True)
class RootListing:
    listing: Listing
    scope: str


ROOT_OBJECTS = {
    "contact": RootObject("Contact", CONTACTS_READ),
    "album": RootObject("Album", ALBUMS_READ),
}
ROOT_LISTINGS = {
    "contacts": RootListing(
        Listing("Contact", CONTACT_SORTS, ContactOrder, ContactOrder.NAME_ASC), CONTACTS_READ
    ),
    "albums": RootListing(
        Listing("Album", ALBUM_SORTS, AlbumOrder, AlbumOrder.TITLE_ASC), ALBUMS_READ
    ),
}


def column_name(sort_column: Any) -> str:
    """The SQL name of a SortKey's column (an ORM attribute)."""
    name: str = sort_column.property.columns[0].name
    return name
