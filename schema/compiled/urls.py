"""File URLs for compiled responses.

A URL needs ``quote()`` and, for restricted entities, an HMAC - neither is worth doing in SQL.
The statement emits a marker string instead (a per-process random prefix, the entity, the file
id and the hex of the filename); one regex pass over the response bytes swaps each marker for
the URL StoredFile.url would give. A client cannot forge a marker: it never sees the prefix.
Signatures change only when the signer's expiry step does, so URLs are memoised until then.
"""

from __future__ import annotations

import re
import secrets
import uuid
from urllib.parse import quote

from app.storage.entities import ENTITIES
from app.storage.signing import UrlSigner

MEMO_LIMIT = 100_000


class FileUrls:
    def __init__(self, signer: UrlSigner) -> None:
        self.signer = signer
        self.marker = f"cgurl{secrets.token_hex(12)}:"
        self._pattern = re.compile(
            b'"' + self.marker.encode() + rb'([a-z0-9_.]+):([0-9a-f-]{36}):([0-9a-f]*)"'
        )
        self._memo: dict[bytes, bytes] = {}
        self._expires = 0

    def finish(self, body: bytes) -> bytes:
        expires = self.signer.expiry()
        if expires != self._expires or len(self._memo) > MEMO_LIMIT:
            self._memo.clear()
            self._expires = expires
        return self._pattern.sub(self._replace, body)

    def _replace(self, match: re.Match[bytes]) -> bytes:
        marker = match.group(0)
        found = self._memo.get(marker)
        if found is None:
            found = self._memo[marker] = b'"' + self._url(*match.groups()).encode() + b'"'
        return found

    def _url(self, entity_bytes: bytes, file_id: bytes, filename_hex: bytes) -> str:
        entity = entity_bytes.decode()
        filename = bytes.fromhex(filename_hex.decode()).decode()
        path = f"/files/{entity}/{file_id.decode()}/{quote(filename, safe='')}"
        if ENTITIES[entity].public:
            return path
        signature = self.signer.signature(entity, uuid.UUID(file_id.decode()), self._expires)
        return f"{path}?expires={self._expires}&signature={signature}"
