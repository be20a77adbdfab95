"""What every GraphQL request over HTTP is checked against: its parameters and its size.

Shared by /graphql (JSON, GET, multipart), the compiled front door and the event streams, so
every transport refuses the same malformed request with the same words.
"""

from __future__ import annotations

from starlette.types import Message, Receive

#: The request parameters we read, the JSON type each must have when present, and its name.
REQUEST_PARAMETERS = (
    ("query", str, "a string"),
    ("operationName", str, "a string"),
    ("variables", dict, "an object"),
    ("extensions", dict, "an object"),
)


def parameter_problem(payload: object) -> str | None:
    """Why ``payload`` is not a GraphQL request's parameters, or None when it is."""
    if not isinstance(payload, dict):
        return "the request body must be a JSON object"
    for name, kind, described in REQUEST_PARAMETERS:
        if not isinstance(payload.get(name), kind | None):
            return f"{name} must be {described} or null"
    return None


class PayloadTooLarge(Exception):
    """The body passed its limit (raised while it is read)."""


def limited(receive: Receive, limit: int) -> Receive:
    """Refuse bodies past the limit, whether or not Content-Length tells the truth."""
    received = 0

    async def guarded() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge
        return message

    return guarded
