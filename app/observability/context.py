"""The request being served, as far as logs and metrics need it: its id, and what ran.

A context variable set by app.http.request_log for each HTTP request and websocket: whatever
runs on its behalf (resolvers, the compiled path, error masking, log records) reads the same
object, and the GraphQL layers fill in the operation they ran, for the request's log line.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import re
import secrets
from dataclasses import dataclass

#: A client's X-Request-Id is kept when it is this short and made of these characters (a
#: UUID, a hex trace id, a ULID); anything else is replaced, so a log line never carries what
#: a client wants it to.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: GraphQL's Name production: an operation name that is not one is not logged.
OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")


@dataclass(slots=True)
class RequestInfo:
    request_id: str
    operation_name: str | None = None
    operation_type: str | None = None

    def ran(self, operation_type: str | None, operation_name: object) -> None:
        """The operation this request ran (the first one, for a websocket's line)."""
        if self.operation_type is None:
            self.operation_type = operation_type
            self.operation_name = (
                operation_name
                if isinstance(operation_name, str) and OPERATION_NAME.fullmatch(operation_name)
                else None
            )


_CURRENT: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "contentgraph_request", default=None
)


class _RequestIds:
    """32 hex digits: 16 random to this process, then a count. Unique without a system call
    per request (secrets.token_hex asks the kernel every time; an id is not a secret), and
    drawn again in a forked child, so two workers never share a prefix."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.count = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.count):016x}"


_ids = _RequestIds()


def new_request_id() -> str:
    return _ids.next()


def accepted_request_id(value: str | None) -> str:
    """The client's id when it is a sane one, a fresh one otherwise."""
    if value is not None and REQUEST_ID.fullmatch(value):
        return value
    return new_request_id()


def begin(request_id: str) -> tuple[RequestInfo, contextvars.Token[RequestInfo | None]]:
    info = RequestInfo(request_id)
    return info, _CURRENT.set(info)


def end(token: contextvars.Token[RequestInfo | None]) -> None:
    _CURRENT.reset(token)


def current() -> RequestInfo | None:
    return _CURRENT.get()


def current_request_id() -> str | None:
    info = _CURRENT.get()
    return info.request_id if info is not None else None


_installed = False


def stamp_log_records() -> None:
    """Every log record made while a request is served carries its ``request_id`` (None
    outside requests): set when the record is made, so a handler formatting it later - or a
    test's capture - still sees it. Idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        info = _CURRENT.get()
        record.request_id = info.request_id if info is not None else None
        return record

    logging.setLogRecordFactory(factory)
