"""Web admin accounts, one-time sign-in links and sessions.

Tokens and session ids are random; only their SHA-256 is stored, so a copy of the database
cannot be used to sign in. Password hashing itself happens in bot/admin (argon2, off the loop).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import ratelimit
from storage.models import Department, LinkCode, Person, WebAccount, WebLoginToken, WebSession

SESSION_HOURS = 12


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class WebPerson:
    """Who is behind a session, read fresh on every request so a role change applies at once."""

    id: int
    display_name: str
    role: str
    department_id: int | None
    department_code: str | None
    can_reveal: bool
    locale: str


class AccountError(Exception):
    """An operator asked for an account change that cannot be made; the message says why."""


async def web_person(session: AsyncSession, person_id: int) -> WebPerson | None:
    person = await session.get(Person, person_id)
    if person is None or person.id is None:
        return None
    dept = await session.get(Department, person.department_id) if person.department_id else None
    return WebPerson(
        person.id,
        person.display_name,
        person.role,
        person.department_id,
        dept.code if dept else None,
        person.can_reveal,
        person.locale,
    )


# -- accounts ------------------------------------------------------------------------------------
async def account(session: AsyncSession, username: str) -> WebAccount | None:
    stmt = select(WebAccount).where(WebAccount.username == username.strip().lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_account(
    session: AsyncSession, username: str, password_hash: str, person_id: int
) -> WebAccount:
    name = username.strip().lower()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-" for c in name):
        raise AccountError("usernames are 1-64 letters, digits, dots, dashes or underscores")
    if await account(session, name) is not None:
        raise AccountError(f"the username {name!r} is taken")
    if await session.get(Person, person_id) is None:
        raise AccountError(f"there is no person with id {person_id}")
    row = WebAccount(username=name, password_hash=password_hash, person_id=person_id)
    session.add(row)
    await session.flush()
    return row


async def set_password_hash(session: AsyncSession, username: str, password_hash: str) -> None:
    row = await account(session, username)
    if row is None:
        raise AccountError(f"there is no account {username.strip().lower()!r}")
    row.password_hash = password_hash
    session.add(row)
    # A new password signs out every browser that used the old one.
    await end_sessions(session, row.person_id)


# -- one-time sign-in links ----------------------------------------------------------------------
async def issue_login_token(session: AsyncSession, person_id: int, valid_minutes: int) -> str:
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(minutes=valid_minutes)
    session.add(WebLoginToken(token_hash=digest(token), person_id=person_id, expires_at=expires))
    await session.flush()
    return token


async def redeem_login_token(session: AsyncSession, token: str) -> int | None:
    """The token's person, once: an atomic claim, so two clicks cannot both sign in."""
    if not token or len(token) > 128:
        return None
    now = datetime.now(UTC)
    claimed = await session.execute(
        update(WebLoginToken)
        .where(
            col(WebLoginToken.token_hash) == digest(token),
            col(WebLoginToken.used_at).is_(None),
            col(WebLoginToken.expires_at) > now,
        )
        .values(used_at=now)
        .returning(col(WebLoginToken.person_id))
    )
    return claimed.scalar_one_or_none()


async def login_token_is_live(session: AsyncSession, token: str) -> bool:
    if not token or len(token) > 128:
        return False
    stmt = select(WebLoginToken.id).where(
        WebLoginToken.token_hash == digest(token),
        col(WebLoginToken.used_at).is_(None),
        col(WebLoginToken.expires_at) > datetime.now(UTC),
    )
    return (await session.execute(stmt)).first() is not None


# -- sessions ------------------------------------------------------------------------------------
async def open_session(session: AsyncSession, person_id: int) -> tuple[str, str]:
    """A new session: (the cookie's value, its CSRF token)."""
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.add(
        WebSession(
            session_hash=digest(sid),
            person_id=person_id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
    )
    await session.flush()
    return sid, csrf


async def find_session(session: AsyncSession, sid: str) -> WebSession | None:
    if not sid or len(sid) > 128:
        return None
    stmt = select(WebSession).where(
        WebSession.session_hash == digest(sid), col(WebSession.expires_at) > datetime.now(UTC)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def end_sessions(session: AsyncSession, person_id: int) -> None:
    """Sign a person out everywhere, e.g. when their role or rights change."""
    await session.execute(delete(WebSession).where(col(WebSession.person_id) == person_id))


async def close_session(session: AsyncSession, sid: str) -> None:
    await session.execute(delete(WebSession).where(col(WebSession.session_hash) == digest(sid)))


async def prune(session: AsyncSession) -> None:
    """Drop expired sessions, sign-in links, /link codes and rate-limit counts."""
    now = datetime.now(UTC)
    await ratelimit.prune(session)
    await session.execute(delete(LinkCode).where(col(LinkCode.expires_at) <= now))
    await session.execute(delete(WebSession).where(col(WebSession.expires_at) <= now))
    await session.execute(delete(WebLoginToken).where(col(WebLoginToken.expires_at) <= now))
