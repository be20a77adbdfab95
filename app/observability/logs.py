"""One log format for our loggers and uvicorn's: text for people, JSON lines for collectors.

``LOG_FORMAT=text`` (the default)::

    2026-11-20 10:00:00,123 INFO contentgraph.access: POST /graphql 200 3.1 ms operation=Q ...

``LOG_FORMAT=json``: one object per line, always ``time`` (ISO 8601, UTC), ``level``,
``logger``, ``message``, ``request_id`` (null outside a request) and ``pid``, the record's fields
(a request line's ``method``, ``path``, ``status``, ``duration_ms``, ``operation``,
``operation_type``), and ``exception`` with the traceback when there is one.

The same configuration (``logging_config``) is applied by the CLI and handed to uvicorn as
its ``log_config``, which applies it again in every worker it spawns; uvicorn's own access log
is off - app.http.request_log writes one line per request, with what uvicorn's lacks.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import orjson

FIELDS = "fields"
#: What a field's value may not carry into a text line (a forged line, a terminal escape).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def with_fields(**fields: object) -> dict[str, Any]:
    """``extra=`` for a log call whose record carries these fields."""
    return {FIELDS: fields}


def printable(value: object) -> str:
    """``value`` as text with control characters escaped: one line, nothing forged."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))


class LogFormatter(logging.Formatter):
    def __init__(self, json: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.json = json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = dict(getattr(record, FIELDS, None) or {})
        request_id = getattr(record, "request_id", None)
        if self.json:
            return self._json(record, fields, request_id)
        line = super().format(record)
        if fields or request_id:
            pairs = [f"{key}={printable(value)}" for key, value in fields.items() if value]
            if request_id:
                pairs.append(f"request_id={request_id}")
            head, newline, rest = line.partition("\n")  # a traceback stays below the line
            line = f"{head} {' '.join(pairs)}{newline}{rest}"
        return line

    def _json(
        self, record: logging.LogRecord, fields: dict[str, object], request_id: str | None
    ) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id,
            "pid": record.process,  # which worker of `serve --workers N`
        }
        for key, value in fields.items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def logging_config(level: str, json: bool) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for this process - or for uvicorn's ``log_config``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "contentgraph": {"()": "app.observability.logs.LogFormatter", "json": json},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "contentgraph",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            # uvicorn's loggers lose their own handlers and write through ours.
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": True, "level": level},
            # Alembic announces each of its plugins at INFO on every start.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }
