"""The relational model: users and roles, contacts, albums and photos, stored file metadata.

Foreign keys say what a delete means: a contact's avatar row going away clears the avatar
(SET NULL); an album going away takes its photos (CASCADE); a stored file still used by a photo
cannot be deleted (RESTRICT) - the service deletes the photo first and the blob after commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.db.types import JSONType, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Field limits shared by the validation layer and the columns, so the two cannot drift.
NAME_MAX = 200
EMAIL_MAX = 320
PHONE_MAX = 50
NOTES_MAX = 10_000
TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
CAPTION_MAX = 2_000
FILENAME_MAX = 255
USERNAME_MAX = 150


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def _created_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, nullable=False, default=utcnow)


def _updated_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


user_roles = Table(
    "user_role",
    Base.metadata,
    Column("user_id", Uuid, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", Uuid, ForeignKey("role.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_user_role_role_id", "role_id"),
)


class StoredFile(Base):
    """Metadata of one blob in one storage entity; the bytes live in the blob store."""

    __tablename__ = "stored_file"

    id: Mapped[uuid.UUID] = _uuid_pk()
    entity: Mapped[str] = mapped_column(String(64), nullable=False)
    filename: Mapped[str] = mapped_column(String(FILENAME_MAX), nullable=False)
    content_type: Mapped[str] = mapped_column(String(127), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = _created_at()

    __table_args__ = (
        # The garbage collector and dedup ask "is this blob of this entity still referenced?"
        Index("ix_stored_file_entity_sha256", "entity", "sha256"),
    )


class Role(Base):
    """A named set of permission scopes."""

    __tablename__ = "role"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    scopes: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    __table_args__ = (Index("uq_role_name_lower", func.lower(name), unique=True),)


class User(Base):
    __tablename__ = "user"

    id: Mapped[uuid.UUID] = _uuid_pk()
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), nullable=False, unique=True)
    email: Mapped[str | None] = mapped_column(String(EMAIL_MAX))
    display_name: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False, default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_locked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # use_alter breaks the user <-> stored_file cycle (files remember their uploader).
    avatar_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("stored_file.id", ondelete="SET NULL", use_alter=True), index=True
    )
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="raise")

    __table_args__ = (
        # Usernames are unique whatever their case: "Alice" and "alice" are one account.
        Index("uq_user_username_lower", func.lower(username), unique=True),
    )


class LoginSession(Base):
    """A signed-in session. Only the SHA-256 of its token is kept. It lives here, not in Redis:
    a logout must survive whatever Redis goes through (a restart, a restore from an old
    snapshot), so the database is the source of truth for which sessions exist."""

    __tablename__ = "login_session"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = _created_at()
    #: Renewed at most every few seconds of use (the idle expiry slides with it).
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Contact(Base):
    __tablename__ = "contact"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False)
    email: Mapped[str | None] = mapped_column(String(EMAIL_MAX))
    phone: Mapped[str | None] = mapped_column(String(PHONE_MAX))
    notes: Mapped[str | None] = mapped_column(Text)
    avatar_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("stored_file.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    __table_args__ = (
        # Keyset pagination: every exposed ordering has an index ending in the id tie-break.
        Index("ix_contact_name_id", "name", "id"),
        Index("ix_contact_created_at_id", "created_at", "id"),
    )


class Album(Base):
    __tablename__ = "album"

    id: Mapped[uuid.UUID] = _uuid_pk()
    title: Mapped[str] = mapped_column(String(TITLE_MAX), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    __table_args__ = (
        Index("ix_album_title_id", "title", "id"),
        Index("ix_album_created_at_id", "created_at", "id"),
    )


class Photo(Base):
    __tablename__ = "photo"

    id: Mapped[uuid.UUID] = _uuid_pk()
    album_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("album.id", ondelete="CASCADE"), nullable=False
    )
    file_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("stored_file.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    caption: Mapped[str | None] = mapped_column(Text)
    sort: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = _created_at()

    __table_args__ = (
        Index("ix_photo_album_id_sort_id", "album_id", "sort", "id"),
        Index("ix_photo_album_id_created_at_id", "album_id", "created_at", "id"),
    )


class OutboxEvent(Base):
    """A domain event, written in the transaction that made the change it announces (a
    transactional outbox), so no committed change goes unannounced - whatever happens to the
    process or to Redis after the commit. The id orders events: writers take one lock just
    before committing (app.events.outbox), so ids commit in increasing order."""

    __tablename__ = "event_outbox"
    #: SQLite: never reuse an id, as a sequence does not.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    topic: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    subject: Mapped[str] = mapped_column(String(32), nullable=False)
    photo_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    recorded_at: Mapped[datetime] = _created_at()
