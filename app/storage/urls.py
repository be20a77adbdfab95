"""Where clients download a stored file: the one shape of ``StoredFile.url``.

Both read paths build URLs here - the resolvers directly, the compiled path when it finishes its
markers - so they cannot drift apart (a differential test compares them byte for byte).
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from app.storage.entities import ENTITIES
from app.storage.signing import UrlSigner


class DownloadUrls:
    def __init__(self, signer: UrlSigner, public_url: str | None) -> None:
        self.signer = signer
        #: PUBLIC_URL (validated, without a trailing slash), or "" for relative URLs: a
        #: frontend on another origin cannot guess ours, a same-origin one needs no origin.
        self.base = public_url or ""

    def url(
        self, entity: str, file_id: uuid.UUID, filename: str, expires: int | None = None
    ) -> str:
        """``{base}/files/<entity>/<id>/<filename>``; restricted entities add an expiry and
        signature, so an ``<img src>`` works without headers. ``expires`` (from
        ``signer.expiry()``) lets a caller sign many URLs with one moment."""
        path = f"{self.base}/files/{entity}/{file_id}/{quote(filename, safe='')}"
        if ENTITIES[entity].public:
            return path
        if expires is None:
            expires = self.signer.expiry()
        signature = self.signer.signature(entity, file_id, expires)
        return f"{path}?expires={expires}&signature={signature}"
