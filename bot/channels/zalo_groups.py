"""Leaders' and staff's Zalo group chats, through the Official Account API, as an outbox
channel named "zalo-oa": `grassroots chat bind leaders --channel zalo-oa --chat GROUP_ID`."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from bot.channels.zalo_client import ZaloAuthError, ZaloError, ZaloRateLimited
from bot.channels.zalo_oa import MAX_UPLOAD_BYTES, OATokens, ZaloOAClient, ZaloOARefreshError
from bot.render import payload_message, typed_text
from scheduler.sender import DeliveryError

CHANNEL = "zalo-oa"


class TokenPairs(Protocol):
    """Where the pair is kept between runs (the `oa_token` table, through storage.oatokens)."""

    async def load_pair(self) -> tuple[str, str, datetime] | None: ...

    async def save_pair(self, access: str, refresh: str, expires_at: datetime) -> None: ...


class StoredTokens:
    """Adapts a stored pair to the OA client's TokenStore protocol."""

    def __init__(self, store: TokenPairs) -> None:
        self.store = store

    async def load(self) -> OATokens | None:
        pair = await self.store.load_pair()
        return OATokens(*pair) if pair else None

    async def save(self, tokens: OATokens) -> None:
        await self.store.save_pair(tokens.access_token, tokens.refresh_token, tokens.expires_at)


class ZaloGroups:
    """The outbox's sender for OA groups. Zalo has no buttons and no edits: choices go out
    numbered and a card edit is a new message. A photo (the digest's chart) is uploaded and
    posted as an image with its caption; other files are announced by their caption."""

    def __init__(self, client: ZaloOAClient, attachments_dir: Path | None = None) -> None:
        self.client = client
        self.attachments_dir = attachments_dir

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        try:
            return await self._deliver(chat_id, payload)
        except ZaloOARefreshError as exc:
            raise DeliveryError(
                f"Zalo OA authorisation needs renewing: {exc}", permanent=True
            ) from exc
        except ZaloRateLimited as exc:
            raise DeliveryError(
                str(exc), retry_after=getattr(exc, "retry_after", None) or 60
            ) from exc
        except ZaloAuthError as exc:
            raise DeliveryError(str(exc), permanent=True) from exc
        except ZaloError as exc:
            raise DeliveryError(str(exc), permanent=exc.permanent) from exc

    async def _deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        kind = payload.get("kind", "text")
        if kind == "photo":
            image = await self._image(str(payload.get("path") or ""))
            if image is not None:
                name = PurePosixPath(str(payload["path"])).name
                result = await self.client.send_group_image(
                    chat_id, image, name, str(payload.get("caption") or "")
                )
                return _message_id([result])
        if kind in ("text", "card", "card_edit"):
            text = typed_text(payload_message(chat_id, payload))
        else:  # a file the OA cannot post here is announced by its caption
            text = f"📎 {payload.get('caption') or kind}"
        return _message_id(await self.client.send_group_text(chat_id, text))

    async def _image(self, rel: str) -> bytes | None:
        """The stored picture's bytes; None when it is over the OA's upload limit (then only
        its caption is posted). A path leaving ATTACHMENTS_DIR or a missing file fails."""
        pure = PurePosixPath(rel)
        if self.attachments_dir is None or not rel or pure.is_absolute() or ".." in pure.parts:
            raise DeliveryError(f"invalid attachment path: {rel!r}", permanent=True)
        target = self.attachments_dir / pure
        try:
            size = (await asyncio.to_thread(target.stat)).st_size
            if size > MAX_UPLOAD_BYTES:
                return None
            return await asyncio.to_thread(target.read_bytes)
        except OSError as exc:
            raise DeliveryError(f"attachment missing: {rel}", permanent=True) from exc

    async def close(self) -> None:
        await self.client.close()


def _message_id(results: list[dict[str, Any]]) -> str | None:
    for result in reversed(results):
        if result.get("message_id"):
            return str(result["message_id"])
    return None
