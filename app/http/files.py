"""``GET /files/<entity>/<file_id>/<filename>``: downloads, safely and cacheably.

The bytes behind a file id never change, so the SHA-256 is a strong ETag and public files are
cached forever. Only safe raster images are shown inline; everything else downloads as an
attachment, with ``nosniff`` and a sandboxing CSP, so an uploaded HTML or SVG never runs in our
origin. Restricted entities need a session holding their ``readable`` scopes, or a signed URL.
"""

from __future__ import annotations

import logging
import time
import uuid
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable, Response

from app.auth.tokens import bearer_token
from app.auth.viewer import Viewer
from app.container import Services
from app.db.models import StoredFile
from app.error_codes import ErrorCode
from app.http.errors import error_response
from app.storage.entities import ENTITIES, StorageEntity
from app.storage.probe import INLINE_TYPES

logger = logging.getLogger("contentgraph.files")

PUBLIC_CACHE = "public, max-age=31536000, immutable"


async def _row(services: Services, entity: str, key: uuid.UUID, filename: str) -> StoredFile | None:
    async with services.db.session() as session:
        row = await session.get(StoredFile, key)
    if row is None or row.entity != entity or row.filename != filename:
        return None
    return row


async def _refusal(
    request: Request, services: Services, entity: StorageEntity, key: uuid.UUID
) -> tuple[Response | None, str, Viewer | None]:
    """Whether the caller may read files of this entity, decided *before* looking the file
    up - a refusal for a file that exists and a 404 for one that does not would tell which
    ids exist. (None, Cache-Control, the viewer when ownership is still to be checked.)"""
    if entity.public:
        return None, PUBLIC_CACHE, None
    expires, signature = request.query_params.get("expires"), request.query_params.get("signature")
    if expires is not None or signature is not None:
        if not services.signer.verify(entity.name, key, expires or "", signature or ""):
            refused = error_response(ErrorCode.FORBIDDEN, "the link is invalid or has expired")
            return refused, "", None
        remaining = max(int(expires or 0) - int(time.time()), 0)
        return None, f"private, max-age={remaining}", None
    token = bearer_token(request.headers.get("authorization"))
    viewer = await services.auth.viewer(token) if token else None
    if viewer is None:
        return (
            error_response(ErrorCode.UNAUTHENTICATED, "sign in, or use the file's signed url"),
            "",
            None,
        )
    if entity.readable <= viewer.scopes:
        return None, "private, no-cache", None
    if entity.owner_readable:
        return None, "private, no-cache", viewer  # theirs, or refused once the row is known
    return _needs_scopes(entity), "", None


def _needs_scopes(entity: StorageEntity) -> Response:
    needed = ", ".join(sorted(entity.readable))
    return error_response(ErrorCode.FORBIDDEN, f"this file needs {needed}")


def _not_modified(request: Request, etag: str, row: StoredFile) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return etag in candidates or "*" in candidates
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return since is not None and row.created_at.replace(microsecond=0) <= since
    return False


def _range_refusal(request: Request, headers: dict[str, str], size: int) -> Response | None:
    """The refusal of a Range header that FileResponse would refuse, in the envelope of every
    error (FileResponse answers those 400s and 416s itself, in plain text). As there, a Range
    counts when If-Range is absent or names this file's ETag or Last-Modified."""
    wanted, if_range = request.headers.get("range"), request.headers.get("if-range")
    if wanted is None or if_range not in {None, headers["ETag"], headers["Last-Modified"]}:
        return None
    try:
        FileResponse._parse_range_header(wanted, size)
    except MalformedRangeHeader:
        message = "the Range header must read bytes=first-last (first <= last), or bytes=-n"
        return error_response(ErrorCode.BAD_REQUEST, message)
    except RangeNotSatisfiable:
        return error_response(
            ErrorCode.RANGE_NOT_SATISFIABLE,
            f"the range starts past the file's {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return None


async def serve_file(request: Request) -> Response:
    services: Services = request.app.state.services
    entity = ENTITIES.get(request.path_params["entity"])
    if entity is None:
        return error_response(ErrorCode.NOT_FOUND, "no such storage entity")
    try:
        key = uuid.UUID(request.path_params["file_id"])
    except ValueError:
        return error_response(ErrorCode.NOT_FOUND, "no such file")
    refusal, cache_control, owner_to_check = await _refusal(request, services, entity, key)
    if refusal is not None:
        return refusal
    row = await _row(services, entity.name, key, request.path_params["filename"])
    if row is None:
        return error_response(ErrorCode.NOT_FOUND, "no such file")
    if owner_to_check is not None and owner_to_check.user_id != row.uploaded_by_id:
        return _needs_scopes(entity)
    etag = f'"{row.sha256}"'
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(row.created_at, usegmt=True),
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if not entity.public:
        headers["Vary"] = "Authorization"
    if _not_modified(request, etag, row):
        return Response(status_code=304, headers=headers)
    blobs = services.files.blobs
    if not await blobs.exists(row.entity, row.sha256):  # stat in a worker thread
        logger.error(
            "file %s has no blob %s/%s: run contentgraph fsck", row.id, row.entity, row.sha256
        )
        return error_response(ErrorCode.NOT_FOUND, "the file's content is missing")
    refused = _range_refusal(request, headers, row.size)
    if refused is not None:
        return refused
    inline = row.content_type in INLINE_TYPES
    return FileResponse(
        blobs.path(row.entity, row.sha256),
        media_type=row.content_type,
        headers=headers,
        filename=row.filename,
        content_disposition_type="inline" if inline else "attachment",
    )
