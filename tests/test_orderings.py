"""Ordering enums and their sort keys: built from the columns, refused when they do not match."""

from __future__ import annotations

from enum import StrEnum

import pytest

from app.auth.roles import ROLE_SORTS, RoleOrder
from app.auth.users import USER_SORTS, UserOrder
from app.db.models import Role
from app.db.orderings import sort_keys
from app.services.albums import ALBUM_SORTS, PHOTO_SORTS, AlbumOrder, PhotoOrder
from app.services.contacts import CONTACT_SORTS, ContactOrder


@pytest.mark.parametrize(
    ("orders", "sorts"),
    [
        (ContactOrder, CONTACT_SORTS),
        (AlbumOrder, ALBUM_SORTS),
        (PhotoOrder, PHOTO_SORTS),
        (UserOrder, USER_SORTS),
        (RoleOrder, ROLE_SORTS),
    ],
)
def test_every_ordering_has_its_sort_named_as_the_cursor_knows_it(orders, sorts) -> None:
    assert list(sorts) == list(orders)
    for member, sort in sorts.items():
        assert sort.name == member.value == member.name
        assert sort.descending == member.name.endswith("_DESC")
        assert sort.columns[-1].key == "id"  # ties break on the id


class Orders(StrEnum):
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"


def test_a_member_without_a_column_is_refused() -> None:
    class Extra(StrEnum):
        NAME_ASC = "NAME_ASC"
        NAME_DESC = "NAME_DESC"
        OTHER_ASC = "OTHER_ASC"

    with pytest.raises(TypeError, match="no column for OTHER_ASC"):
        sort_keys(Extra, {"NAME": Role.name}, tie_break=Role.id)


def test_a_column_without_both_members_is_refused() -> None:
    with pytest.raises(TypeError, match="needs a member DESCRIPTION_ASC"):
        sort_keys(Orders, {"NAME": Role.name, "DESCRIPTION": Role.description}, tie_break=Role.id)


def test_a_member_spelled_otherwise_than_its_name_is_refused() -> None:
    class Misspelt(StrEnum):
        NAME_ASC = "NAME_ASC"
        NAME_DESC = "name_desc"

    with pytest.raises(TypeError, match="needs a member NAME_DESC = 'NAME_DESC'"):
        sort_keys(Misspelt, {"NAME": Role.name}, tie_break=Role.id)
