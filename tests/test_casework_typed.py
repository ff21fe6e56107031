"""Case actions typed instead of pressed ("PA-0001 1"), through the real core: on Zalo, which has
no buttons, and on Telegram, which keeps its buttons and takes the typed form as well."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.channels.context import ChannelContext
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo_client import ZaloBotClient
from bot.render import payload_message, typed_text
from handlers.cards import button_data
from handlers.casework import Action
from handlers.text import utf16_units
from handlers.typedaction import parse_typed_action
from handlers.types import ChatKind, Outbound
from storage import admin, casecards
from storage.deptimport import import_departments
from storage.models import Report
from storage.store import SqlStore
from tests.chat import Chat
from tests.fake_zalo import FakeZalo
from tests.polls_helpers import person
from tests.telegram_harness import running_bot
from tests.test_casework_rules import reporter_with_case


async def member(core, user: str, role: str, channel: str, dept: str | None = None) -> Chat:
    """A registered person of this role on this channel, reading English."""
    async with core.sessions() as session, session.begin():
        invite = await admin.create_invite(session, role, "U007", 1, dept)
    chat = Chat(core, user_id=user, channel=channel, display_name=f"{role} {user}", username="")
    await chat.say(f"/start {invite.code}")
    await chat.press(1)
    await chat.press(1)
    await chat.say("/lang")
    await chat.say("2")
    return chat


def in_group(chat: Chat, room: str) -> Chat:
    chat.chat_kind, chat.chat_id = ChatKind.GROUP, room
    return chat


async def case_count(core) -> int:
    async with core.sessions() as session:
        return len((await session.execute(select(Report.id))).all())


async def case_row(core) -> Report:
    async with core.sessions() as session:
        return (await session.execute(select(Report))).scalar_one()


async def bind(core, role: str, channel: str, room: str) -> None:
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, role, channel, room)


async def with_department(core) -> None:
    async with core.sessions() as session, session.begin():
        await import_departments(session, b"code,name,kind\nSCT,So Cong Thuong,external\n")


async def assign_to_sct(staff: Chat) -> None:
    """Assign PA-0001 by typing, picking the department by its number in the list."""
    out = await staff.say("PA-0001 2")
    assert "Assign PA-0001 to which department?" in out[0]
    number = re.search(r"(\d+)\. So Cong Thuong", out[0])
    assert number is not None
    assert await staff.say(number[1]) == ["Done: PA-0001 is now Assigned."]


@pytest.mark.parametrize("typed", ["PA-0001 1", "pa-0001 1", "PA0001 1", "PA-0001  1", "pa 1 1."])
async def test_a_typed_action_in_the_staff_group_acts_on_the_named_case(core, typed):
    await reporter_with_case(core)
    await bind(core, "staff", "zalo", "staff-room")
    staff = in_group(await member(core, "7201", "staff", "zalo"), "staff-room")
    assert await staff.say(typed) == ["Done: PA-0001 is now Acknowledged."]
    assert (await case_row(core)).status == "acknowledged"


async def test_follow_up_steps_are_typed_too_and_cancel_keeps_the_case(core):
    reporter = await reporter_with_case(core)
    await with_department(core)
    await bind(core, "staff", "zalo", "staff-room")
    staff = in_group(await member(core, "7202", "staff", "zalo"), "staff-room")
    await assign_to_sct(staff)
    out = await staff.say("PA-0001 3")
    assert "what should we ask the reporter?" in out[0]
    assert await staff.say("/cancel") == ["Cancelled: nothing was changed."]
    assert (await case_row(core)).status == "assigned"
    await staff.say("PA-0001 3")
    assert await staff.say("Which street?") == ["Done: PA-0001 is now Needs information."]
    assert (await case_row(core)).status == "needs_info"
    assert reporter.transcript


async def test_a_bare_number_in_a_group_asks_which_case_and_changes_nothing(core):
    await reporter_with_case(core)
    await bind(core, "staff", "zalo", "staff-room")
    staff = in_group(await member(core, "7203", "staff", "zalo"), "staff-room")
    assert await staff.say("1") == ["Which case? Write its code and the number, e.g. PA-0042 1."]
    assert (await case_row(core)).status == "new"


async def test_wrong_numbers_unknown_codes_and_refusals_say_why_and_change_nothing(core):
    await reporter_with_case(core)
    await with_department(core)
    await bind(core, "staff", "zalo", "staff-room")
    await bind(core, "department:SCT", "zalo", "dept-room")
    staff = in_group(await member(core, "7204", "staff", "zalo"), "staff-room")
    handler = in_group(await member(core, "7205", "handler", "zalo", "SCT"), "dept-room")
    leader = in_group(await member(core, "7206", "leader", "zalo"), "staff-room")
    out = await staff.say("PA-0001 42")
    assert out[0].startswith("PA-0001 has no action 42.") and "PA-0001 1 — ✔ Acknowledge" in out[0]
    assert await staff.say("PA-0999 1") == ["No case PA-0999 that you may see."]
    assert await staff.say("PA-0001 5") == [
        "This action is not possible while the case is New."
    ]  # resolve: not while new
    assert await leader.say("PA-0001 1") == ["Only staff may do this."]
    # The case is not the department's: its chat learns nothing of it.
    assert await handler.say("PA-0001 1") == ["No case PA-0001 that you may see."]
    assert (await case_row(core)).status == "new"
    await assign_to_sct(staff)
    assert await handler.say("PA-0001 2") == [
        "Departments may acknowledge, ask the reporter, resolve or hand back."
    ]
    assert (await case_row(core)).status == "assigned"


async def test_typed_actions_stay_out_of_unbound_groups(core):
    await reporter_with_case(core)
    staff = in_group(await member(core, "7207", "staff", "zalo"), "some-other-group")
    assert await staff.say("PA-0001 1") == [
        "Please write to me in a private chat to use this command."
    ]
    assert await staff.say("1") == []
    assert (await case_row(core)).status == "new"


async def test_in_a_private_chat_a_bare_number_after_case_acts_on_that_case(core):
    await reporter_with_case(core)
    staff = await member(core, "7208", "staff", "zalo")
    assert await staff.say("1") == ["Which case? Write its code and the number, e.g. PA-0042 1."]
    card = await staff.say("/case PA-0001")
    assert "1. ✔ Acknowledge" in card[0] and "4. ⏰ Set due date" in card[0]
    assert await staff.say("1") == ["Done: PA-0001 is now Acknowledged."]
    assert await staff.say("4") == [
        "When is PA-0001 due?\n\n1. In 24 hours\n2. In 3 days\n3. In 7 days\n4. Type a date"
    ]
    asked = await staff.say("3")
    assert len(asked) == 1 and asked[0].startswith("PA-0001: why does the due date move to ")
    assert await staff.say("Chờ phường gửi số liệu") == ["Done: PA-0001 is now Acknowledged."]
    assert (await case_row(core)).due_at is not None


async def test_a_members_own_text_is_never_taken_for_a_case_action(core):
    await reporter_with_case(core)
    other = Chat(core, user_id="7209", channel="zalo", display_name="Trần Văn Hai")
    for step in ("/start", "Trần Văn Hai", "1", "1"):
        await other.say(step)
    await other.say("PA-0001 1")
    assert (await case_row(core)).status == "new"
    assert "PA-0001" not in other.transcript[-1]


async def test_telegram_takes_the_typed_form_and_a_reply_to_the_card(core):
    await bind(core, "staff", "telegram", "-100777")
    await reporter_with_case(core)
    posted: list[tuple[str, dict]] = []

    class Telegram:
        async def deliver(self, chat_id: str, payload: dict) -> str | None:
            posted.append((chat_id, payload))
            return str(500 + len(posted))

    core.senders["telegram"] = Telegram()
    assert core.delivery is not None
    await core.delivery.run_once()
    card_id = next(str(501 + i) for i, (_, p) in enumerate(posted) if p.get("kind") == "card")
    staff = in_group(await member(core, "7210", "staff", "telegram"), "-100777")
    out = await staff.send(staff._inbound(text="1", reply_to=card_id), "(reply to the card) 1")
    assert out == ["Done: PA-0001 is now Acknowledged."]
    out = await staff.send(staff._inbound(text="1", reply_to="12345"), "(reply to another) 1")
    assert out == ["Which case? Write its code and the number, e.g. PA-0042 1."]
    assert await staff.say("pa-0001 6") == [
        "PA-0001: why is it rejected? The reporter will read this reason. "
        "Reply to this message (or /cancel)."
    ]
    assert (await case_row(core)).status == "acknowledged"


def test_a_card_without_buttons_lists_its_actions_as_messages_to_send():
    message = Outbound(
        "room", "Report PA-0042", typed="To act:\nPA-0042 1 — ✔ Acknowledge", numbered=False
    )
    assert typed_text(message) == "Report PA-0042\n\nTo act:\nPA-0042 1 — ✔ Acknowledge"


# -- the parser: never crashes, never names a case the text did not -----------------------------
@given(st.text(max_size=40))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_the_typed_action_parser_never_crashes_nor_invents_a_case(text):
    typed = parse_typed_action(text)
    if typed is not None and typed.code is not None:
        numbers = [int(run) for run in re.findall(r"[0-9]+", text)]
        assert numbers == [int(typed.code.removeprefix("PA-")), typed.number]
        assert text.strip()[:2].lower() == "pa"


@given(
    st.integers(1, 99999),
    st.integers(1, 99),
    st.sampled_from(["PA-", "pa-", "PA", "Pa ", "PA – ", "pa_", "PA."]),
    st.sampled_from([" ", "  ", "\u00a0", " \t"]),
)
def test_every_keyboard_variant_names_exactly_its_case(number, action, prefix, gap):
    typed = parse_typed_action(f" {prefix}{number:04d}{gap}{action} ")
    assert typed is not None
    assert typed.code == f"PA-{number:04d}" and typed.number == action


@pytest.mark.parametrize("text", ["PA-0042", "PA-00421", "42 1", "PA-0042 1 2", "PB-0042 1", ""])
def test_text_that_does_not_name_a_case_and_an_action_is_no_typed_action(text):
    typed = parse_typed_action(text)
    assert typed is None or typed.code is None


async def test_a_long_card_reaches_zalo_in_pieces_cut_at_line_breaks(core):
    """Zalo takes 2,000 characters a message: a card near Telegram's size arrives in pieces,
    each cut at a line break, and its typed actions arrive whole."""
    await reporter_with_case(core)
    async with core.sessions() as session, session.begin():
        report = (await session.execute(select(Report))).scalar_one()
        report.description = "\n".join(
            f"Dòng {i}: công nhân chưa được trả lương." for i in range(70)
        )
        session.add(report)
    async with core.sessions() as session:
        facts = await casecards.case_facts(session, 1)
    assert facts is not None
    payload = core.effects.card(facts, "staff")
    async with FakeZalo() as fake:
        client = ZaloBotClient(token=fake.bot_token, api_url=fake.url, request_timeout=5)
        context = ChannelContext(
            core.dispatcher, core.translations, core.settings.attachments_dir, 1024
        )
        channel = ZaloChannel(client, context)
        try:
            await channel.deliver("staff-1", payload)
        finally:
            await channel.stop()
        pieces = fake.texts_to("staff-1")
    whole = typed_text(payload_message("staff-1", payload))
    assert len(pieces) == 2 and all(utf16_units(p) <= 2000 for p in pieces)
    assert "\n".join(pieces) == whole  # cut where a line ends, nothing lost
    assert pieces[-1].endswith("PA-0001 7 — 🔁 Trùng với…")  # staff read the org's language


async def test_help_tells_staff_how_to_act_on_cases_and_members_only_their_commands(core):
    staff = await member(core, "7211", "staff", "zalo")
    assert "PA-0042 1: do action 1 of its card" in (await staff.say("/help"))[0]
    other = Chat(core, user_id="7212", channel="zalo", display_name="Trần Văn Hai")
    for step in ("/start", "Trần Văn Hai", "1", "1"):
        await other.say(step)
    assert "PA-0042" not in (await other.say("/help"))[0]


async def test_a_reporters_identity_is_never_typed_for_in_a_group(core):
    await reporter_with_case(core, anonymity=1)  # named
    await bind(core, "staff", "zalo", "staff-room")
    staff = in_group(await member(core, "7213", "staff", "zalo"), "staff-room")
    out = await staff.say("PA-0001 10")
    assert out == [
        "A reporter's identity is given only in a private chat: write /case PA-0001 to me privately."
    ]
    assert all(m.chat_id == "staff-room" for m in staff.last_reply.messages)
    assert "Đinh Thị Lan" not in staff.text()
    private = await member(core, "7214", "staff", "zalo")
    await private.say("/case PA-0001")
    assert "Đinh Thị Lan" in (await private.say("10"))[0]


async def test_over_telegram_a_reply_to_the_card_acts_and_its_buttons_show_the_typed_numbers(
    tmp_path, sqlite_url
):
    """The real Telegram adapter against the fake Bot API: the card's buttons carry the same
    numbers as the typed form, and a staffer's reply "1" to the card acknowledges its case."""
    group = -100777
    async with running_bot(tmp_path, sqlite_url) as bot:
        async with bot.core.sessions() as session, session.begin():
            await admin.bind_chat(session, "staff", "telegram", str(group))
        await person(bot.core, "7301", "staff", "U001", locale="en", channel="telegram")
        await reporter_with_case(bot.core)
        await bot.fake.wait_for(lambda: bool(bot.fake.messages_to(group)), what="the card")
        card = bot.fake.messages_to(group)[0]
        labels = [row[0]["text"] for row in card["reply_markup"]["inline_keyboard"]]
        assert [label.split(".")[0] for label in labels] == ["1", "2", "4", "6", "7"]
        before = len(bot.fake.messages_to(group))
        reply = {"text": "1", "reply_to_message": card}
        bot.fake._user_message(7301, group, "Lan", None, "en", reply)
        out = await bot.replies(group, before)
        assert out[0]["text"] == "Done: PA-0001 is now Acknowledged."


_OTHER_CASE = st.one_of(
    st.builds(
        "{}{}{}{}".format,
        st.sampled_from(["PA-0002", "pa-0002", "PA0002", "PA 2", "pa-2", "PA–0002"]),
        st.sampled_from([" ", "  ", "\u00a0"]),
        st.integers(0, 14).map(str),
        st.sampled_from(["", ".", " ", "\n"]),
    ),
    st.text(max_size=20),
    st.sampled_from(["1", "2", "/cancel", "PA-00012 1", "PA-0001", "0001 1", "P A-0001 1"]),
)


@given(texts=st.lists(_OTHER_CASE, min_size=1, max_size=4))
@settings(max_examples=25)
async def test_typed_text_never_acts_on_a_case_it_does_not_name(core, texts):
    if (await case_count(core)) == 0:
        await reporter_with_case(core)
        other = Chat(core, user_id="5001", display_name="Lò Văn Sáu")
        for step in ("/start", "Lò Văn Sáu", "1", "1", "/report", "2", "2", "1"):
            await other.say(step)
        for step in ("Xưởng in nợ lương hai tháng.", "/skip", "3", "1"):
            await other.say(step)
        assert "PA-0002" in other.transcript[-1]
        await bind(core, "staff", "zalo", "staff-room")
        await member(core, "7215", "staff", "zalo")
    staff = in_group(Chat(core, user_id="7215", channel="zalo"), "staff-room")
    for text in texts:
        await staff.say(text)
    async with core.sessions() as session:
        first = await SqlStore(session).case(1)
    assert first is not None and (first.status, first.version) == ("new", 0)


async def test_a_list_answered_by_button_is_not_answered_again_by_a_later_number(core):
    await reporter_with_case(core)
    await with_department(core)
    await bind(core, "staff", "telegram", "-100778")
    staff = in_group(await member(core, "7216", "staff", "telegram"), "-100778")
    async with core.sessions() as session:
        case = await SqlStore(session).case(1)
    assert case is not None
    await staff.press_data(button_data(case, Action.ASSIGN))
    await staff.press(1)  # the first department, by its button
    assert await staff.say("1") == ["Which case? Write its code and the number, e.g. PA-0042 1."]
