"""Likely duplicates on the staff card, through the real core: the line, the one-tap button,
the typed form, and what a hint never tells."""

from __future__ import annotations

from sqlalchemy import select

from storage import admin
from storage.models import OutboxMessage, Report
from tests.chat import Chat
from tests.test_casework_actions import staff_in_group

WAGES = "Công ty may Hòa Thọ chậm trả lương tháng 10 cho công nhân xưởng 3 hơn hai tuần."
WAGES_PHONE = "cty may hoa tho no lg thang 10 cn xuong 3, qua 2 tuan chua tra"
KARAOKE = "Quán karaoke đường Âu Cơ hát tới 2 giờ sáng, cả xóm mất ngủ."


async def member(core, user: str, name: str, unit: str = "1") -> Chat:
    chat = Chat(core, user_id=user, display_name=name, username=f"u{user}")
    for step in ("/start", name, unit, "1"):
        await chat.say(step)
    return chat


async def report(chat: Chat, text: str, anonymity: int) -> str:
    """anonymity: 1 named, 3 anonymous (the form's order)."""
    for step in ("/report", "2", "2", "1", text, "/skip", str(anonymity)):
        await chat.say(step)
    out = await chat.say("1")
    return out[-1]


async def staff_card(core, report_id: int) -> dict:
    async with core.sessions() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    cards = [r.payload for r in rows if r.payload.get("report_id") == report_id]
    assert cards, "no card was queued"
    return cards[-1]


async def bound_staff_room(core) -> None:
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "web", "staff-room")


async def test_a_similar_report_shows_on_the_card_with_a_one_tap_duplicate(core):
    await bound_staff_room(core)
    lan = await member(core, "5001", "Đinh Thị Lan")
    binh = await member(core, "5002", "Trần Văn Bình", unit="2")  # another unit
    assert "PA-0001" in await report(lan, WAGES, anonymity=1)  # named
    assert "PA-0002" in await report(binh, WAGES_PHONE, anonymity=3)  # anonymous
    card = await staff_card(core, 2)  # in the organisation's language, Vietnamese
    line = next(x for x in card["text"].splitlines() if "Có thể trùng" in x)
    percent = int(line.split("(")[1].rstrip("%)"))
    assert "PA-0001" in line and 46 <= percent <= 100
    # The hint names a code and a likeness only: neither reporter appears on the card.
    for secret in ("Lan", "Bình", "Binh", "5001", "5002", "u5001"):
        assert secret not in card["text"]
    data, label = next(c for c in card["choices"] if "PA-0001" in c[1])
    assert label == "Trùng với PA-0001"
    staff = await staff_in_group(core)
    await staff.press_data(data)
    async with core.sessions() as session:
        second = await session.get(Report, 2)
    assert second is not None and second.status == "duplicate" and second.duplicate_of_id == 1
    # Now a duplicate, its card no longer suggests anything.
    assert "Có thể trùng" not in (await staff_card(core, 2))["text"]


async def test_an_unrelated_report_gets_no_hint_even_from_the_same_person(core):
    """Similarity reads the text, the unit and the category; never who wrote it."""
    await bound_staff_room(core)
    lan = await member(core, "5001", "Đinh Thị Lan")
    await report(lan, WAGES, anonymity=1)
    await report(lan, KARAOKE, anonymity=3)
    assert "Có thể trùng" not in (await staff_card(core, 2))["text"]
    assert not [c for c in (await staff_card(core, 2))["choices"] if "Trùng với PA" in c[1]]


async def test_a_hidden_report_is_never_paired_with_a_named_one_of_its_own_unit(core):
    """A member who repeats their named report under a hidden identity must not be linked by
    their words; the rule looks at the unit, so it says nothing about the author."""
    await bound_staff_room(core)
    lan = await member(core, "5001", "Đinh Thị Lan")
    await report(lan, WAGES, anonymity=1)  # named
    await report(lan, WAGES_PHONE, anonymity=3)  # the same matter, anonymous, same unit
    assert "Có thể trùng" not in (await staff_card(core, 2))["text"]
    # Between two hidden reports, or across units, the hint still shows.
    binh = await member(core, "5002", "Trần Văn Bình", unit="2")
    await report(binh, WAGES, anonymity=3)
    hints = [x for x in (await staff_card(core, 3))["text"].splitlines() if "Có thể trùng" in x]
    assert any("PA-0002" in x for x in hints) and any("PA-0001" in x for x in hints)


async def test_the_typed_form_in_a_private_chat_marks_the_duplicate(core):
    lan = await member(core, "5001", "Đinh Thị Lan")
    await report(lan, WAGES, anonymity=1)
    binh = await member(core, "5002", "Trần Văn Bình", unit="2")  # another unit
    await report(binh, WAGES_PHONE, anonymity=3)
    from tests.test_casework_rules import person  # the staff invite helper of the casework tests

    staff = await person(core, "7301", "staff")
    out = await staff.say("/case PA-0002")
    assert "Possible duplicate: PA-0001" in out[-1]
    await staff.say("Duplicate of PA-0001")
    async with core.sessions() as session:
        second = await session.get(Report, 2)
    assert second is not None and second.status == "duplicate"


async def test_a_chat_without_buttons_lists_the_duplicate_by_number_and_takes_it(core):
    await bound_staff_room(core)
    lan = await member(core, "5001", "Đinh Thị Lan")
    await report(lan, WAGES, anonymity=1)
    binh = await member(core, "5002", "Trần Văn Bình", unit="2")  # another unit
    await report(binh, WAGES_PHONE, anonymity=3)
    card = await staff_card(core, 2)
    line = next(x for x in card["typed"].splitlines() if "Trùng với PA-0001" in x)
    typed = line.split(" — ")[0]  # "PA-0002 9"
    staff = await staff_in_group(core)
    await staff.say(typed)
    async with core.sessions() as session:
        second = await session.get(Report, 2)
    assert second is not None and second.status == "duplicate" and second.duplicate_of_id == 1


async def test_the_admin_case_page_lists_similar_reports_and_marks_a_duplicate(core):
    from tests.admin_web import admin_browser  # the admin's browser helper, only for this test
    from tests.test_admin_cases import signed_in, submit_reports

    await submit_reports(core, 1, description=WAGES, anonymity="named")
    await submit_reports(core, 1, description=WAGES_PHONE, unit="U008")  # anonymous
    await submit_reports(core, 1, description=KARAOKE)
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        page = await browser.get("/admin/cases/PA-0002")
        assert 'id="similar"' in page.text
        assert 'href="/admin/cases/PA-0001">Possible duplicate: PA-0001 (' in page.text
        assert "PA-0003" not in page.text  # the karaoke report is nothing like it
        assert "Đinh Thị Lan" not in page.text  # the named report's author is not shown here
        assert 'id="similar"' not in (await browser.get("/admin/cases/PA-0003")).text
        done = await browser.post(
            "/admin/cases/PA-0002/act", {"action": "dup", "version": "0", "text": "PA-0001"}
        )
        assert done.status == 303
        assert 'id="similar"' not in (await browser.get("/admin/cases/PA-0002")).text
    async with core.sessions() as session:
        second = await session.get(Report, 2)
    assert second is not None and second.duplicate_of_id == 1
