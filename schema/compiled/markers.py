"""Values the compiled statement leaves for Python to finish: file URLs and cursors.

A URL needs ``quote()``, PUBLIC_URL and, for restricted entities, an HMAC; a cursor is base64
of Python's own JSON. Neither is worth redoing in SQL, and both must come out exactly as the
resolvers make them - so both are made by the resolvers' own functions (app.storage.urls,
app.db.paging). The statement emits a marker string (a per-process random prefix and the raw
inputs, hex-encoded), and one pass over the response bytes swaps each marker for the finished
value. A client cannot forge a marker: it never sees the prefix. Finished values are memoised.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid

from app.db.paging import encode_cursor
from app.storage.urls import DownloadUrls

MEMO_LIMIT = 100_000


class Markers:
    #: The marker's inputs after the prefix (up to the closing quote), as regex groups.
    inputs = rb""

    def __init__(self, kind: str) -> None:
        self.marker = f"cg{kind}{secrets.token_hex(12)}:"
        self._opening = b'"' + self.marker.encode()
        self._inputs = re.compile(self.inputs)
        self._memo: dict[bytes, bytes] = {}

    def finish(self, body: bytes) -> bytes:
        """Swap every marker in ``body``. bytes.split finds them with a C substring search;
        a regex over the whole body spent most of its time trying each '"' of the JSON."""
        pieces = body.split(self._opening)
        if len(pieces) == 1:
            return body
        if len(self._memo) > MEMO_LIMIT:
            self._memo.clear()
        out = [pieces[0]]
        for piece in pieces[1:]:
            end = piece.index(b'"')  # the marker's closing quote
            inputs = piece[:end]
            found = self._memo.get(inputs)
            if found is None:
                match = self._inputs.fullmatch(inputs)
                if match is None:
                    raise ValueError(f"a malformed {type(self).__name__} marker")
                # Finished values are ASCII without quotes or backslashes (PUBLIC_URL is
                # checked for that): valid JSON as is.
                found = self._memo[inputs] = b'"' + self.make(*match.groups()).encode()
            out.append(found)
            out.append(piece[end:])
        return b"".join(out)

    def make(self, *parts: bytes) -> str:
        raise NotImplementedError


class FileUrls(Markers):
    """StoredFile.url: ``<marker><entity>:<file id>:<hex of the filename>``."""

    inputs = rb"([a-z0-9_.]+):([0-9a-f-]{36}):([0-9a-f]*)"

    def __init__(self, urls: DownloadUrls) -> None:
        super().__init__("url")
        self.urls = urls
        self._expires = 0

    def finish(self, body: bytes) -> bytes:
        expires = self.urls.signer.expiry()
        if expires != self._expires:  # signatures change with the expiry step
            self._memo.clear()
            self._expires = expires
        return super().finish(body)

    def make(self, *parts: bytes) -> str:
        entity, file_id, filename_hex = (part.decode() for part in parts)
        filename = bytes.fromhex(filename_hex).decode()
        return self.urls.url(entity, uuid.UUID(file_id), filename, self._expires)


class Cursors(Markers):
    """Edge cursors: ``<marker><sort name>:<hex of the JSON array of the row's sort values>``."""

    inputs = rb"([A-Z_]+):([0-9a-f]*)"

    def __init__(self) -> None:
        super().__init__("cursor")

    def make(self, *parts: bytes) -> str:
        name, values_hex = (part.decode() for part in parts)
        return encode_cursor(name, json.loads(bytes.fromhex(values_hex)))
