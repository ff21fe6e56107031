"""SQLModel tables. Every change here needs an Alembic migration in storage/migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back aware, in UTC.

    SQLite stores no zone and hands back naive values; PostgreSQL hands back aware ones. This one
    type makes both alike, so no caller has to repair times it reads."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # naive times in our code are UTC by convention
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time_column() -> Column[Any]:
    return Column(UTCDateTime(), index=True)


def _ts(index: bool = False) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), index=index))


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_unit"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=300)
    kind: str = Field(max_length=32)  # party_committee | cell
    host_kind: str = Field(max_length=32)
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id")


class Department(SQLModel, table=True):
    """A body that handles cases: one of the committee's boards or a provincial department."""

    __tablename__ = "department"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=32)
    name: str = Field(max_length=300)
    kind: str = Field(default="internal", max_length=16)  # internal | external


class Person(SQLModel, table=True):
    __tablename__ = "person"
    id: int | None = Field(default=None, primary_key=True)
    display_name: str = Field(default="", max_length=200)
    role: str = Field(default="member", max_length=32)
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    department_id: int | None = Field(default=None, foreign_key="department.id")  # handlers
    can_reveal: bool = False  # may see confidential reporters; every look is logged
    # Where they last talked to us: notifications follow the person there.
    last_channel: str = Field(default="", max_length=16)
    locale: str = Field(default="vi", max_length=8)
    privacy_accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = _ts()


class Identity(SQLModel, table=True):
    """One person may talk to us on several channels."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    username: str = Field(default="", max_length=64)
    created_at: datetime = _ts()


class Invite(SQLModel, table=True):
    __tablename__ = "invite"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=32)
    role: str = Field(max_length=32)
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    department_id: int | None = Field(default=None, foreign_key="department.id")
    can_reveal: bool = False
    uses_left: int = 1
    created_at: datetime = _ts()


class ChatBinding(SQLModel, table=True):
    """A group chat bound to a role: leaders, staff or department:CODE."""

    __tablename__ = "chat_binding"
    __table_args__ = (UniqueConstraint("role", "channel", "chat_id"),)
    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(max_length=64, index=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    created_at: datetime = _ts()


class Conversation(SQLModel, table=True):
    """A person's place in a flow, as JSON; `version` guards against lost updates."""

    __tablename__ = "conversation"
    __table_args__ = (UniqueConstraint("channel", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    user_id: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)
    state: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    version: int = 0
    updated_at: datetime = _ts(index=True)


class InboundUpdate(SQLModel, table=True):
    """Seen updates, so a replay or a webhook retry is processed once."""

    __tablename__ = "inbound_update"
    __table_args__ = (UniqueConstraint("channel", "update_key"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    update_key: str = Field(max_length=128)
    received_at: datetime = _ts(index=True)


class InboxUpdate(SQLModel, table=True):
    """An update fetched from a messenger and not yet handled. Written before the update is
    acknowledged and deleted once handled, so a crash in between loses nothing; it holds the
    raw update (names, text) only that long."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("channel", "update_key"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    update_key: str = Field(max_length=128)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = _ts()
    # The instance that received it (storage/liveness.py); unknown (None) on older rows and on
    # SQLite. Only the rows of an instance that is no longer alive are for another to take.
    owner: int | None = Field(default=None)


class Report(SQLModel, table=True):
    __tablename__ = "report"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(default="", index=True, max_length=32)
    # Named reports only. A hidden (confidential or anonymous) report keeps its reporter only in
    # `sealed_reporter`, ciphertext under the seal key (storage/seal.py).
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    sealed_reporter: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Indexed for the admin's case list filters, which page by id over a million rows.
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    category: str = Field(max_length=64, index=True)
    urgency: str = Field(max_length=16, index=True)
    description: str = Field(sa_column=Column(Text, nullable=False))
    anonymity: str = Field(max_length=16)
    status: str = Field(default="new", max_length=32, index=True)
    channel: str = Field(max_length=16)
    locale: str = Field(default="vi", max_length=8)
    created_at: datetime = _ts(index=True)
    # Casework. `version` rises with every change, so a button pressed on an older card, or two
    # staffers pressing at once, is detected instead of overwriting.
    version: int = 0
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    # Indexed: the digest and the nudges select by these times over the whole table.
    due_at: datetime | None = Field(default=None, sa_column=_time_column())
    acknowledged_at: datetime | None = Field(default=None, sa_column=_time_column())
    resolved_at: datetime | None = Field(default=None, sa_column=_time_column())
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    duplicate_of_id: int | None = Field(default=None, foreign_key="report.id")
    rating: int | None = None
    delivery_problem: str = Field(default="", max_length=300)
    # A case opened from a situation report's pressing issue.
    poll_response_id: int | None = Field(default=None, foreign_key="poll_response.id")


class ReporterBox(SQLModel, table=True):
    """One hidden reporter's list of hidden reports, sealed, found by a keyed tag of their person
    id: without the seal key neither side can be read or linked."""

    __tablename__ = "reporter_box"
    id: int | None = Field(default=None, primary_key=True)
    tag: str = Field(unique=True, max_length=64)
    token: str = Field(sa_column=Column(Text, nullable=False))


class ReportEvent(SQLModel, table=True):
    __tablename__ = "report_event"
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    actor_person_id: int | None = Field(default=None, foreign_key="person.id")
    at: datetime = _ts()
    from_status: str = Field(default="", max_length=32)
    to_status: str = Field(max_length=32)
    action: str = Field(default="", max_length=16)  # what happened; "" for the first event
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Attachment(SQLModel, table=True):
    __tablename__ = "attachment"
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    kind: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    channel_ref: str = Field(default="", max_length=256)
    path: str = Field(default="", max_length=512)  # relative to ATTACHMENTS_DIR
    mime: str = Field(default="", max_length=128)
    size: int = 0
    name: str = Field(default="", max_length=256)
    latitude: float | None = None
    longitude: float | None = None


class OutboxMessage(SQLModel, table=True):
    """A proactive message, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"
    # The worker's queue: pending rows in the order they are claimed (storage/outbox.py `due`),
    # and a chat's unsettled rows, which hold back its later ones. Partial, so the sent rows
    # (nearly all of the table) are in neither.
    __table_args__ = (
        Index(
            "ix_outbox_due",
            "priority",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_outbox_unsettled",
            "chat_id",
            "channel",
            sqlite_where=text("status IN ('pending', 'sending')"),
            postgresql_where=text("status IN ('pending', 'sending')"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=128)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # pending | sending (claimed; its request may be on the wire) | sent | failed
    status: str = Field(default="pending", max_length=16, index=True)
    # 0 urgent (hot alerts, escalations, replies, case updates), 1 normal, 2 bulk (poll
    # invitations, digests): claimed in this order, then oldest first (storage/outbox.py).
    priority: int = Field(
        default=1, sa_column=Column(SmallInteger, nullable=False, server_default="1")
    )
    attempts: int = 0
    # It was on the wire when the process died, so it was sent again: it may have arrived twice.
    in_doubt: bool = False
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = _ts()
    next_attempt_at: datetime = _ts(index=True)
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class WebChatMessage(SQLModel, table=True):
    """The web chat's transcript, so a reload on a flaky phone shows the conversation again."""

    __tablename__ = "web_chat_message"
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=64, index=True)
    client_id: str | None = Field(default=None, max_length=64, index=True)  # the page's message id
    sender: str = Field(max_length=8)  # user | bot
    proactive: bool = False  # came through the outbox rather than as a direct reply
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()


class CaseCard(SQLModel, table=True):
    """Where a case's card was posted, so it can be edited in place as the case moves."""

    __tablename__ = "case_card"
    __table_args__ = (UniqueConstraint("report_id", "channel", "chat_id"),)
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    audience: str = Field(max_length=16)  # staff | department
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    message_id: str = Field(default="", max_length=64)


class RevealLog(SQLModel, table=True):
    """Every look at a confidential reporter's identity."""

    __tablename__ = "reveal_log"
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    at: datetime = _ts()


class JobRun(SQLModel, table=True):
    """One run of a periodic job for one period (a day's digest), so it is sent exactly once
    even when the process was down at the scheduled time or runs twice."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=32)
    period: str = Field(max_length=32)  # e.g. 2026-11-30
    period_end: datetime = _ts()
    created_at: datetime = _ts()


class Nudge(SQLModel, table=True):
    """A reminder sent about a case or draft; none repeats within its interval."""

    __tablename__ = "nudge"
    __table_args__ = (UniqueConstraint("subject", "kind", "bucket"),)
    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=64)  # report:42 | draft:telegram:123
    kind: str = Field(max_length=32)  # unacknowledged | overdue | escalated | draft
    bucket: str = Field(max_length=32)  # the interval it belongs to
    created_at: datetime = _ts()


class LinkCode(SQLModel, table=True):
    """A one-time code that attaches a second messenger to the same person."""

    __tablename__ = "link_code"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=16)
    person_id: int = Field(foreign_key="person.id")
    expires_at: datetime = _ts()
    used: bool = False
    # Failed /link tries anywhere while this code was live: any of them may have aimed at it.
    failures: int = 0
    # A staff account's new messenger, waiting for the existing messenger to confirm it.
    pending_channel: str = Field(default="", max_length=16)
    pending_external_id: str = Field(default="", max_length=64)
    pending_chat_id: str = Field(default="", max_length=64)
    pending_username: str = Field(default="", max_length=64)


class FormReceipt(SQLModel, table=True):
    """What a web form submission filed (its code and secret, sealed), keyed by a digest of the
    form's token, so a second tap on Send that reaches another instance shows the same case
    instead of filing another. Kept a few hours (housekeeping)."""

    __tablename__ = "form_receipt"
    token_digest: str = Field(primary_key=True, max_length=64)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    filed_at: datetime = _ts(index=True)


class RateWindow(SQLModel, table=True):
    """How many events one key (a person, an address) had in its current window: one row per
    key, counted with one upsert, so a flood check costs a statement, not a row per event.
    Shared by every instance; times in epoch milliseconds, so both databases compare them."""

    __tablename__ = "rate_window"
    key: str = Field(primary_key=True, max_length=200)
    started_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    hits: int = 0
    expires_ms: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))


class RateHit(SQLModel, table=True):
    """One counted event (a failed sign-in or /link try) for rate limits and lockouts; shared
    by every instance, and dropped once it can no longer count."""

    __tablename__ = "rate_hit"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, max_length=200)
    at: datetime = _ts()
    expires_at: datetime = _ts(index=True)


class OAToken(SQLModel, table=True):
    """The Zalo Official Account token pair. Refresh tokens are single-use, so the new pair is
    saved here before it is used."""

    __tablename__ = "oa_token"
    id: int | None = Field(default=None, primary_key=True)
    access_token: str = Field(max_length=1024)
    refresh_token: str = Field(max_length=1024)
    expires_at: datetime = _ts()
    updated_at: datetime = _ts()


class Poll(SQLModel, table=True):
    """A poll or situation-report definition, imported from YAML. Each change bumps `version`;
    open rounds keep the definition they started with."""

    __tablename__ = "poll"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=48)
    kind: str = Field(default="poll", max_length=16)  # poll | sitrep
    definition: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    version: int = 1
    active: bool = True
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class PollRound(SQLModel, table=True):
    """One recurrence of a poll (or one period of a situation report), with a snapshot of the
    definition, so editing the poll never changes a round already under way."""

    __tablename__ = "poll_round"
    __table_args__ = (UniqueConstraint("poll_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    number: int
    period: str = Field(max_length=32)  # 2026-11 for a monthly round, else the opening time
    poll_version: int
    definition: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    opens_at: datetime = _ts()
    due_at: datetime = _ts()
    closes_at: datetime = _ts(index=True)
    status: str = Field(default="open", max_length=16, index=True)  # open | closed
    results_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class PollInvite(SQLModel, table=True):
    """Who a round was sent to, and whether they have responded. One row per person and round,
    so re-sending a round can never count anyone twice; the unit is the one they had then."""

    __tablename__ = "poll_invite"
    __table_args__ = (UniqueConstraint("round_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="poll_round.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    invited_at: datetime = _ts()
    responded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class PollResponse(SQLModel, table=True):
    """One person's answers to one round, as {question id: value}. In an anonymous round
    `person_id` and `unit_id` stay empty: only the invite says that somebody responded."""

    __tablename__ = "poll_response"
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="poll_round.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    answers: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    submitted_at: datetime = _ts()
    updated_at: datetime = _ts()


class FeedbackTicket(SQLModel, table=True):
    """What the public feedback page keeps beside a report it created: the hash of the secret
    the sender checks its status with, and the name and contact they chose to give (empty when
    anonymous). The secret itself is shown once and never stored."""

    __tablename__ = "feedback_ticket"
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", unique=True, index=True)
    secret_hash: str = Field(max_length=64)
    sender_name: str = Field(default="", max_length=200)
    sender_contact: str = Field(default="", max_length=200)
    created_at: datetime = _ts()


class WebAccount(SQLModel, table=True):
    """A password sign-in to the web admin, always tied to a person whose role grants access."""

    __tablename__ = "web_account"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    password_hash: str = Field(max_length=256)  # argon2id, never the password
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = _ts()


class WebLoginToken(SQLModel, table=True):
    """A one-time sign-in link sent by /weblogin; only a hash of the token is kept."""

    __tablename__ = "web_login_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    person_id: int = Field(foreign_key="person.id")
    expires_at: datetime = _ts()
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random id; only its hash is stored, so a leaked
    database does not hand out live sessions."""

    __tablename__ = "web_session"
    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(unique=True, index=True, max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _ts()
    expires_at: datetime = _ts(index=True)


class AuditEntry(SQLModel, table=True):
    """One administrative change (an import, a role change, an invite, a binding...), written in
    the same transaction as the change. Details never hold a secret or a hidden reporter."""

    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)
    actor_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    actor_name: str = Field(default="", max_length=200)
    action: str = Field(max_length=64, index=True)
    target: str = Field(default="", max_length=200)
    details: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class SimilarText(SQLModel, table=True):
    """A report's text as it is compared for likely duplicates and topics (handlers/vietnamese.py:
    abbreviations written out, lower case). Kept beside the report so every instance compares
    against the same rows."""

    __tablename__ = "similar_text"
    report_id: int = Field(foreign_key="report.id", primary_key=True, ondelete="CASCADE")
    normalised: str = Field(sa_column=Column(Text, nullable=False))


class SimilarBand(SQLModel, table=True):
    """One LSH band key of a report's MinHash (handlers/similarity.py): reports sharing a key are
    candidates to compare. The primary key leads with the key, so a lookup is an index range."""

    __tablename__ = "similar_band"
    band_key: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    report_id: int = Field(foreign_key="report.id", primary_key=True, ondelete="CASCADE")
