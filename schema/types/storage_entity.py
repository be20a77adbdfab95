"""The storage entities as a GraphQL enum, so GraphiQL and codegen know every name.

Made from app.storage.entities: a new entity reaches the API with no second list to keep.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

import strawberry

from app.storage.entities import ENTITIES, StorageEntity


def graphql_name(entity: str) -> str:
    """``contacts.avatar`` -> ``CONTACTS_AVATAR``."""
    return entity.upper().replace(".", "_")


def _describe(entity: StorageEntity) -> str:
    if entity.public:
        readers = "anyone may download them"
    else:
        readers = f"downloading needs {', '.join(sorted(entity.readable))}"
    return f"`{entity.name}`: {entity.holds}; {readers}."


_DESCRIPTION = (
    "A storage entity: a named bucket of files with its own permissions and limits. One of "
    + ", ".join(f"{graphql_name(name)} (`{name}`)" for name in ENTITIES)
    + "."
)

if TYPE_CHECKING:
    StorageEntityName = Enum  # (made at run time, from ENTITIES: mypy cannot follow that)
else:
    #: Each value is the entity's name (``contacts.avatar``), as StoredFile.entity gives it.
    StorageEntityName = strawberry.enum(
        Enum(
            "StorageEntityName",
            {
                graphql_name(entity.name): strawberry.enum_value(
                    entity.name, description=_describe(entity)
                )
                for entity in ENTITIES.values()
            },
        ),
        name="StorageEntity",
        description=_DESCRIPTION,
    )
