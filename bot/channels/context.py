"""What every channel adapter is built with, in one object instead of the same arguments
repeated in each constructor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.channels.files import discard_unheld
from bot.dispatcher import Dispatcher
from handlers.i18n import Translations
from handlers.types import Inbound


@dataclass(frozen=True)
class ChannelContext:
    """`dispatcher` is the way in for events (`Dispatcher.run`) and to the inbox and outbox;
    received files go under `attachments_dir`, none above `max_attachment_bytes`; `public_url`
    is where people reach this server ("" when it is not public)."""

    dispatcher: Dispatcher
    translations: Translations
    attachments_dir: Path
    max_attachment_bytes: int
    public_url: str = ""

    async def discard_unheld(self, inbound: Inbound) -> None:
        """Delete the files `inbound` brought that the core did not take (see files.py)."""
        await discard_unheld(self.dispatcher.unheld_files, self.attachments_dir, inbound)
