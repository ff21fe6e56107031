"""A messenger that refuses a person for good (blocked, unfollowed, gone) is not the end: their
other linked messenger gets the message, and a contact point nobody can reach is reported."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage import admin
from storage.models import OutboxMessage, Person, ReportEvent
from storage.outbox import enqueue
from tests.chat import Chat
from tests.polls_helpers import person as registered
from tests.test_casework_actions import Recorder, staff_in_group

TG, ZA = "tg-5000", "za-5000"


async def reporter_on_telegram_linked_to_zalo(core, anonymity: int) -> Chat:
    telegram = Chat(core, user_id=TG, channel="telegram", display_name="Đinh Thị Lan")
    for step in ("/start", "Đinh Thị Lan", "1", "1", "/report", "2", "2", "1"):
        await telegram.say(step)
    for step in ("Tai nạn lao động tại xưởng cơ khí.", "/skip", str(anonymity), "1"):
        await telegram.say(step)
    assert "PA-0001" in telegram.transcript[-1]
    code = (await telegram.say("/link"))[0].split("/link ")[1].strip()
    zalo = Chat(core, user_id=ZA, channel="zalo", display_name="Lan")
    assert "Linked" in (await zalo.say(f"/link {code}"))[0] or "liên kết" in zalo.text().lower()
    await telegram.say("/help")  # Telegram is the messenger she used last
    return telegram


async def deliver_all(core) -> None:
    for _ in range(3):
        await core.delivery.run_once()


@pytest.mark.parametrize("anonymity", [1, 3], ids=["named", "anonymous"])
async def test_a_reporter_who_blocked_telegram_hears_the_outcome_on_zalo(core, anonymity):
    telegram, zalo = Recorder(fail_for=TG), Recorder()
    core.senders.update(telegram=telegram, zalo=zalo, web=Recorder())
    await reporter_on_telegram_linked_to_zalo(core, anonymity)
    staff = await staff_in_group(core)
    await staff.press_data("c:1:ack:0")
    await deliver_all(core)
    assert telegram.texts(TG) == []  # refused: she blocked the bot there
    assert any("PA-0001" in text for text in zalo.texts(ZA))  # the outcome, on Zalo
    async with core.sessions() as session:
        events = (await session.execute(select(ReportEvent.action, ReportEvent.note))).all()
        lan = (
            await session.execute(select(Person).where(Person.display_name == "Đinh Thị Lan"))
        ).scalar_one()
    assert ("delivery", "zalo") in events  # the case shows which messenger delivered
    assert lan.last_channel == "zalo"  # and what follows goes there at once
    await staff.press_data("c:1:ask:1")
    await staff.say("Xin cho biết ngày giờ xảy ra?")
    async with core.sessions() as session:
        stmt = select(OutboxMessage.channel, OutboxMessage.chat_id)
        notice = await session.execute(stmt.where(OutboxMessage.idempotency_key == "notice:1:v2"))
    assert notice.one() == (("zalo", ZA) if anonymity == 1 else ("sealed", "report:1"))


async def test_a_contact_point_nobody_can_reach_is_reported_to_the_units_secretary(core):
    web = Recorder(fail_for="cp-1")
    core.senders.update(web=web)
    contact = await registered(core, "cp-1", "contact", "U003", name="Lò Văn Páo")
    await registered(core, "sec-1", "secretary", "U003", name="Thư ký")
    async with core.sessions() as session, session.begin():
        await enqueue(session, "poll:9:invite:cp", "web", "cp-1", {"text": "Báo cáo tuần"})
    await deliver_all(core)
    report = web.texts("sec-1")
    assert len(report) == 1 and "Lò Văn Páo" in report[0] and contact.id
    async with core.sessions() as session, session.begin():
        await enqueue(session, "poll:9:remind:cp", "web", "cp-1", {"text": "Nhắc lại"})
    await deliver_all(core)
    assert len(web.texts("sec-1")) == 1  # once a day, not once a message


async def test_without_a_secretary_the_staff_chat_hears_of_an_unreachable_contact(core):
    web, telegram = Recorder(fail_for="cp-2"), Recorder()
    core.senders.update(web=web, telegram=telegram)
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "telegram", "-100777")
    await registered(core, "cp-2", "contact", "U005", name="Vi Thị Hoa")
    async with core.sessions() as session, session.begin():
        await enqueue(session, "poll:9:invite:cp2", "web", "cp-2", {"text": "Báo cáo tuần"})
    await deliver_all(core)
    assert any("Vi Thị Hoa" in text for text in telegram.texts("-100777"))
