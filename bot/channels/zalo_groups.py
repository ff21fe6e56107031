"""Leaders' and staff's Zalo group chats, through the Official Account API, as an outbox
channel named "zalo-oa": `grassroots chat bind leaders --channel zalo-oa --chat GROUP_ID`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bot.channels.zalo_client import ZaloAuthError, ZaloError, ZaloRateLimited
from bot.channels.zalo_oa import OATokens, ZaloOAClient, ZaloOARefreshError
from bot.render import numbered_text
from handlers.types import Choice, Outbound
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
    def __init__(self, client: ZaloOAClient) -> None:
        self.client = client

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        kind = payload.get("kind", "text")
        if kind in ("text", "card", "card_edit"):
            choices = tuple(Choice(label, data) for data, label in payload.get("choices") or [])
            text = numbered_text(Outbound(chat_id, payload["text"], choices))
        else:  # group messages here carry text; a chart or photo is announced by its caption
            text = f"📎 {payload.get('caption') or kind}"
        try:
            await self.client.send_group_text(chat_id, text)
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
        return None

    async def close(self) -> None:
        await self.client.close()
