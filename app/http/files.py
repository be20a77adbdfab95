"""``GET /files/<entity>/<file_id>/<filename>``: downloads, safely and cacheably.

The bytes behind a file id never change, so the SHA-256 is a strong ETag and public files are
cached forever. Only safe raster images are shown inline; everything else downloads as an
attachment, with ``nosniff`` and a sandboxing CSP, so an uploaded HTML or SVG never runs in our
origin. Restricted entities need a session holding their ``readable`` scopes, or a signed URL.

The bytes come from the blob store, whichever it is: streamed through ``open`` (a byte range at
a time), or - for restricted files, when the store offers one (S3 with S3_SERVE=redirect) - a
307 to a presigned URL that answers with the same type, disposition and caching. Public files
always stream from here: their URL is what caches and CDNs keep for a year.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from email.utils import format_datetime, parsedate_to_datetime
from secrets import token_hex
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from app.auth.tokens import bearer_token
from app.auth.viewer import Viewer
from app.container import Services
from app.db.models import StoredFile
from app.error_codes import ErrorCode
from app.http.errors import error_response
from app.storage.blobs import BlobMissing, BlobStore
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


Ranges = list[tuple[int, int]]  # [start, end) pairs, sorted and merged


def content_disposition(filename: str, inline: bool) -> str:
    """As Starlette's FileResponse writes it: a plain quoted name, or RFC 5987's when the
    name needs escaping."""
    kind = "inline" if inline else "attachment"
    quoted = quote(filename)
    if quoted != filename:
        return f"{kind}; filename*=utf-8''{quoted}"
    return f'{kind}; filename="{filename}"'


def _ranges(request: Request, headers: dict[str, str], size: int) -> Ranges | Response:
    """The byte ranges asked for ([] for the whole file), or the refusal of a bad Range header
    in the envelope of every error. A Range counts when If-Range is absent or names this
    file's ETag or Last-Modified (else the whole file, as RFC 9110 says)."""
    wanted, if_range = request.headers.get("range"), request.headers.get("if-range")
    if wanted is None or if_range not in {None, headers["ETag"], headers["Last-Modified"]}:
        return []
    try:
        return FileResponse._parse_range_header(wanted, size)
    except MalformedRangeHeader:
        message = "the Range header must read bytes=first-last (first <= last), or bytes=-n"
        return error_response(ErrorCode.BAD_REQUEST, message)
    except RangeNotSatisfiable:
        return error_response(
            ErrorCode.RANGE_NOT_SATISFIABLE,
            f"the range starts past the file's {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )


def _missing(row: StoredFile) -> Response:
    logger.error("file %s has no blob %s/%s: run contentgraph fsck", row.id, row.entity, row.sha256)
    return error_response(ErrorCode.NOT_FOUND, "the file's content is missing")


async def _primed(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes] | None:
    """The stream with its first chunk already read - so a missing blob is a 404, not a
    response cut short after its headers - or None when the blob is missing."""
    try:
        first = await anext(stream)
    except BlobMissing:
        return None
    except StopAsyncIteration:
        first = b""

    async def chained() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()  # type: ignore[attr-defined]  # (an async generator)

    return chained()


def _multipart(
    blobs: BlobStore, row: StoredFile, ranges: Ranges, first: AsyncIterator[bytes], boundary: str
) -> AsyncIterator[bytes]:
    """multipart/byteranges: each range under its own part header."""

    async def parts() -> AsyncIterator[bytes]:
        for index, (start, end) in enumerate(ranges):
            yield _part_header(boundary, row.content_type, start, end, row.size)
            stream = first if index == 0 else blobs.open(row.entity, row.sha256, start, end)
            async for chunk in stream:
                yield chunk
            yield b"\r\n"
        yield f"--{boundary}--".encode("latin-1")

    return parts()


def _part_header(boundary: str, content_type: str, start: int, end: int, size: int) -> bytes:
    return (
        f"--{boundary}\r\nContent-Type: {content_type}\r\n"
        f"Content-Range: bytes {start}-{end - 1}/{size}\r\n\r\n"
    ).encode("latin-1")


def _multipart_length(boundary: str, content_type: str, ranges: Ranges, size: int) -> int:
    return sum(
        len(_part_header(boundary, content_type, start, end, size)) + (end - start) + 2
        for start, end in ranges
    ) + len(f"--{boundary}--")


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
    ranges = _ranges(request, headers, row.size)
    if isinstance(ranges, Response):
        return ranges
    blobs = services.files.blobs
    disposition = content_disposition(row.filename, row.content_type in INLINE_TYPES)
    if request.method == "GET" and not entity.public:
        url = await blobs.download_url(
            row.entity,
            row.sha256,
            content_type=row.content_type,
            content_disposition=disposition,
            cache_control=cache_control,
            expires_in=services.settings.s3_redirect_seconds,
        )
        if url is not None:  # (the client sends its Range and conditions there itself)
            redirect = {"Cache-Control": "private, no-store", "Vary": "Authorization"}
            return RedirectResponse(url, status_code=307, headers=redirect)
    headers |= {"Content-Disposition": disposition, "Accept-Ranges": "bytes"}
    status, media_type = (206 if ranges else 200), row.content_type
    boundary = ""
    if len(ranges) == 1:
        (start, end), length = ranges[0], ranges[0][1] - ranges[0][0]
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{row.size}"
    elif ranges:
        boundary = token_hex(13)
        media_type = f"multipart/byteranges; boundary={boundary}"
        length = _multipart_length(boundary, row.content_type, ranges, row.size)
    else:
        length = row.size
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        if not await blobs.exists(row.entity, row.sha256):
            return _missing(row)
        return Response(status_code=status, headers=headers, media_type=media_type)
    stream = blobs.open(row.entity, row.sha256, *ranges[0]) if ranges else None
    body = await _primed(stream or blobs.open(row.entity, row.sha256))
    if body is None:
        return _missing(row)
    if boundary:
        body = _multipart(blobs, row, ranges, body, boundary)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)
