"""Where channel adapters store received files: ATTACHMENTS_DIR/YYYY/MM/<random>.<ext>, so names
cannot be guessed and no folder grows without bound."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path


def new_attachment_path(suffix: str) -> Path:
    """A fresh relative path; `suffix` is the file's extension with its dot (".jpg")."""
    now = datetime.now(UTC)
    return Path(f"{now:%Y}") / f"{now:%m}" / f"{uuid.uuid4().hex}{suffix}"
