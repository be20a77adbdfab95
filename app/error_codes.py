"""The codes clients switch on (``extensions.code``), whatever the transport.

One vocabulary for the errors of GraphQL results and for the refusals of HTTP routes alike, kept
below both: schema.errors tags GraphQL errors with these codes, app.http.errors gives each the
HTTP status it answers with - and the file routes, which never import the GraphQL face, speak
the same codes. GraphQL codes follow Apollo's conventions, so existing client tooling
recognises them; the HTTP ones are their status's reason phrase.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # GraphQL: the phase that refused the operation, or what a field's resolver ran into.
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    RATE_LIMITED = "RATE_LIMITED"
    SLOW_CONSUMER = "SLOW_CONSUMER"
    OPERATION_TIMEOUT = "OPERATION_TIMEOUT"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    # HTTP: a request refused before any GraphQL is involved (or a file's download).
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RANGE_NOT_SATISFIABLE = "RANGE_NOT_SATISFIABLE"
    INSUFFICIENT_STORAGE = "INSUFFICIENT_STORAGE"
