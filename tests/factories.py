"""Rows the GraphQL surface cannot create yet (files arrive with uploads), made directly."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from starlette.applications import Starlette

from app.db.models import Album, Contact, Photo, StoredFile


async def add(app: Starlette, *rows: Any) -> None:
    async with app.state.db.session() as session, session.begin():
        session.add_all(rows)


def stored_file(entity: str = "contacts.avatar", name: str = "a.png", **fields: Any) -> StoredFile:
    data = fields.pop("data", name.encode())
    return StoredFile(
        id=uuid.uuid4(),
        entity=entity,
        filename=name,
        content_type=fields.pop("content_type", "image/png"),
        size=fields.pop("size", len(data)),
        sha256=hashlib.sha256(data).hexdigest(),
        width=fields.pop("width", 64),
        height=fields.pop("height", 48),
        **fields,
    )


async def contact_with_avatar(app: Starlette, name: str) -> Contact:
    avatar = stored_file(name=f"{name}.png")
    contact = Contact(id=uuid.uuid4(), name=name, avatar_id=avatar.id)
    await add(app, avatar)
    await add(app, contact)
    return contact


async def album_with_photos(app: Starlette, title: str, count: int) -> Album:
    album = Album(id=uuid.uuid4(), title=title)
    files = [stored_file("albums.photos", f"{title}-{i}.jpg") for i in range(count)]
    photos = [
        Photo(id=uuid.uuid4(), album_id=album.id, file_id=f.id, sort=i, caption=f"#{i}")
        for i, f in enumerate(files)
    ]
    await add(app, album, *files)
    await add(app, *photos)
    return album
