"""Casework rules through the real core: permissions for every role and action, conflicting
presses, auto-close on a controlled clock, literal notes, anonymity across the lifecycle."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from bot.logs import configure_logging
from handlers.cards import button_data
from handlers.casework import STAFF_BUTTONS, Action, Actor, CaseFacts, Refusal, Status, check
from handlers.types import ChatKind
from scheduler.jobs import close_unconfirmed
from storage import admin
from storage.models import Person, Report, RevealLog
from storage.store import SqlStore
from tests.chat import Chat

ROLES = [
    "member",
    "collaborator",
    "contact",
    "staff",
    "admin",
    "leader",
    "handler",
    "other_handler",
]
ACTIONS = [a for a in Action if a not in (Action.AUTO_CLOSE,)]


def expected(role: str, action: Action, status: Status, anonymity: str) -> bool:
    """The permission rules, written out independently of the implementation."""
    from handlers.casework import ALLOWED_FROM

    if status not in ALLOWED_FROM[action]:
        return False
    reporter_actions = {Action.ANSWER, Action.ADD_INFO, Action.CONFIRM, Action.DISPUTE}
    if action in reporter_actions:
        return role == "reporter"
    if action == Action.REVEAL:
        return (anonymity == "confidential" and role == "revealer") or (
            anonymity == "named" and role in ("staff", "admin", "leader", "revealer")
        )
    if role in ("staff", "admin", "revealer"):
        return action != Action.HAND_BACK
    if role == "handler":
        return action in (Action.ACKNOWLEDGE, Action.ASK, Action.RESOLVE, Action.HAND_BACK)
    return False


@pytest.mark.parametrize("anonymity", ["named", "confidential", "anonymous"])
def test_permission_matrix_every_role_against_every_action(anonymity):
    roles = [*ROLES, "reporter", "revealer"]
    for role, action, status in itertools.product(roles, ACTIONS, list(Status)):
        actor = Actor(
            person_id=1,
            role={"other_handler": "handler", "reporter": "member", "revealer": "staff"}.get(
                role, role
            ),
            department_code={"handler": "D1", "other_handler": "D2"}.get(role),
            can_reveal=role == "revealer",
            is_reporter=role == "reporter",
        )
        case = CaseFacts(status, "D1", anonymity)
        try:
            check(actor, action, case)
            allowed = True
        except Refusal:
            allowed = False
        assert allowed == expected(role, action, status, anonymity), (
            role,
            action,
            status,
            anonymity,
        )


async def person(core, user: str, role: str, dept: str | None = None, reveal: bool = False) -> Chat:
    async with core.sessions() as session, session.begin():
        invite = await admin.create_invite(session, role, "U007", 1, dept, reveal)
    chat = Chat(core, user_id=user, display_name=f"{role} {user}", username=f"u{user}")
    await chat.say(f"/start {invite.code}")
    await chat.press(1)
    await chat.press(1)
    await chat.say("/lang")
    await chat.say("2")  # English, so the assertions read in one language
    return chat


async def reporter_with_case(core, anonymity: int = 3, user: str = "5000") -> Chat:
    chat = Chat(core, user_id=user, display_name="Đinh Thị Lan", username="dinhthilan")
    for step in (
        "/start",
        "Đinh Thị Lan",
        "1",
        "1",
        "/report",
        "2",
        "2",
        "1",
        "Tai nạn lao động tại xưởng cơ khí, một người bị thương.",
        "/skip",
        str(anonymity),
        "1",
    ):
        await chat.say(step)
    assert "PA-0001" in chat.transcript[-1]
    return chat


async def case_row(core) -> Report:
    async with core.sessions() as session:
        return (await session.execute(select(Report))).scalar_one()


async def test_conflicting_presses_give_one_result_and_tell_the_loser(core):
    reporter = await reporter_with_case(core)
    a = await person(core, "7101", "staff")
    b = await person(core, "7102", "staff")
    async with core.sessions() as session:
        case = await SqlStore(session).case(1)
    assert case is not None
    resolve_a = button_data(case, Action.REJECT)
    ack_b = button_data(case, Action.ACKNOWLEDGE)
    for chat in (a, b):
        chat.chat_kind, chat.chat_id = ChatKind.GROUP, "-100500"
    ack_a = button_data(case, Action.ACKNOWLEDGE)
    results = await asyncio.gather(a.press_data(ack_a), b.press_data(ack_b))
    row = await case_row(core)
    assert row.status == "acknowledged" and row.version == 1
    loser = [r for r in results if (r and "out of date" in r[0]) or (r and "Someone else" in r[0])]
    assert len(loser) == 1, results
    out = await a.press_data(resolve_a)  # an outdated card
    assert "out of date" in out[0] and "Acknowledged" in out[0]
    assert (await case_row(core)).status == "acknowledged"
    assert reporter.transcript


async def test_forged_callbacks_change_nothing(core):
    await reporter_with_case(core)
    staff = await person(core, "7103", "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "-100500"
    for data in (
        "c:1:ack",
        "c:x:ack:0",
        "c:1:nuke:0",
        "c:999:ack:0",
        "c:1:assign:0:NOPE",
        "c:1:due:0:99y",
    ):
        await staff.press_data(data)
    row = await case_row(core)
    assert (row.status, row.version, row.department_id, row.due_at) == ("new", 0, None, None)


async def test_notes_with_markup_are_kept_literally(core):
    reporter = await reporter_with_case(core)
    staff = await person(core, "7104", "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "-100500"
    await staff.press_data("c:1:ack:0")
    await staff.press_data("c:1:resolve:1")
    note = "<b>Đã xử lý</b> *xong* [link](http://x) & <script>"
    await staff.say(note)
    async with core.sessions() as session:
        case = await SqlStore(session).case(1)
    assert case is not None and case.events[-1].note == note
    assert case.status == "resolved"
    assert reporter.transcript


async def test_unanswered_resolution_closes_after_the_configured_delay(core):
    await reporter_with_case(core)
    staff = await person(core, "7105", "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "-100500"
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        await staff.press_data("c:1:ack:0")
        await staff.press_data("c:1:resolve:1")
        await staff.say("Đã khắc phục, bổ sung bảo hộ lao động.")
    days = core.settings.case_autoclose_days
    with time_machine.travel(start + timedelta(days=days) - timedelta(minutes=1), tick=False):
        assert await close_unconfirmed(core) == 0
    assert (await case_row(core)).status == "resolved"
    with time_machine.travel(start + timedelta(days=days, minutes=1), tick=False):
        assert await close_unconfirmed(core) == 1
        assert await close_unconfirmed(core) == 0  # running it twice closes nothing more
    assert (await case_row(core)).status == "closed"


@pytest.mark.parametrize("anonymity", [2, 3], ids=["confidential", "anonymous"])
async def test_no_hidden_identity_reaches_staff_departments_leaders_logs_or_listings(
    core, caplog, anonymity
):
    from storage.deptimport import import_departments

    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    sent: list[tuple[str, dict]] = []

    class Recorder:
        async def deliver(self, chat_id: str, payload: dict) -> str | None:
            sent.append((chat_id, payload))
            return str(len(sent))

    core.senders["web"] = Recorder()
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "web", "staff-room")
        await admin.bind_chat(session, "leaders", "web", "leaders-room")
        await admin.bind_chat(session, "department:SCT", "web", "dept-room")
        await import_departments(
            session,
            b"code,name,kind\nSCT,S\xe1\xbb\x9f C\xc3\xb4ng Th\xc6\xb0\xc6\xa1ng,external\n",
        )
    reporter = await reporter_with_case(core, anonymity)
    staff = await person(core, "7106", "staff")
    handler = await person(core, "7107", "handler", "SCT")
    leader = await person(core, "7108", "leader")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "staff-room"
    handler.chat_kind, handler.chat_id = ChatKind.GROUP, "dept-room"
    await staff.press_data("c:1:ack:0")
    await staff.press_data("c:1:assign:1:SCT")
    await handler.press_data("c:1:ask:2")
    await handler.say("Xin cho biết thời gian xảy ra?")
    await reporter.say("Sáng thứ Hai, 8 giờ.")
    await handler.press_data("c:1:resolve:4")
    await handler.say("Đã kiểm tra, doanh nghiệp đã khắc phục.")
    await reporter.say("2")  # not resolved
    await reporter.say("Chưa khắc phục hết.")
    await staff.press_data("c:1:reveal:6")  # staff without the reveal permission
    await leader.say("/case PA-0001")
    assert core.delivery is not None
    await core.delivery.run_once()
    listing = json.dumps(await _listing(core), ensure_ascii=False)
    to_reporter = [p for chat_id, p in sent if chat_id == "5000"]
    assert to_reporter  # the sealed link works: the reporter heard every step
    staff_facing = [(c, p) for c, p in sent if c != "5000"]
    staff_side = json.dumps(staff_facing, ensure_ascii=False) + "\n".join(
        staff.transcript + handler.transcript + leader.transcript
    )
    logs = "\n".join(r.getMessage() for r in caplog.records)
    async with core.sessions() as session:
        reporter_row = (
            await session.execute(select(Person).where(Person.display_name == "Đinh Thị Lan"))
        ).scalar_one()
    secrets = ("Đinh Thị Lan", "dinhthilan", "5000", f"person {reporter_row.id}")
    for where, text in (
        ("staff-facing messages", staff_side),
        ("logs", logs),
        ("reports list", listing),
    ):
        for secret in secrets:
            at = text.find(secret)
            assert at < 0, f"{secret!r} leaked into {where}: …{text[max(0, at - 150) : at + 50]}…"
    assert "PA-0001" in staff_side and "Sáng thứ Hai" in staff_side  # relayed, without the name
    assert any("Chưa khắc phục hết" in json.dumps(p, ensure_ascii=False) for _, p in staff_facing)


async def _listing(core) -> list[dict]:
    async with core.sessions() as session:
        return await admin.list_reports(session)


async def test_reveal_is_an_explicit_logged_action_for_confidential_only(core):
    await reporter_with_case(core, anonymity=2)
    revealer = await person(core, "7110", "staff", reveal=True)
    revealer.chat_kind, revealer.chat_id = ChatKind.GROUP, "-100500"
    out = await revealer.press_data("c:1:reveal:0")
    private = [m for m in revealer.last_reply.messages if m.chat_id == "7110"]
    assert private and "Đinh Thị Lan" in private[0].text
    assert all(
        "Đinh Thị Lan" not in m.text for m in revealer.last_reply.messages if m.chat_id != "7110"
    )
    assert "privately" in out[0]
    async with core.sessions() as session:
        assert len((await session.execute(select(RevealLog))).scalars().all()) == 1


async def test_anonymous_reporters_cannot_be_revealed_even_with_the_permission(tmp_path):
    actor = Actor(1, "staff", can_reveal=True)
    with pytest.raises(Refusal):
        check(actor, Action.REVEAL, CaseFacts(Status.NEW, None, "anonymous"))
    assert Action.REVEAL not in STAFF_BUTTONS
