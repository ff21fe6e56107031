"""Permission refusals through the whole core, with the matrix of the rules' own test
(`tests/test_casework_rules.py` `expected`), on each channel the way its people act: Telegram
by pressing a card's button, Zalo by typing "PA-0001 n". Same role, action and status: same
answer, allowed or refused, on both."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from handlers.cards import button_data
from handlers.casework import ACTION_NUMBERS, Status
from handlers.ports import Registration
from handlers.types import ChatKind
from storage import admin
from storage.deptimport import import_departments
from storage.models import Department, Report
from storage.store import SqlStore
from tests.chat import Chat
from tests.test_casework_rules import expected, reporter_with_case

ROLES = ["member", "staff", "leader", "handler", "other_handler"]  # admin acts as staff
STATUSES = [Status.NEW, Status.ASSIGNED, Status.RESOLVED]
REFUSALS = (
    "This action is not possible while the case is",
    "Nobody can see who sent",
    "You are not allowed to see who sent",
    "Only staff may do this.",
    "Only the department handling the case may hand it back.",
    "Departments may acknowledge, ask the reporter, resolve or hand back.",
    "This case is not assigned to your department.",
    "This button is not valid.",
    "No case PA-0001 that you may see.",
    "Only registered staff can act on cases.",
)


async def registered(core, user: str, role: str, channel: str) -> Chat:
    """A person of this role, reading English, in the staff chat (registered directly: how
    people register is the onboarding tests' business)."""
    department = {"handler": "SCT", "other_handler": "SLDTBXH"}.get(role)
    invite_role = "handler" if role == "other_handler" else role
    async with core.sessions() as session, session.begin():
        invite = await admin.create_invite(session, invite_role, "U007", 1, department)
        registration = Registration(channel, user, "", role, "U007", invite_role, "en", invite.code)
        await SqlStore(session).register(registration)
    chat = Chat(core, user_id=user, channel=channel, display_name=role, username="")
    chat.chat_kind, chat.chat_id = ChatKind.GROUP, "staff-room"
    return chat


async def put_case_in(core, status: Status) -> None:
    """The case as it would stand after earlier steps, with the department of the rules' own
    matrix (set directly: the matrix is about what happens next)."""
    async with core.sessions() as session, session.begin():
        stmt = select(Department.id).where(Department.code == "SCT")
        sct = (await session.execute(stmt)).scalar_one()
        await session.execute(update(Report).values(status=status.value, department_id=sct))


async def attempt(core, chat: Chat, action) -> list[str]:
    if chat.channel == "zalo":
        return await chat.say(f"PA-0001 {ACTION_NUMBERS[action]}")
    async with core.sessions() as session:
        case = await SqlStore(session).case(1)
    assert case is not None
    return await chat.press_data(button_data(case, action))


@pytest.mark.parametrize("channel", ["telegram", "zalo"])
async def test_refusals_follow_the_permission_matrix_on_every_channel(core, channel):
    await reporter_with_case(core, anonymity=1)  # named: revealing is a question of role only
    async with core.sessions() as session, session.begin():
        await import_departments(session, b"code,name,kind\nSCT,So Cong Thuong,external\n")
        await admin.bind_chat(session, "staff", channel, "staff-room")
    people = {
        role: await registered(core, str(7300 + i), role, channel) for i, role in enumerate(ROLES)
    }
    mismatches = []
    for status in STATUSES:
        await put_case_in(core, status)
        for role, chat in people.items():
            for action in ACTION_NUMBERS:
                out = await attempt(core, chat, action)
                refused = any(text.startswith(REFUSALS) for text in out)
                allowed = bool(out) and not refused
                if allowed != expected(role, action, status, "named"):
                    mismatches.append((status.value, role, action.value, out[:1]))
                if allowed:
                    await put_case_in(core, status)  # what it changed, undone
    assert not mismatches, mismatches
