"""What each readable field is, declared once: its column or relation, the scopes it needs,
a listing's orderings, default, statement and filter.

Both read paths are built from this: the resolvers (schema.queries, schema.node_resolver) take
their scopes, default orderings and statements from here, and the compiled read path
(schema.compiled) compiles exactly the fields listed here, to SQL made from the same
statements. tests/test_compiled_reads.py generates its operations from these declarations
and holds the two paths to the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, Table

from app.auth.roles import ROLE_SORTS, RoleOrder, roles_statement
from app.auth.scopes import ALBUMS_READ, CONTACTS_READ, USERS_ADMIN
from app.auth.users import USER_SORTS, UserOrder, users_statement
from app.db.models import Album, Base, Contact, Photo, Role, StoredFile, User, user_roles
from app.db.paging import SortKey
from app.db.queries import ROLE_LIST_ORDER
from app.services.albums import (
    ALBUM_SORTS,
    PHOTO_SORTS,
    AlbumOrder,
    PhotoOrder,
    albums_statement,
)
from app.services.contacts import CONTACT_SORTS, ContactOrder, contacts_statement
from app.services.search import ListFilter
from app.storage.entities import ENTITIES
from schema.filters import AlbumFilterInput, ContactFilterInput, ListFilterInput, UserFilterInput

OrderT = TypeVar("OrderT", bound=Enum)


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
class ToMany:
    """Rows linked through an association table (``through``: parent column, target column),
    listed in the target's ``order`` columns."""

    target: str
    through: Table
    parent_column: str
    target_column: str
    order: tuple[str, ...]


@dataclass(frozen=True)
class Listing(Generic[OrderT]):
    """A cursor connection over the target's rows (children of the parent when ``parent``)."""

    target: str
    sorts: Mapping[OrderT, SortKey]
    orders: type[OrderT]
    default_order: OrderT
    parent: str | None = None  # the child's column holding the parent's id


@dataclass(frozen=True)
class Count:
    model: type[Base]
    parent: str


@dataclass(frozen=True)
class TableType:
    name: str
    model: type[Base]
    columns: Mapping[str, Column]
    to_one: Mapping[str, ToOne] = field(default_factory=dict)
    listings: Mapping[str, Listing[Any]] = field(default_factory=dict)
    counts: Mapping[str, Count] = field(default_factory=dict)
    to_many: Mapping[str, ToMany] = field(default_factory=dict)


_ID = Column("id", Value.GLOBAL_ID)

_CREATED = Column("created_at", Value.DATETIME)
_UPDATED = Column("updated_at", Value.DATETIME)

#: A user's roles, by name (as app.db.queries.roles_of_users lists them).
USER_ROLES = ToMany("Role", user_roles, "user_id", "role_id", ROLE_LIST_ORDER)

PHOTOS = Listing("Photo", PHOTO_SORTS, PhotoOrder, PhotoOrder.SORT_ASC, parent="album_id")

TYPES: dict[str, TableType] = {
    "Contact": TableType(
        "Contact",
        Contact,
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
        Album,
        {
            "id": _ID,
            "title": Column("title"),
            "description": Column("description"),
            "createdAt": _CREATED,
            "updatedAt": _UPDATED,
        },
        listings={"photos": PHOTOS},
        counts={"photoCount": Count(Photo, "album_id")},
    ),
    "Photo": TableType(
        "Photo",
        Photo,
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
        StoredFile,
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
    "Role": TableType(
        "Role",
        Role,
        {
            "id": _ID,
            "name": Column("name"),
            "description": Column("description"),
            "scopes": Column("scopes"),  # a JSON array, in the row's order
            "createdAt": _CREATED,
            "updatedAt": _UPDATED,
        },
    ),
    "User": TableType(
        "User",
        User,
        {
            "id": _ID,
            "username": Column("username"),
            "email": Column("email"),
            "displayName": Column("display_name"),
            "isLocked": Column("is_locked"),
            "lastLoginAt": Column("last_login_at", Value.DATETIME),
            "createdAt": _CREATED,
            "updatedAt": _UPDATED,
        },
        to_one={"avatar": ToOne("StoredFile", "avatar_id", ENTITIES["users.avatar"].readable)},
        to_many={"roles": USER_ROLES},
    ),
}


#: The scope it takes to read an object of each type by id (its root field, node and nodes).
#: Types not listed have a rule of their own (schema.node_resolver): files by their entity,
#: users themselves or users.admin.
NODE_SCOPES: dict[str, str] = {
    "Contact": CONTACTS_READ,
    "Album": ALBUMS_READ,
    "Photo": ALBUMS_READ,
    "Role": USERS_ADMIN,
}


@dataclass(frozen=True)
class RootObject:
    """A root field fetching one object by its global id."""

    target: str

    @property
    def scope(self) -> str:
        return NODE_SCOPES[self.target]


@dataclass(frozen=True)
class RootListing(Generic[OrderT]):
    """A root connection: who may read it, its orderings, and the statement of its rows."""

    listing: Listing[OrderT]
    scope: str
    statement: Callable[[ListFilter], Select[Any]]
    filter_input: type[ListFilterInput] | None = None


#: Root fields answering the viewer's own object (null for anonymous callers).
VIEWER_OBJECTS = {"me": "User"}

CONTACT = RootObject("Contact")
ALBUM = RootObject("Album")
ROOT_OBJECTS = {"contact": CONTACT, "album": ALBUM}

CONTACTS = RootListing(
    Listing("Contact", CONTACT_SORTS, ContactOrder, ContactOrder.NAME_ASC),
    CONTACTS_READ,
    contacts_statement,
    ContactFilterInput,
)
ALBUMS = RootListing(
    Listing("Album", ALBUM_SORTS, AlbumOrder, AlbumOrder.TITLE_ASC),
    ALBUMS_READ,
    albums_statement,
    AlbumFilterInput,
)
USERS = RootListing(
    Listing("User", USER_SORTS, UserOrder, UserOrder.USERNAME_ASC),
    USERS_ADMIN,
    users_statement,
    UserFilterInput,
)
ROLES = RootListing(
    Listing("Role", ROLE_SORTS, RoleOrder, RoleOrder.NAME_ASC),
    USERS_ADMIN,
    lambda _criteria: roles_statement(),
)
#: Every root connection; the compiled path takes those whose target is in TYPES.
ROOT_LISTINGS: dict[str, RootListing[Any]] = {
    "contacts": CONTACTS,
    "albums": ALBUMS,
    "users": USERS,
    "roles": ROLES,
}
