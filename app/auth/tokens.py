"""Where a caller's session token is read from: ``Authorization: Bearer <token>`` on HTTP,
the ``connection_init`` payload on websockets. One reading for every transport."""

from __future__ import annotations

BEARER = "bearer "


def bearer_token(value: object) -> str | None:
    """The token in ``Bearer <token>`` (case-insensitive scheme); a bare token is accepted too."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value[len(BEARER) :].strip() if value.lower().startswith(BEARER) else value
