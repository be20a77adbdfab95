"""Relay global ids: ``base64("Type:uuid")``, opaque to clients, checked on the way in."""

from __future__ import annotations

import base64
import binascii
import uuid

from sqlalchemy.sql.elements import ColumnElement

from app.db.sql_json import as_text, base64_sql, constant
from schema.errors import BadUserInput


def to_global_id(type_name: str, key: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def global_id_sql(type_name: str, key: ColumnElement[uuid.UUID]) -> ColumnElement[str]:
    """``to_global_id`` made by PostgreSQL, for the compiled read path."""
    return base64_sql(constant(f"{type_name}:").concat(as_text(key)))


def parse_global_id(global_id: str) -> tuple[str, uuid.UUID]:
    try:
        type_name, _, raw = base64.b64decode(global_id, validate=True).decode().partition(":")
        return type_name, uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadUserInput(f"{global_id!r} is not a valid id", argument="id") from None


def decode_global_id(global_id: str, expected_type: str) -> uuid.UUID:
    """The uuid inside ``global_id``, which must name ``expected_type``."""
    type_name, key = parse_global_id(global_id)
    if type_name != expected_type:
        raise BadUserInput(f"expected the id of a {expected_type}, got one of a {type_name}")
    return key
