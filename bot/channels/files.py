"""Where channel adapters store received files: ATTACHMENTS_DIR/YYYY/MM/<random>.<ext>, so names
cannot be guessed and no folder grows without bound."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from handlers.types import Inbound

CHUNK = 64 * 1024  # bytes read and written at a time
MAX_PIXELS = 40_000_000  # a 40-megapixel photo decodes to about 160 MB; more is refused
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic"})
# Of these stored files received in this conversation (channel, user id), the ones nothing holds
# (Dispatcher.unheld_files, which asks storage).
UnheldFiles = Callable[[list[str], tuple[str, str]], Awaitable[list[str]]]


async def save_capped(target: Path, read: Callable[[], Awaitable[bytes]], limit: int) -> int:
    """Write what `read` gives (b"" at the end) to `target`, its folder made, stopping once
    past `limit` bytes, so an oversized file never fills the disk. Returns the bytes read:
    more than `limit` means it was too large, and the partial file is already gone."""
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    size = 0
    fh = await asyncio.to_thread(target.open, "wb")
    try:
        while chunk := await read():
            size += len(chunk)
            if size > limit:
                break
            await asyncio.to_thread(fh.write, chunk)
    finally:
        await asyncio.to_thread(fh.close)
    if size > limit:
        await asyncio.to_thread(target.unlink, True)
    return size


def new_attachment_path(suffix: str) -> Path:
    """A fresh relative path; `suffix` is the file's extension with its dot (".jpg")."""
    now = datetime.now(UTC)
    return Path(f"{now:%Y}") / f"{now:%m}" / f"{uuid.uuid4().hex}{suffix}"


async def discard_unheld(unheld: UnheldFiles, root: Path, inbound: Inbound) -> None:
    """After the core has handled `inbound`, delete the files it received that neither a draft
    nor a report took: the core refused them (a file where none was asked, a kind it does not
    accept, a replay), and nobody must find them on disk later."""
    refs = [m.ref for m in inbound.media if m.ref]
    if not refs:
        return
    for ref in await unheld(refs, (inbound.channel, inbound.user_id)):
        await asyncio.to_thread((root / ref).unlink, True)


def scrub_image(path: Path) -> bool:
    """Rewrite a stored image without its metadata. EXIF can carry GPS positions, device owners'
    names and timestamps, which would undo a reporter's anonymity once staff open the file.
    Runs in a thread (it is CPU work); anything that is not a readable image is left as it is.
    False means: refuse the file, it has too many pixels to decode safely (a few hundred kB of
    PNG can unpack to gigabytes); the header is read first, so nothing big is decoded."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            fmt = img.format
            if fmt not in ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "HEIC"):
                return True
            if img.width * img.height > MAX_PIXELS:
                return False
            clean = ImageOps.exif_transpose(img)  # keep the picture upright without the tag
            clean.load()
        options = {"quality": 90} if fmt in ("JPEG", "WEBP") else {}
        clean.save(path, format=fmt if fmt != "HEIC" else "JPEG", **options)
    except Image.DecompressionBombError:
        return False
    except (UnidentifiedImageError, OSError, ValueError):
        return True
    return True
