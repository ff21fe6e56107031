"""Files sent with the public form: only photos and ordinary documents, checked by their
content rather than their name, stored under names we make up, and photos stripped of their
metadata before anyone can open them."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader

from bot.channels.files import MAX_PIXELS, new_attachment_path, save_capped, scrub_image
from handlers.i18n import N_

CHUNK = 64 * 1024
MAX_NAME = 120

ZIP = b"PK\x03\x04"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class FileType:
    kind: str  # photo | document, as chat attachments
    mime: str
    looks_right: Callable[[bytes], bool]


def _text(head: bytes) -> bool:
    return b"\0" not in head


TYPES: dict[str, FileType] = {
    ".jpg": FileType("photo", "image/jpeg", lambda h: h.startswith(b"\xff\xd8\xff")),
    ".jpeg": FileType("photo", "image/jpeg", lambda h: h.startswith(b"\xff\xd8\xff")),
    ".png": FileType("photo", "image/png", lambda h: h.startswith(b"\x89PNG\r\n\x1a\n")),
    ".webp": FileType("photo", "image/webp", lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP"),
    ".gif": FileType("photo", "image/gif", lambda h: h[:6] in (b"GIF87a", b"GIF89a")),
    ".pdf": FileType("document", "application/pdf", lambda h: h.startswith(b"%PDF-")),
    ".docx": FileType(
        "document",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        lambda h: h.startswith(ZIP),
    ),
    ".xlsx": FileType(
        "document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        lambda h: h.startswith(ZIP),
    ),
    ".odt": FileType(
        "document", "application/vnd.oasis.opendocument.text", lambda h: h.startswith(ZIP)
    ),
    ".doc": FileType("document", "application/msword", lambda h: h.startswith(OLE)),
    ".xls": FileType("document", "application/vnd.ms-excel", lambda h: h.startswith(OLE)),
    ".txt": FileType("document", "text/plain", _text),
}
ACCEPT = ",".join(sorted(TYPES))  # for the file input's `accept`


class UploadRefused(Exception):
    """A file we will not keep; `message` is a msgid, formatted with `values`."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message)
        self.message = message
        self.values = values


def safe_name(raw: str) -> str:
    """The file's own name as the sender's device gave it, if it is a plain name. Folders,
    `..`, hidden files and control characters are refused, not silently cleaned, so nothing
    odd ever reaches a path or a staff screen."""
    name = unicodedata.normalize("NFC", raw or "").strip()
    if (
        not name
        or len(name) > MAX_NAME
        or name.startswith(".")
        or ".." in name
        or any(ch in name for ch in "/\\:")
        or any(unicodedata.category(ch)[0] == "C" for ch in name)
    ):
        raise UploadRefused(
            N_(
                "The file name “{name}” is not accepted. Rename the file to a plain name (letters, numbers, dashes) and choose it again."
            ),
            name=(raw or "")[:60],
        )
    return name


@dataclass(frozen=True)
class StoredFile:
    kind: str
    ref: str  # relative to ATTACHMENTS_DIR
    mime: str
    size: int
    name: str

    def as_answer(self) -> dict[str, Any]:
        """The shape a chat report's attachment answer has, so the store treats both alike."""
        return {
            "kind": self.kind,
            "ref": self.ref,
            "mime": self.mime,
            "size": self.size,
            "name": self.name,
        }


DAMAGED = N_("“{name}” is empty, damaged or not really the kind of file its name says.")
BOMB = N_(
    "The picture “{name}” is too large to open (more than {max} megapixels). Please send a smaller photo or a screenshot."
)
TOO_LARGE = N_(
    "The attachments are too large: at most {mb} MB in all. Choose smaller or fewer files."
)


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f}" if size >= 1024 * 1024 else f"{size / (1024 * 1024):.2f}"


async def receive_file(
    part: BodyPartReader, root: Path, budget: int, total_limit: int
) -> StoredFile:
    """Stream one file part to disk within the `budget` bytes left of `total_limit`; raises
    UploadRefused (and keeps nothing) for a bad name, type, content or size."""
    name = safe_name(part.filename or "")
    suffix = Path(name).suffix.lower()
    file_type = TYPES.get(suffix)
    if file_type is None:
        raise UploadRefused(
            N_(
                "“{name}” is not a kind of file we accept. Send photos (JPG, PNG, WebP, GIF) or documents (PDF, Word, Excel, OpenDocument, text)."
            ),
            name=name,
        )
    rel = new_attachment_path(suffix)
    target = root / rel
    head = bytearray()

    async def read() -> bytes:  # its first bytes say what the file really is
        chunk = await part.read_chunk(CHUNK)
        if len(head) < 16:
            head.extend(chunk[:16])
        return chunk

    size = await save_capped(target, read, budget)
    try:
        if size > budget:
            raise UploadRefused(TOO_LARGE, mb=megabytes(total_limit))
        if size == 0 or not file_type.looks_right(bytes(head)):
            raise UploadRefused(DAMAGED, name=name)
        if file_type.kind == "photo":
            await asyncio.to_thread(_clean_photo, target, name)
    except UploadRefused:
        await asyncio.to_thread(target.unlink, True)
        raise
    return StoredFile(file_type.kind, rel.as_posix(), file_type.mime, size, name)


def _clean_photo(path: Path, name: str) -> None:
    """Strip a photo's metadata; raises UploadRefused when it is not a readable image or has
    too many pixels to open safely."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.verify()
    except Image.DecompressionBombError:
        raise UploadRefused(BOMB, name=name, max=MAX_PIXELS // 1_000_000) from None
    except Exception:  # any unreadable or hostile image is refused
        raise UploadRefused(DAMAGED, name=name) from None
    if not scrub_image(path):
        raise UploadRefused(BOMB, name=name, max=MAX_PIXELS // 1_000_000)


def discard(root: Path, files: list[StoredFile]) -> None:
    """Remove files kept for a submission that was refused after all."""
    for f in files:
        (root / f.ref).unlink(missing_ok=True)
