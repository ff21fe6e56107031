"""Tickets of the public feedback page: a report's secret (only its hash) and the sender's
optional name and contact."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.models import FeedbackTicket, Report
from storage.newreport import report_code

# Unambiguous when copied from a phone screen or read aloud: no 0/O, 1/I/L.
SECRET_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
SECRET_GROUPS = 4  # 4 x 4 characters of 31: about 79 bits, far beyond guessing


def new_secret() -> str:
    return "-".join(
        "".join(secrets.choice(SECRET_ALPHABET) for _ in range(4)) for _ in range(SECRET_GROUPS)
    )


def normalise_secret(text: str) -> str:
    """What people type back: any case, with or without the dashes and spaces."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def hash_secret(secret: str) -> str:
    """A plain SHA-256 is enough for a long random secret; nothing guessable is hashed here."""
    return hashlib.sha256(normalise_secret(secret).encode()).hexdigest()


def normalise_code(text: str) -> str:
    """`pa-12`, `PA-0012` and `12` all name the report PA-0012."""
    cleaned = text.strip().upper().replace(" ", "")
    digits = cleaned.removeprefix("PA-").removeprefix("PA")
    if digits.isdecimal() and 0 < len(digits) <= 9:
        return report_code(int(digits))
    return cleaned[:32]


async def add_ticket(
    session: AsyncSession, report_id: int, secret: str, name: str, contact: str
) -> None:
    session.add(
        FeedbackTicket(
            report_id=report_id,
            secret_hash=hash_secret(secret),
            sender_name=name,
            sender_contact=contact,
        )
    )
    await session.flush()


async def report_for_ticket(session: AsyncSession, code: str, secret: str) -> Report | None:
    """The report whose code and secret both match; None otherwise, with the same work done
    either way, so timings do not tell a real code from a made-up one."""
    given = hash_secret(secret)
    row = (
        await session.execute(
            select(Report, FeedbackTicket.secret_hash)
            .join(FeedbackTicket, FeedbackTicket.report_id == Report.id)  # type: ignore[arg-type]
            .where(Report.code == normalise_code(code))
        )
    ).first()
    stored = row[1] if row is not None else hashlib.sha256(b"no such ticket").hexdigest()
    if not hmac.compare_digest(stored, given) or row is None:
        return None
    report: Report = row[0]
    return report
