"""Custom scalars, mapped to Python types through ``StrawberryConfig.scalar_map``."""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from strawberry.file_uploads import Upload
from strawberry.types.scalar import ScalarDefinition

from app.config import Settings

MAX_SAFE_INTEGER = 2**53 - 1

#: File sizes: GraphQL's Int stops at 2^31-1 (2 GiB); this holds any file we can store.
SafeInt = NewType("SafeInt", int)


def _parse_safe_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_SAFE_INTEGER:
        raise ValueError(f"SafeInt must be an integer within +/-{MAX_SAFE_INTEGER}")
    return value


def _size(count: int) -> str:
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


#: How to upload, where GraphiQL and codegen show it. The limits are the defaults, not this
#: server's: the schema (and schema.graphql) stays the same whatever a deployment sets.
UPLOAD_DESCRIPTION = (
    "A file, sent as the GraphQL multipart request spec says "
    "(https://github.com/jaydenseric/graphql-multipart-request-spec): a multipart/form-data "
    "POST to /graphql with an `operations` part (the JSON request, with null where each file "
    'goes), a `map` part ({"0": ["variables.file"]}), then the files; apollo-upload-client, '
    "urql and gql build it. The request must carry a non-empty Apollo-Require-Preflight (or "
    "X-Apollo-Operation-Name, or GraphQL-Preflight) header, which makes a browser ask first "
    "(CORS preflight) so no other site can upload with a user's cookies; without it: 400 "
    "BAD_REQUEST. Limits, per storage entity: by default "
    f"{_size(_default('upload_max_file_bytes'))} a file and "
    f"{_default('upload_max_files')} files a request - the server sets them with "
    "UPLOAD_MAX_FILE_BYTES, UPLOAD_MAX_FILES, STORAGE_LIMITS (per entity) and "
    "UPLOAD_MAX_REQUEST_BYTES (a whole request). Beyond them the request is refused (413 "
    "PAYLOAD_TOO_LARGE while it streams, or INVALID_FILE / TOO_MANY_FILES in userErrors) and "
    "nothing is kept. Files are judged by their bytes, not their name or declared type."
)


def _as_is(value: object) -> object:
    return value


SCALAR_MAP: dict[object, ScalarDefinition] = {
    SafeInt: strawberry.scalar(
        name="SafeInt",
        description=(
            "An integer up to 2^53-1, sent as a JSON number: exact in every JavaScript client. "
            "File sizes use it because GraphQL's Int stops at 2^31-1 (2 GiB)."
        ),
        specified_by_url="https://the-guild.dev/graphql/scalars/docs/scalars/safe-int",
        serialize=_parse_safe_int,
        parse_value=_parse_safe_int,
    ),
    # Strawberry's own, with a description that says how (its own: "Represents a file upload").
    Upload: strawberry.scalar(
        name="Upload",
        description=UPLOAD_DESCRIPTION,
        specified_by_url="https://github.com/jaydenseric/graphql-multipart-request-spec",
        serialize=_as_is,
        parse_value=_as_is,
    ),
}
