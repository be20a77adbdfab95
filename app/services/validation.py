"""Field cleaning shared by the services: trim, bound, and explain what is wrong."""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

from app.services.errors import FieldError, FieldErrorCode

_PHONE = re.compile(r"^\+?[0-9 ().\-/]{3,}$")
_CONTROL = {"Cc", "Cf", "Cs", "Co", "Cn"}


class Cleaner:
    """Collects field errors while cleaning, so one response lists every problem at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, field: str, message: str, code: FieldErrorCode) -> None:
        self.errors.append(FieldError(field, message, code))

    def text(
        self, field: str, value: str | None, *, max_length: int, required: bool, multiline: bool
    ) -> str | None:
        if value is not None:
            value = unicodedata.normalize("NFC", value).strip()
            allowed = "\n\t" if multiline else ""
            if any(unicodedata.category(ch) in _CONTROL and ch not in allowed for ch in value):
                self.fail(
                    field, "must not contain control characters", FieldErrorCode.INVALID_VALUE
                )
                return None
        if not value:
            if required:
                self.fail(field, "must not be empty", FieldErrorCode.REQUIRED)
            return None
        if len(value) > max_length:
            self.fail(field, f"must be at most {max_length} characters", FieldErrorCode.TOO_LONG)
            return None
        return value

    def email(self, field: str, value: str | None, *, max_length: int) -> str | None:
        value = self.text(field, value, max_length=max_length, required=False, multiline=False)
        if value is None:
            return None
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            self.fail(field, f"is not a valid email address: {exc}", FieldErrorCode.INVALID_EMAIL)
            return None

    def phone(self, field: str, value: str | None, *, max_length: int) -> str | None:
        value = self.text(field, value, max_length=max_length, required=False, multiline=False)
        if value is None:
            return None
        if not _PHONE.match(value) or sum(ch.isdigit() for ch in value) < 3:
            self.fail(
                field,
                "must be a phone number: digits, spaces and + ( ) . - / only",
                FieldErrorCode.INVALID_PHONE,
            )
            return None
        return value
