"""What services report to their callers: field-level validation failures and missing records."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FieldErrorCode(StrEnum):
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_PHONE = "INVALID_PHONE"
    INVALID_VALUE = "INVALID_VALUE"
    NOT_FOUND = "NOT_FOUND"
    TAKEN = "TAKEN"
    PROTECTED = "PROTECTED"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    INVALID_FILE = "INVALID_FILE"
    TOO_MANY_FILES = "TOO_MANY_FILES"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str
    code: FieldErrorCode


class ValidationFailed(Exception):
    """The input was understood but is not acceptable; nothing was written."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class NotFound(ValidationFailed):
    def __init__(self, field: str, what: str) -> None:
        super().__init__([FieldError(field, f"{what} does not exist", FieldErrorCode.NOT_FOUND)])
