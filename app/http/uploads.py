"""GraphQL multipart requests (the multipart request spec), streamed straight into blobs.

Files never pass whole through memory, nor through a generic temp directory: each file part is
written to a temporary blob of the blob store (a file under the files root, an object in the
bucket) as it arrives - hashed, counted, and stopped at the limit. The ``operations`` and
``map`` parts must come first (the spec requires it; it also lets us refuse a bad request
before reading its files). Every temporary blob the request created is removed when the request
ends, whether it succeeded, failed, or the client went away.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from cross_web import HTTPException
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from app.numbers import parse_count
from app.observability import metrics
from app.storage.blobs import BlobStore, TempBlob, TempWriter, TooLarge
from app.storage.files import Incoming

#: Headers a browser cannot send cross-site without a CORS preflight (Apollo's convention).
logger = logging.getLogger("contentgraph.uploads")

#: python-multipart refuses longer boundaries with its own exception (RFC 2046 allows 70).
MAX_BOUNDARY = 256
CSRF_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight")
FIELD_PARTS = ("operations", "map")


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)
    writer: TempWriter | None = None


@dataclass
class UploadLimits:
    max_file_bytes: int
    max_files: int
    max_field_bytes: int


class MultipartUpload:
    """Parses one request; ``temporary`` lists every blob it made, for cleanup."""

    def __init__(self, blobs: BlobStore, limits: UploadLimits) -> None:
        self.blobs, self.limits = blobs, limits
        self.fields: dict[str, bytes] = {}
        self.files: dict[str, Incoming] = {}
        self.writers: list[TempWriter] = []
        self.temporary: list[TempBlob] = []
        self._events: list[tuple[str, Any]] = []
        self._parsing: _Part | None = None  # the part python-multipart is reading
        self._part: _Part | None = None  # the part whose events we are acting on
        self._header_field = b""
        self._header_value = b""
        self._mapping: dict[str, list[str]] | None = None  # the parsed map part

    # python-multipart calls these synchronously; we queue and act on them asynchronously.
    def _on_part_begin(self) -> None:
        self._parsing = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        assert self._parsing is not None
        self._parsing.headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _on_headers_finished(self) -> None:
        self._events.append(("begin", self._parsing))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", bytes(data[start:end])))

    def _on_part_end(self) -> None:
        self._events.append(("end", None))

    async def parse(self, request: Request) -> dict[str, Any]:
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise HTTPException(400, "a multipart request needs a boundary")
        if len(boundary) > MAX_BOUNDARY:
            raise HTTPException(400, f"the multipart boundary exceeds {MAX_BOUNDARY} characters")
        parser = MultipartParser(  # (python-multipart's checks fail later, in write)
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
            },
            max_header_count=8,
        )
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except Exception as exc:  # python-multipart's own errors: malformed body
                raise HTTPException(400, f"the multipart body is malformed: {exc}") from None
            await self._drain()
        try:
            parser.finalize()
        except Exception as exc:
            raise HTTPException(400, f"the multipart body is malformed: {exc}") from None
        await self._drain()
        return self._operations()

    async def _drain(self) -> None:
        events, self._events = self._events, []
        for kind, value in events:
            if kind == "begin":
                await self._begin(value)
            elif kind == "data":
                await self._data(value)
            else:
                await self._end()

    async def _begin(self, part: _Part) -> None:
        disposition, options = parse_options_header(part.headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise HTTPException(400, "every multipart part needs Content-Disposition: form-data")
        part.name = options[b"name"].decode("utf-8", "replace")
        if part.name in FIELD_PARTS:
            if part.name in self.fields:
                raise HTTPException(400, f"the {part.name!r} part appears twice")
            self._part = part
            return
        if not all(name in self.fields for name in FIELD_PARTS):
            raise HTTPException(400, "the operations and map parts must come before the files")
        if part.name not in self._map():
            raise HTTPException(400, f"the file part {part.name!r} is not in the map")
        if part.name in self.files or len(self.writers) >= self.limits.max_files:
            raise HTTPException(413, f"at most {self.limits.max_files} files per request")
        filename = options.get(b"filename")
        part.filename = filename.decode("utf-8", "replace") if filename is not None else None
        part.writer = self.blobs.writer(self.limits.max_file_bytes)
        self.writers.append(part.writer)
        self._part = part

    async def _data(self, data: bytes) -> None:
        part = self._part
        assert part is not None
        if part.writer is None:
            part.data += data
            if len(part.data) > self.limits.max_field_bytes:
                raise HTTPException(
                    413, f"the {part.name!r} part exceeds {self.limits.max_field_bytes} bytes"
                )
            return
        try:
            await part.writer.write(data)
            metrics.upload_bytes.inc(len(data))
        except TooLarge as exc:
            raise HTTPException(
                413, f"the file in part {part.name!r} exceeds {exc.limit} bytes"
            ) from None
        except OSError as exc:
            raise _storage_error(exc) from None

    async def _end(self) -> None:
        part = self._part
        assert part is not None
        if part.writer is None:
            self.fields[part.name] = bytes(part.data)
        else:
            try:
                blob = await part.writer.finish()
            except OSError as exc:
                raise _storage_error(exc) from None
            self.temporary.append(blob)
            self.files[part.name] = Incoming(part.filename, blob)
            metrics.upload_files.inc()
        self._part = None

    def _map(self) -> dict[str, list[str]]:
        if self._mapping is not None:
            return self._mapping
        try:
            mapping = orjson.loads(self.fields["map"])
        except orjson.JSONDecodeError:
            raise HTTPException(400, "the map part is not valid JSON") from None
        if not isinstance(mapping, dict) or not all(
            isinstance(paths, list) and all(isinstance(p, str) for p in paths)
            for paths in mapping.values()
        ):
            raise HTTPException(400, 'the map must look like {"0": ["variables.file"]}')
        self._mapping = mapping
        return mapping

    def _operations(self) -> dict[str, Any]:
        for name in FIELD_PARTS:
            if name not in self.fields:
                raise HTTPException(400, f"the multipart request has no {name!r} part")
        try:
            operations = orjson.loads(self.fields["operations"])
        except orjson.JSONDecodeError:
            raise HTTPException(400, "the operations part is not valid JSON") from None
        if not isinstance(operations, dict):
            raise HTTPException(400, "the operations part must be one JSON object (no batches)")
        for name, paths in self._map().items():
            if name not in self.files:
                raise HTTPException(400, f"the map names a file {name!r} that was not sent")
            for path in paths:
                _put(operations, path, self.files[name])
        return operations

    async def cleanup(self) -> None:
        """Remove every temporary blob (placed ones live on at their content address)."""
        for writer in self.writers:
            with contextlib.suppress(Exception):
                await writer.abort()
        for blob in self.temporary:
            with contextlib.suppress(Exception):
                await self.blobs.discard(blob)


def _storage_error(error: OSError) -> HTTPException:
    """A full disk (or quota) is the server's condition, and says so: 507, nothing kept."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        logger.warning("an upload was refused: the files root is full (%s)", error)
        return HTTPException(507, "the server has no room to store this upload; try later")
    logger.error("an upload could not be written: %s", error)
    return HTTPException(503, "the upload could not be stored; try again")


def _put(operations: dict[str, Any], path: str, value: Incoming) -> None:
    """Replace the null at ``variables.files.0`` (say) with the uploaded file."""
    keys = path.split(".")
    if not keys or keys[0] != "variables":
        raise HTTPException(400, f"map path {path!r} must point into variables")
    target: Any = operations
    for key in keys[:-1]:
        target = _step(target, key, path)
    last, index = keys[-1], parse_count(keys[-1])
    if isinstance(target, list) and index is not None and index < len(target):
        if target[index] is not None:
            raise HTTPException(400, f"map path {path!r} must point at a null")
        target[index] = value
    elif isinstance(target, dict) and last in target and target[last] is None:
        target[last] = value
    else:
        raise HTTPException(400, f"map path {path!r} does not point at a null in operations")


def _step(target: Any, key: str, path: str) -> Any:
    if isinstance(target, dict) and key in target:
        return target[key]
    index = parse_count(key)
    if isinstance(target, list) and index is not None and index < len(target):
        return target[index]
    raise HTTPException(400, f"map path {path!r} does not exist in operations")
