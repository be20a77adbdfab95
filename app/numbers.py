"""Whole numbers written by clients: ASCII digits only, and not too many of them.

``str.isdigit()`` admits "²" and "٣", which ``int()`` then refuses or reads; and ``int()``
refuses more than 4,300 digits outright. Each of those was a 500 for a client's typo.
"""

from __future__ import annotations

#: Digits in the largest count anything here needs (bytes, seconds since 1970, positions).
MAX_DIGITS = 19


def parse_count(text: str | bytes | None, max_digits: int = MAX_DIGITS) -> int | None:
    """The number ``text`` spells in ASCII digits, or None when it spells none."""
    if not text or len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
