"""Sealed links from hidden reports to their reporters.

For confidential and anonymous reports the database never holds the reporter's person id in
clear: the report carries it only as ciphertext, and each hidden reporter has one "box" listing
their hidden reports, found by a keyed tag of their person id. Without the key a dump or backup
holds no path from such a report to a person; with it, the bot can answer /my, relay questions
and outcomes, and permitted staff can reveal a confidential reporter.

Fernet (from `cryptography`) does the encryption. Tokens are made with a zero timestamp, so a
seal does not say when it was written, and plaintexts are padded to a fixed size, so its length
says nothing either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from base64 import urlsafe_b64decode
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from storage.models import (
    Conversation,
    Identity,
    InboxUpdate,
    OutboxMessage,
    Person,
    Report,
    ReporterBox,
    ReportEvent,
    WebChatMessage,
)

HIDDEN = ("confidential", "anonymous")
SEALED_CHANNEL = "sealed"  # outbox rows to a hidden reporter: resolved at send time
PAD = 256  # plaintexts are padded to a multiple of this many bytes
SESSION_KEY = "sealer"  # where a session factory carries the sealer (session.info)


class SealError(Exception):
    """A seal could not be opened: the key is wrong, or no key was given."""


def new_key() -> str:
    return Fernet.generate_key().decode()


class Sealer:
    """Seals with the first key; opens with any of them (the others are old keys mid-rotation)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("a sealer needs at least one key")
        self.keys = list(keys)
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        self._tag_keys = [_tag_key(k) for k in keys]

    def seal(self, value: Any) -> str:
        data = json.dumps(value, separators=(",", ":")).encode()
        data += b" " * (-len(data) % PAD)  # JSON ignores trailing blanks
        return self._fernet.encrypt_at_time(data, 0).decode()

    def open(self, token: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SealError("the seal key cannot open this seal") from None

    def reseal(self, token: str) -> str:
        """The same value sealed under the first key (for key rotation)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SealError("the seal key cannot open this seal") from None

    def tag(self, person_id: int) -> str:
        """The keyed tag of a reporter's box, under the first key."""
        return self.tags(person_id)[0]

    def tags(self, person_id: int) -> list[str]:
        """The tag under every key, so a box is found under an old key too."""
        msg = f"reporter-box:{person_id}".encode()
        return [hmac.new(k, msg, hashlib.sha256).hexdigest() for k in self._tag_keys]


def shared_secret(sessions: async_sessionmaker[AsyncSession], purpose: str) -> bytes | None:
    """A secret every instance derives alike from the seal key they share (e.g. to sign the
    feedback form, which one instance draws and another may receive); None without a key."""
    sealer = sealer_of(sessions())  # a session not yet connected: only its `info` is read
    if sealer is None:
        return None
    raw = urlsafe_b64decode(sealer.keys[0].encode())
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
    return hkdf.derive(raw)


def keyed_digest(secret: bytes | None, value: str) -> str:
    """A value as a table may keep it without naming anyone (a person's id in a rate-limit
    key): keyed by a secret derived from the seal key, so a dump alone cannot test guesses.
    Without a seal key, a plain hash."""
    if secret is None:
        return hashlib.sha256(value.encode()).hexdigest()[:32]
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]


def _tag_key(key: str) -> bytes:
    """A separate key for tags, derived from the Fernet key, so one key never serves two uses."""
    raw = urlsafe_b64decode(key.encode())
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"grassroots reporter box")
    return hkdf.derive(raw)


def sealer_of(session: AsyncSession) -> Sealer | None:
    found = session.info.get(SESSION_KEY)
    return found if isinstance(found, Sealer) else None


def require_sealer(session: AsyncSession) -> Sealer:
    sealer = sealer_of(session)
    if sealer is None:
        raise SealError("no seal key is configured for this database session")
    return sealer


# -- the report's side: who sent it ---------------------------------------------------------------
def seal_reporter(sealer: Sealer, person_id: int) -> str:
    return sealer.seal({"person": person_id})


def sealed_person(session: AsyncSession, report: Report) -> int | None:
    """The reporter's person id: in clear for named reports, unsealed for hidden ones."""
    if report.person_id is not None:
        return report.person_id
    if not report.sealed_reporter:
        return None
    sealer = sealer_of(session)
    if sealer is None:
        return None
    return int(sealer.open(report.sealed_reporter)["person"])


# -- the reporter's side: which hidden reports are theirs ------------------------------------------
async def _box(session: AsyncSession, sealer: Sealer, person_id: int) -> ReporterBox | None:
    stmt = select(ReporterBox).where(col(ReporterBox.tag).in_(sealer.tags(person_id)))
    return (await session.execute(stmt)).scalars().first()


async def hidden_report_ids(session: AsyncSession, person_id: int) -> list[int]:
    sealer = sealer_of(session)
    if sealer is None:
        return []
    box = await _box(session, sealer, person_id)
    if box is None:
        return []
    return [int(i) for i in sealer.open(box.token)["reports"]]


async def add_hidden_report(
    session: AsyncSession, sealer: Sealer, person_id: int, report_id: int
) -> None:
    box = await _box(session, sealer, person_id)
    if box is None:
        box = ReporterBox(tag="", token="")
    box.tag, box.token = boxed(sealer, person_id, box.token or None, report_id)
    session.add(box)
    await session.flush()


def boxed(sealer: Sealer, person_id: int, token: str | None, report_id: int) -> tuple[str, str]:
    """A reporter's box (its tag and sealed token, found as `token` or new) with one more
    hidden report in it."""
    ids = [int(i) for i in sealer.open(token)["reports"]] if token else []
    return sealer.tag(person_id), sealer.seal({"person": person_id, "reports": [*ids, report_id]})


# -- operators -------------------------------------------------------------------------------------
async def first_seal(session: AsyncSession) -> str | None:
    """Any one seal in the database, to check at start-up that the key opens it."""
    stmt = select(Report.sealed_reporter).where(col(Report.sealed_reporter).is_not(None)).limit(1)
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found:
        return found
    box = (await session.execute(select(ReporterBox.token).limit(1))).scalar_one_or_none()
    if box:
        return box
    # Only web chat transcripts may be sealed yet (a web chat used before any hidden report).
    newest = select(WebChatMessage.payload).order_by(col(WebChatMessage.id).desc()).limit(1)
    latest = (await session.execute(newest)).scalar_one_or_none()
    token = latest.get("sealed") if isinstance(latest, dict) else None
    return token if isinstance(token, str) else None


async def reseal_all(session: AsyncSession, sealer: Sealer) -> int:
    """Re-seal every seal under the sealer's first key, in the caller's transaction; returns how
    many. Running it again is harmless: seals already under the first key are sealed afresh."""
    count = 0
    reports = await session.execute(
        select(Report).where(col(Report.sealed_reporter).is_not(None)).with_for_update()
    )
    for report in reports.scalars():
        assert report.sealed_reporter is not None
        report.sealed_reporter = sealer.reseal(report.sealed_reporter)
        session.add(report)
        count += 1
    boxes = await session.execute(select(ReporterBox).with_for_update())
    for box in boxes.scalars():
        content = sealer.open(box.token)
        box.tag = sealer.tag(int(content["person"]))
        box.token = sealer.seal(content)
        session.add(box)
        count += 1
    # Sealed parts of conversation states, the web chat's transcript, replies deferred to the
    # outbox and updates waiting in the inbox.
    unsent = col(OutboxMessage.status).in_(("pending", "sending"))  # sent ones are never read
    for stmt, column in (
        (select(Conversation), "state"),
        (select(WebChatMessage), "payload"),
        (select(OutboxMessage).where(unsent), "payload"),
        (select(InboxUpdate), "payload"),
    ):
        for row in (await session.execute(stmt.with_for_update())).scalars():
            value = dict(getattr(row, column))
            if isinstance(value.get("sealed"), str):
                value["sealed"] = sealer.reseal(value["sealed"])
                setattr(row, column, value)
                session.add(row)
                count += 1
    await session.flush()
    return count


def sealed_address(report_id: int) -> str:
    """The outbox address of a hidden report's reporter: it names the report, not the person."""
    return f"report:{report_id}"


async def seal_existing(session: AsyncSession, sealer: Sealer) -> int:
    """Seal hidden reports written before sealing existed: their person id, the reporter's own
    events and the outbox rows to them. Idempotent; returns how many reports it sealed."""
    stmt = select(Report).where(
        col(Report.anonymity).in_(HIDDEN), col(Report.person_id).is_not(None)
    )
    count = 0
    for report in (await session.execute(stmt)).scalars().all():
        assert report.id is not None and report.person_id is not None
        person_id = report.person_id
        report.sealed_reporter = seal_reporter(sealer, person_id)
        report.person_id = None
        session.add(report)
        await add_hidden_report(session, sealer, person_id, report.id)
        await session.execute(
            update(ReportEvent)
            .where(
                col(ReportEvent.report_id) == report.id,
                col(ReportEvent.actor_person_id) == person_id,
            )
            .values(actor_person_id=None)
        )
        await session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.idempotency_key).startswith(f"notice:{report.id}:"))
            .values(channel=SEALED_CHANNEL, chat_id=sealed_address(report.id))
        )
        count += 1
    await session.flush()
    return count


async def reporter_address(session: AsyncSession, report: Report) -> tuple[str, str, str] | None:
    """(channel, chat id, locale) of the reporter: the messenger they last talked to us on, else
    the one they reported from. For a hidden report this needs the key."""
    person_id = sealed_person(session, report)
    if person_id is None:
        return None
    person = await session.get(Person, person_id)
    if person is None:
        return None
    stmt = select(Identity).where(Identity.person_id == person_id).order_by(col(Identity.id))
    identities = (await session.execute(stmt)).scalars().all()
    for channel in (person.last_channel, report.channel):
        ident = next((i for i in identities if i.channel == channel), None)
        if ident is not None:
            return ident.channel, ident.external_id, person.locale
    if not identities:
        return None
    return identities[0].channel, identities[0].external_id, person.locale


async def resolve_sealed(session: AsyncSession, address: str) -> tuple[str, str] | None:
    """Where an outbox row addressed to `report:ID` goes now; None if nowhere."""
    kind, _, ident = address.partition(":")
    if kind != "report" or not ident.isdecimal():
        return None
    report = await session.get(Report, int(ident))
    if report is None:
        return None
    found = await reporter_address(session, report)
    return (found[0], found[1]) if found else None


def seal_payload(session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
    """A web chat transcript entry, sealed: the transcript sits beside the session that is the
    web reporter's identity, and holds their report codes and what they wrote."""
    sealer = sealer_of(session)
    return {"sealed": sealer.seal(payload)} if sealer is not None else payload


def open_payload(session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
    token = payload.get("sealed")
    sealer = sealer_of(session)
    if not isinstance(token, str) or sealer is None:
        return dict(payload)
    return dict(sealer.open(token))
