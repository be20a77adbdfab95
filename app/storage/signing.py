"""Signed, expiring file URLs, so ``<img src>`` works for restricted files without headers."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from app.numbers import parse_count


class UrlSigner:
    def __init__(self, secret: str, ttl: int) -> None:
        self._key = hashlib.sha256(b"contentgraph file urls\x00" + secret.encode()).digest()
        self.ttl = ttl

    def _mac(self, entity: str, file_id: uuid.UUID, expires: int) -> str:
        message = f"{entity}\x00{file_id.hex}\x00{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:43]

    def expiry(self, now: float | None = None) -> int:
        """The expiry URLs signed now get: rounded up to a tenth of the TTL, so the same file
        gets the same URL for a while and browsers (and our URL memo) can cache it."""
        now = time.time() if now is None else now
        step = max(self.ttl // 10, 1)
        return int((now + self.ttl) // step * step + step)

    def sign(self, entity: str, file_id: uuid.UUID, now: float | None = None) -> tuple[int, str]:
        """An expiry and signature."""
        expires = self.expiry(now)
        return expires, self._mac(entity, file_id, expires)

    def signature(self, entity: str, file_id: uuid.UUID, expires: int) -> str:
        return self._mac(entity, file_id, expires)

    def verify(self, entity: str, file_id: uuid.UUID, expires: str, signature: str) -> bool:
        moment = parse_count(expires)
        if moment is None or moment < time.time() or not signature.isascii():
            return False  # (compare_digest refuses non-ASCII text with a TypeError)
        return hmac.compare_digest(self._mac(entity, file_id, moment), signature)
