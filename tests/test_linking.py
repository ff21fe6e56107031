"""One person across messengers: /link codes, notifications follow the person, /unlink."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import time_machine
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from handlers import linkcode
from handlers.types import ChatKind
from storage.models import Identity, OutboxMessage, RateHit, utcnow
from storage.outbox import due
from tests.chat import Chat
from tests.test_casework_rules import person

CODE_RE = re.compile(r"/link ([0-9A-Z]{4}-[0-9A-Z]{4})")


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
    code = CODE_RE.search(out[0]).group(1)
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
        due_ids = {r.id for r in await due(session, utcnow(), 50)}
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    notices = [r for r in rows if r.id in due_ids and r.idempotency_key.startswith("notice:")]
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
        code = CODE_RE.search((await telegram.say("/link"))[0]).group(1)
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        out = await Chat(core, user_id="z-1", channel="zalo").say(f"/link {code}")
    assert "not valid" in out[0] or "hết hạn" in out[0]


async def test_linking_works_the_other_way_round_too(core):
    zalo = Chat(core, user_id="z-500", channel="zalo")
    for step in ("/start", "Quàng Thị Én", "1", "1"):
        await zalo.say(step)
    code = CODE_RE.search((await zalo.say("/link"))[0]).group(1)
    telegram = Chat(core, user_id="501", channel="telegram")
    out = await telegram.say(f"/link {code}")
    assert "Quàng Thị Én" in out[0]
    out = await telegram.say("/report")
    assert "1/6" in out[-1] or "1 of 6" in out[-1]  # registered: straight into the report


# -- guessing codes ------------------------------------------------------------------------------
WRONG = "/link AAAA-AAAA"  # a well-formed code nobody holds (a 2**-40 chance it is real)


async def registered(core, user_id: str, name: str = "Lò Văn Páo") -> Chat:
    chat = Chat(core, user_id=user_id, channel="telegram")
    for step in ("/start", name, "1", "1"):
        await chat.say(step)
    return chat


async def new_code(chat: Chat) -> str:
    match = CODE_RE.search((await chat.say("/link"))[0])
    assert match, chat.transcript[-1]
    return match.group(1)


async def queued(core, chat_id: str) -> list[dict]:
    """Outbox payloads to one chat, oldest first."""
    async with core.sessions() as session:
        rows = await session.execute(
            select(OutboxMessage.payload)
            .where(OutboxMessage.chat_id == chat_id)
            .order_by(OutboxMessage.id)  # type: ignore[arg-type]
        )
        return [payload for (payload,) in rows.all()]


async def identities(core, channel: str, external_id: str) -> int:
    async with core.sessions() as session:
        stmt = select(func.count()).select_from(Identity)
        stmt = stmt.where(Identity.channel == channel, Identity.external_id == external_id)
        return int((await session.execute(stmt)).scalar_one())


@given(st.text(alphabet=linkcode.ALPHABET, min_size=8, max_size=8))
def test_codes_read_back_however_they_are_typed(code):
    typed = linkcode.shown(code).lower().replace("-", " - ").replace("0", "o").replace("1", "l")
    assert linkcode.normalised(typed) == code
    assert linkcode.normalised(code[:7]) is None and linkcode.normalised(code + "U") is None


async def test_link_codes_carry_forty_random_bits_and_are_easy_to_type(core):
    owner = await registered(core, "120")
    code = await new_code(owner)
    assert len(code.replace("-", "")) * 5 >= 40
    assert len({await new_code(owner) for _ in range(5)}) == 5
    code = await new_code(owner)
    out = await Chat(core, user_id="z-120", channel="zalo").say(
        f"/link {code.lower().replace('-', ' ')}"
    )
    assert "Lò Văn Páo" in out[0]


async def test_a_code_dies_after_five_wrong_tries_and_its_owner_hears_of_it(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    owner = await registered(core, "130")
    code = await new_code(owner)
    for i in range(5):  # rotating web-chat sessions, each trying once
        out = await Chat(core, user_id=f"guess-{i}", channel="web").say(WRONG)
        assert "Mã liên kết không đúng" in out[0]
    out = await Chat(core, user_id="z-130", channel="zalo").say(f"/link {code}")
    assert "Lò Văn Páo" not in out[0] and await identities(core, "zalo", "z-130") == 0
    # The owner heard of the first wrong try and of the end of the code, in Vietnamese.
    texts = [p["text"] for p in await queued(core, "130")]
    assert len(texts) == 2
    assert "mã /link sai" in texts[0] and "không còn dùng được" in texts[1]


async def test_one_messenger_account_may_fail_five_times_then_waits(core):
    owner = await registered(core, "140")
    guesser = Chat(core, user_id="g-140", channel="web")
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(5):
            await guesser.say(WRONG)
        code = await new_code(owner)  # issued after the failures: it has seen none
        out = await guesser.say(f"/link {code}")
        assert "15 phút" in out[0] and await identities(core, "web", "g-140") == 0
        clock.shift(timedelta(minutes=16))
        out = await guesser.say(f"/link {await new_code(owner)}")
        assert "Lò Văn Páo" in out[0]


async def test_link_tries_pause_for_everyone_after_twenty_failures_a_minute(core):
    owner = await registered(core, "150")
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for i in range(20):
            await Chat(core, user_id=f"flood-{i}", channel="web").say(WRONG)
        code = await new_code(owner)
        newcomer = Chat(core, user_id="z-150", channel="zalo")
        out = await newcomer.say(f"/link {code}")
        assert "tạm dừng" in out[0] and await identities(core, "zalo", "z-150") == 0
        clock.shift(timedelta(seconds=61))  # the paused try was not counted against the code
        out = await newcomer.say(f"/link {code}")
        assert "Lò Văn Páo" in out[0]
    async with core.sessions() as session:  # counted in the database, for every instance
        hits = await session.execute(select(func.count()).select_from(RateHit))
        assert hits.scalar_one() >= 20


async def test_linking_a_staff_account_waits_for_its_existing_messenger(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    staff = await person(core, "7500", "staff")  # web chat, English
    intruder = Chat(core, user_id="z-7500", channel="zalo")
    out = await intruder.say(f"/link {CODE_RE.search((await staff.say('/link'))[0]).group(1)}")
    assert "xác nhận" in out[0] and await identities(core, "zalo", "z-7500") == 0
    ask = (await queued(core, "7500"))[-1]
    assert "/link yes" in ask["text"] and [label for _d, label in ask["choices"]] == [
        "Confirm",
        "Refuse",
    ]
    out = await staff.say("/link no")  # typed, as on a messenger without buttons
    assert "Refused" in out[0] and await identities(core, "zalo", "z-7500") == 0
    assert "did not confirm" in (await queued(core, "z-7500"))[-1]["text"]
    out = await staff.press_data(ask["choices"][0][0])  # an answered request stays answered
    assert "No link request" in out[-1] and await identities(core, "zalo", "z-7500") == 0
    # Asked again, and this time confirmed with the button.
    await intruder.say(f"/link {CODE_RE.search((await staff.say('/link'))[0]).group(1)}")
    ask = (await queued(core, "7500"))[-1]
    out = await staff.press_data(ask["choices"][0][0])
    assert "Confirmed" in out[-1] and await identities(core, "zalo", "z-7500") == 1
    assert "staff 7500" in (await queued(core, "z-7500"))[-1]["text"]


async def test_a_forged_confirmation_button_changes_nothing(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    staff = await person(core, "7510", "staff")
    for data in (
        "lk:99999999999999999999999:yes",
        "lk:999999999999:no",
        "lk:1:maybe",
        "lk::yes",
        "lk:1:yes",
    ):
        out = await staff.press_data(data)
        assert "not valid" in out[-1] or "No link request" in out[-1], out
