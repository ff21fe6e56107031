"""Where channel adapters store received files: ATTACHMENTS_DIR/YYYY/MM/<random>.<ext>, so names
cannot be guessed and no folder grows without bound."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

MAX_PIXELS = 40_000_000  # a 40-megapixel photo decodes to about 160 MB; more is refused
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic"})


def new_attachment_path(suffix: str) -> Path:
    """A fresh relative path; `suffix` is the file's extension with its dot (".jpg")."""
    now = datetime.now(UTC)
    return Path(f"{now:%Y}") / f"{now:%m}" / f"{uuid.uuid4().hex}{suffix}"


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
