"""Original filenames, kept for display and downloads only - never as a path."""

from __future__ import annotations

import re
import unicodedata

MAX_BYTES = 200
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_FORBIDDEN = set('<>:"/\\|?*')
#: Each recognised type's extensions, its usual one first: a stored name ends with one of them.
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
    "application/zip": (
        ".zip",
        ".docx",
        ".xlsx",
        ".pptx",
        ".odt",
        ".ods",
        ".odp",
        ".epub",
        ".jar",
    ),
}
#: What counts as an extension to replace: "Dr. Who" has none, "poly.html" has one.
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,16}$")


def sanitise(name: str | None, content_type: str) -> str:
    """A display name with no path, no control characters, no reserved names, bounded length.

    Its extension agrees with the sniffed type, so a downloaded PNG named ``poly.html`` (a
    PNG that is also a page) cannot be opened as a page: it is stored as ``poly.png``.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]  # the last path component, whatever the client's OS
    name = "".join(
        "_" if ch in _FORBIDDEN else ch
        for ch in name
        if unicodedata.category(ch)[0] != "C" and unicodedata.category(ch) not in {"Zl", "Zp"}
    )
    name = name.strip().strip(".").strip()
    name = _with_extension(name or "file", content_type)
    if _RESERVED.match(name):
        name = "_" + name
    return _truncate(name)


def _with_extension(name: str, content_type: str) -> str:
    """``name`` ending with one of the type's extensions (untyped files keep theirs)."""
    extensions = _EXTENSIONS.get(content_type)
    if not extensions or name.lower().endswith(extensions):
        return name
    return _EXTENSION.sub("", name) + extensions[0]


def _truncate(name: str) -> str:
    if len(name.encode()) <= MAX_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    budget = MAX_BYTES - len(suffix.encode())
    cut = stem.encode()[:budget].decode(errors="ignore")
    return cut + suffix
