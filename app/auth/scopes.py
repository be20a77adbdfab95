"""The registry of permission scopes, named ``<area>.<permission>``.

A role holds a set of these; a signed-in user's scopes are the union over their roles. Scopes
are code, not data: a role naming a scope that is not registered here is refused.
"""

from __future__ import annotations

from types import MappingProxyType

CONTACTS_READ = "contacts.read"
CONTACTS_WRITE = "contacts.write"
ALBUMS_READ = "albums.read"
ALBUMS_WRITE = "albums.write"
USERS_ADMIN = "users.admin"

SCOPES: MappingProxyType[str, str] = MappingProxyType(
    {
        CONTACTS_READ: "See contacts and their avatars.",
        CONTACTS_WRITE: "Create, change and delete contacts and their avatars.",
        ALBUMS_READ: "See albums and their photos.",
        ALBUMS_WRITE: "Create, change and delete albums and their photos.",
        USERS_ADMIN: "Manage users, roles and other people's sessions.",
    }
)
ALL_SCOPES = frozenset(SCOPES)


def with_implied(scopes: frozenset[str]) -> frozenset[str]:
    """Writing an area implies reading it: a mutation returns what it changed, and a
    write-only grant would otherwise read through mutation results."""
    implied = {scope.replace(".write", ".read") for scope in scopes if scope.endswith(".write")}
    return scopes | (implied & ALL_SCOPES)


#: What anonymous callers may do when ANONYMOUS_READ is on.
ANONYMOUS_READ_SCOPES = frozenset({CONTACTS_READ, ALBUMS_READ})

#: Roles created on first start. ``admin`` is kept holding every scope on each start.
DEFAULT_ROLES: MappingProxyType[str, tuple[str, frozenset[str]]] = MappingProxyType(
    {
        "admin": ("Everything, including users and roles.", ALL_SCOPES),
        "editor": (
            "Read and change contacts and albums.",
            frozenset({CONTACTS_READ, CONTACTS_WRITE, ALBUMS_READ, ALBUMS_WRITE}),
        ),
        "viewer": ("Read contacts and albums.", frozenset({CONTACTS_READ, ALBUMS_READ})),
    }
)
