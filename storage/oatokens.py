"""The Zalo OA token pair in the database: one row, replaced in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from storage.models import OAToken


class DbTokenStore:
    """The token pair port of bot.channels.zalo_groups (TokenPairs) over the `oa_token` table;
    `seed` is the pair an operator pasted into the settings, used until the first refresh."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        seed_access: str = "",
        seed_refresh: str = "",
    ) -> None:
        self.sessions = sessions
        self.seed_access = seed_access
        self.seed_refresh = seed_refresh

    async def load_pair(self) -> tuple[str, str, datetime] | None:
        async with self.sessions() as session:
            row = (
                (await session.execute(select(OAToken).order_by(col(OAToken.id)))).scalars().first()
            )
        if row is not None:
            return row.access_token, row.refresh_token, row.expires_at
        if self.seed_refresh:
            # Unknown age: treat the pasted access token as about to expire, so it is refreshed.
            return self.seed_access, self.seed_refresh, datetime.now(UTC)
        return None

    async def save_pair(self, access: str, refresh: str, expires_at: datetime) -> None:
        async with self.sessions() as session, session.begin():
            row = (
                (await session.execute(select(OAToken).order_by(col(OAToken.id)))).scalars().first()
            )
            if row is None:
                row = OAToken(access_token=access, refresh_token=refresh, expires_at=expires_at)
            row.access_token, row.refresh_token, row.expires_at = access, refresh, expires_at
            row.updated_at = datetime.now(UTC)
            session.add(row)
