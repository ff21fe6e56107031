"""One person across messengers: /link codes, notifications follow the person, /unlink."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import time_machine

from handlers.types import ChatKind
from storage.models import utcnow
from storage.outbox import due
from tests.chat import Chat
from tests.test_casework_rules import person


async def test_link_a_second_messenger_see_reports_there_and_get_notices_there(core):
    telegram = Chat(core, user_id="111", channel="telegram")
    for step in (
        "/start",
        "Mai Văn Tùng",
        "1",
        "1",
        "/report",
        "1",
        "1",
        "1",
        "Dư luận về chế độ phụ cấp mới.",
        "/skip",
        "1",
        "1",
    ):
        await telegram.say(step)
    out = await telegram.say("/link")
    code = re.search(r"/link (\d{6})", out[0]).group(1)
    zalo = Chat(core, user_id="z-999", channel="zalo")
    out = await zalo.say(f"/link {code}")
    assert "Mai Văn Tùng" in out[0]
    out = await zalo.say("/my")
    assert "PA-0001" in out[0]
    # A code works once.
    other = Chat(core, user_id="z-888", channel="zalo")
    out = await other.say(f"/link {code}")
    assert "not valid" in out[0] or "không đúng" in out[0]
    # Staff acknowledge: the notice goes to Zalo, where the person last talked to us.
    staff = await person(core, "7401", "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "-100500"
    await staff.press_data("c:1:ack:0")
    async with core.sessions() as session:
        rows = await due(session, utcnow(), 50)
    notices = [r for r in rows if r.idempotency_key.startswith("notice:")]
    assert [(r.channel, r.chat_id) for r in notices] == [("zalo", "z-999")]
    # Unlinking Zalo leaves the account on Telegram; the last messenger cannot be unlinked.
    out = await zalo.say("/unlink")
    assert "no longer linked" in out[0] or "hủy liên kết" in out[0]
    out = await telegram.say("/unlink")
    assert "only messenger" in out[0] or "duy nhất" in out[0]
    out = await zalo.say("/my")
    assert "PA-0001" not in out[0]


async def test_link_codes_expire_after_ten_minutes(core):
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    telegram = Chat(core, user_id="112", channel="telegram")
    with time_machine.travel(start, tick=False):
        for step in ("/start", "Lò Văn Páo", "1", "1"):
            await telegram.say(step)
        code = re.search(r"/link (\d{6})", (await telegram.say("/link"))[0]).group(1)
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        out = await Chat(core, user_id="z-1", channel="zalo").say(f"/link {code}")
    assert "not valid" in out[0] or "hết hạn" in out[0]


async def test_linking_works_the_other_way_round_too(core):
    zalo = Chat(core, user_id="z-500", channel="zalo")
    for step in ("/start", "Quàng Thị Én", "1", "1"):
        await zalo.say(step)
    code = re.search(r"/link (\d{6})", (await zalo.say("/link"))[0]).group(1)
    telegram = Chat(core, user_id="501", channel="telegram")
    out = await telegram.say(f"/link {code}")
    assert "Quàng Thị Én" in out[0]
    out = await telegram.say("/report")
    assert "1/6" in out[-1] or "1 of 6" in out[-1]  # registered: straight into the report
