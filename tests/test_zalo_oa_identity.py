"""One identity: a handler registered on Telegram who links Zalo acts from either, and their case
notifications follow the messenger they used last, as members' do; acting in a Zalo OA group
counts as using Zalo, and the OA id is never taken for a private chat."""

from __future__ import annotations

import re

from sqlalchemy import select

from handlers.types import ChatKind
from storage import admin
from storage.casecards import department_chats
from storage.deptimport import import_departments
from storage.models import OutboxMessage, Person
from storage.store import SqlStore
from tests.chat import Chat
from tests.test_casework_actions import staff_in_group
from tests.test_casework_rules import reporter_with_case

CODE = re.compile(r"/link (\S+)")


async def handler_on_telegram_and_zalo(core) -> tuple[Chat, Chat]:
    async with core.sessions() as session, session.begin():
        await import_departments(session, b"code,name,kind\nSCT,So Cong Thuong,external\n")
        invite = await admin.create_invite(session, "handler", "U007", 1, "SCT")
    telegram = Chat(core, user_id="tg-h1", channel="telegram", display_name="Handler")
    await telegram.say(f"/start {invite.code}")
    await telegram.press(1)
    await telegram.press(1)
    code = CODE.search((await telegram.say("/link"))[0])
    assert code is not None
    zalo = Chat(core, user_id="za-h1", channel="zalo", display_name="Handler")
    await zalo.say(f"/link {code[1]}")
    await telegram.say("/link yes")  # a handler may use the web admin: Telegram confirms
    return telegram, zalo


async def card_chats(core, report_id: int = 1) -> set[tuple[str, str]]:
    async with core.sessions() as session:
        stmt = select(OutboxMessage.channel, OutboxMessage.chat_id).where(
            OutboxMessage.idempotency_key.startswith(f"card:{report_id}:")  # type: ignore[attr-defined]
        )
        return {(channel, chat) for channel, chat in (await session.execute(stmt)).all()}


async def test_a_handlers_cards_follow_the_messenger_they_used_last(core):
    telegram, zalo = await handler_on_telegram_and_zalo(core)
    await reporter_with_case(core)
    await zalo.say("/help")  # the handler used Zalo last
    staff = await staff_in_group(core)
    await staff.press_data("c:1:assign:0:SCT")
    assert await card_chats(core) >= {("zalo", "za-h1")}
    assert ("telegram", "tg-h1") not in await card_chats(core)  # one copy, where they are
    await telegram.say("/help")  # back on Telegram: what follows goes there
    async with core.sessions() as session:
        assert await department_chats(session, "SCT") == [("telegram", "tg-h1")]


async def test_acting_in_an_oa_group_counts_as_zalo_and_is_never_a_private_address(core):
    _telegram, zalo = await handler_on_telegram_and_zalo(core)
    async with core.sessions() as session, session.begin():
        lan = (await session.execute(select(Person).where(Person.role == "handler"))).scalar_one()
        store = SqlStore(session)
        assert lan.id is not None
        code = await store.create_link_code(lan.id, 10)
    oa = Chat(core, user_id="oa-h1", channel="zalo-oa", display_name="Handler")
    oa.chat_id = "g-dept"
    await oa.say(f"/link {code}")
    await zalo.say("/link yes")
    await _telegram.say("/help")
    oa.chat_kind = ChatKind.GROUP
    await oa.say("PA-0001")  # anything they type in the OA group counts as using Zalo
    async with core.sessions() as session, session.begin():
        person = await session.get(Person, lan.id)
        assert person is not None and person.last_channel == "zalo"
        await SqlStore(session).tell_person(lan.id, "k:1", "Xin chào", [])
        row = (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.idempotency_key == "k:1")
            )
        ).scalar_one()
    assert (row.channel, row.chat_id) == ("zalo", "za-h1")
