"""A stored file's name ends with an extension of the type found in its bytes.

The name is only for display and downloads, but a download's extension decides what opens it:
a PNG that is also an HTML page, uploaded as ``poly.html``, must come back as ``poly.png``.
"""

from __future__ import annotations

import httpx
import pytest

from app.storage.filenames import sanitise
from tests import images
from tests.conftest import GraphQLClient
from tests.test_uploads import new_contact, set_avatar


@pytest.mark.parametrize(
    ("sent", "content", "kept"),
    [
        ("poly.html", images.polyglot(), "poly.png"),
        ("photo.jpeg", images.jpeg(), "photo.jpeg"),
        ("a.JPG", images.jpeg(), "a.JPG"),
        ("holiday.png", images.jpeg(), "holiday.jpg"),
        ("Dr. Who", images.webp(), "Dr. Who.webp"),
    ],
)
async def test_the_stored_name_ends_with_the_type_found_in_the_bytes(
    client: httpx.AsyncClient, gql: GraphQLClient, sent: str, content: bytes, kept: str
) -> None:
    contact_id = await new_contact(gql)
    body = await set_avatar(client, str(gql.token), contact_id, content, sent)
    payload = body["data"]["setContactAvatar"]
    assert payload["userErrors"] == []
    assert payload["contact"]["avatar"]["filename"] == kept


@pytest.mark.parametrize(
    ("sent", "content_type", "kept"),
    [
        ("x.tar.gz", "image/png", "x.tar.png"),
        ("photo.", "image/gif", "photo.gif"),
        ("CON.html", "image/png", "_CON.png"),
        ("a.JFIF", "image/jpeg", "a.JFIF"),
        ("scan.png", "application/pdf", "scan.pdf"),
        ("letter.docx", "application/zip", "letter.docx"),
        ("notes.txt", "application/octet-stream", "notes.txt"),
        (None, "application/octet-stream", "file"),
        ("y" * 300 + ".html", "image/webp", "y" * 195 + ".webp"),
    ],
)
def test_sanitise_gives_recognised_types_their_extension(
    sent: str | None, content_type: str, kept: str
) -> None:
    assert sanitise(sent, content_type) == kept
