"""Every bad input gets a kind explanation and the same question again; nothing entered is lost."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select

from bot.logs import configure_logging
from handlers.types import Media, MediaKind
from storage.models import Report
from tests.chat import Chat


async def registered(core, user_id: str = "2001", locale: str = "en") -> Chat:
    chat = Chat(core, user_id=user_id)
    await chat.say("/start")
    await chat.press(1)
    await chat.say("Sở Tài chính")
    await chat.press(1)
    await chat.press(1)
    if locale == "en":
        await chat.say("/lang")
        await chat.press("English")
    return chat


async def at_description(chat: Chat) -> None:
    await chat.say("/report")
    await chat.press(2)  # category
    await chat.press(1)  # normal
    await chat.press(1)  # my unit


def last_question(chat: Chat) -> str:
    return next(line for line in reversed(chat.transcript) if line.startswith("< ("))


async def test_wrong_answer_to_a_choice_is_explained_and_asked_again(core):
    chat = await registered(core)
    await chat.say("/report")
    await chat.press(3)  # category: discipline
    out = await chat.say("very urgent")  # not a choice
    assert "not one of the choices" in out[0]
    assert "How urgent is it?" in out[1]
    out = await chat.say("7")  # out of range
    assert "not one of the choices" in out[0]
    # Typing the label works as well as the number.
    out = await chat.say("normal")
    assert "Which unit" in out[0]
    await chat.say("/back")
    await chat.say("/back")
    out = await chat.say("/back")
    assert "first question" in out[0]
    assert "Current answer: Discipline" in out[1]  # the earlier answer was kept


async def test_oversized_text_is_refused_and_earlier_answers_are_kept(core):
    chat = await registered(core)
    await at_description(chat)
    out = await chat.say("x" * 4001)
    assert "4001 characters" in out[0] and "4000" in out[0]
    assert "Describe the issue" in out[1]
    out = await chat.say("short")
    assert "at least 10" in out[0]
    out = await chat.say("Nhà xưởng bị dột nước sau mưa lớn, ảnh hưởng máy móc.")
    assert "attachments" in out[0].lower() or "photos" in out[0]
    await chat.press("Done")
    await chat.press(1)
    review = chat.transcript[-1]
    assert "Jobs, income" in review and "Nhà xưởng bị dột" in review


async def test_unexpected_media_stickers_and_unknown_commands(core):
    chat = await registered(core)
    await chat.say("/report")
    out = await chat.media(Media(MediaKind.PHOTO, ref="a.jpg"))
    assert "not expecting a file" in out[0]
    assert "Pick a category" in out[1]
    out = await chat.media(Media(MediaKind.STICKER))
    assert "Stickers" in out[0] and "Pick a category" in out[1]
    out = await chat.say("/frobnicate")
    assert "/frobnicate" in out[0] and "Pick a category" in out[1]
    await chat.press(1)
    await chat.press(1)
    await chat.press(1)
    await chat.say("Mô tả sự việc đủ dài để được chấp nhận.")
    out = await chat.media(Media(MediaKind.VIDEO))
    assert "not supported" in out[0]
    out = await chat.media(Media(MediaKind.DOCUMENT, size=10**9, too_large=True))
    assert "too large" in out[0]
    out = await chat.say("/skip")
    assert "Who may see" in out[0]
    out = await chat.say("/skip")
    assert "cannot be skipped" in out[0] and "Who may see" in out[1]


async def test_stale_double_and_forged_buttons_change_nothing(core):
    chat = await registered(core)
    await chat.say("/report")
    stale = chat.last_choices[0][1]
    await chat.press(2)  # answered: category
    out = await chat.press_data(stale)  # double tap / old prompt
    assert "out of date" in out[0]
    assert not chat.last_reply.messages  # nothing else happened
    out = await chat.press_data("not-a-button")
    assert "not valid" in out[0]
    out = await chat.press_data("x" * 80 + ":1")
    assert "not valid" in out[0]
    # Another person's current button does not work in my conversation.
    other = await registered(core, user_id="2002")
    await other.say("/report")
    theirs = other.last_choices[0][1]
    out = await chat.press_data(theirs)
    assert "out of date" in out[0]
    out = await chat.say("1")  # and my own question is still the urgency one
    assert "Which unit" in out[0]


async def test_replayed_update_is_processed_once(core):
    chat = await registered(core)
    inbound = chat._inbound(text="/report")
    first = await chat.send(inbound, "/report")
    again = await chat.send(inbound, "/report (replayed)")
    assert first and again == []
    assert chat.transcript[-1] == "< (duplicate: ignored)"


async def test_one_persons_updates_run_in_order_while_people_run_concurrently(core):
    """Fire each member's whole report at once; per-person order must hold for it to succeed."""
    members = [await registered(core, user_id=f"30{i:02d}") for i in range(12)]

    async def burst(chat: Chat) -> None:
        steps = [
            "/report",
            "2",
            "2",
            "1",
            f"Phản ánh số {chat.user_id}: mất điện kéo dài.",
            "1",
            "3",
            "1",
        ]
        tasks = [asyncio.create_task(chat.say(text)) for text in steps]
        await asyncio.gather(*tasks)

    await asyncio.gather(*(burst(c) for c in members))
    async with core.sessions() as session:
        count = (await session.execute(select(func.count()).select_from(Report))).scalar_one()
        descriptions = set((await session.execute(select(Report.description))).scalars())
    assert count == 12
    assert all(f"Phản ánh số {c.user_id}: mất điện kéo dài." in descriptions for c in members)


async def test_group_messages_from_strangers_get_a_hint_or_are_ignored(core):
    from handlers.types import ChatKind

    stranger = Chat(core, user_id="4001", chat_kind=ChatKind.GROUP, chat_id="-1001")
    assert await stranger.say("hello everyone") == []
    out = await stranger.say("/report")
    assert "private chat" in out[0] or "riêng" in out[0]
    out = await stranger.press_data("abc:1")
    assert out  # a polite toast, no crash
    assert await stranger.media(Media(MediaKind.STICKER)) == []


async def test_cancel_discards_and_says_nothing_was_sent(core):
    chat = await registered(core)
    await at_description(chat)
    out = await chat.say("/cancel")
    assert "Nothing was sent" in out[0]
    async with core.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Report))).scalar_one() == 0
    out = await chat.say("/report")
    assert "Pick a category" in out[-1]  # a fresh start, not the old draft


async def test_a_draft_survives_other_commands(core):
    chat = await registered(core)
    await at_description(chat)
    await chat.say("/help")
    out = await chat.say("/my")
    assert "not sent any reports" in out[0]
    out = await chat.say("/report")
    assert "unfinished report" in out[0] and "Describe the issue" in out[1]


async def test_anonymous_and_confidential_reporters_never_reach_logs(core, caplog):
    from storage import admin

    configure_logging("DEBUG")  # the most an operator can turn on
    caplog.set_level(logging.DEBUG)
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "web", "staff-room")
    for level in (3, 2):  # anonymous, confidential
        chat = Chat(core, user_id=f"90{level}", display_name="Phạm Thị Hoa", username="phamthihoa")
        await chat.say("/start")
        await chat.press(1)
        await chat.say("1")
        await chat.press(1)
        await at_description(chat)
        await chat.say("Có dấu hiệu tiêu cực trong đấu thầu mua sắm thiết bị.")
        await chat.press(1)
        await chat.press(level)
        await chat.press(1)
    assert core.delivery is not None
    core.senders["web"] = _Recorder()
    await core.delivery.run_once()
    cards = "\n".join(str(p) for p in core.senders["web"].sent)  # type: ignore[attr-defined]
    assert "PA-0001" in cards and "PA-0002" in cards
    everything = cards + "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("Phạm Thị Hoa", "phamthihoa", "902", "903"):
        assert secret not in everything


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    async def deliver(self, chat_id: str, payload: dict) -> None:
        self.sent.append((chat_id, payload))


async def test_plain_words_work_as_commands(core):
    chat = await registered(core)
    out = await chat.say("Phản ánh")
    assert "Pick a category" in out[-1]
    out = await chat.say("HUY")  # accents and case ignored
    assert "Nothing was sent" in out[0]
    out = await chat.say("trợ giúp")
    assert "/report" in out[0]
    out = await chat.say("hủy bỏ toàn bộ")  # not an alias: a whole message must match
    assert "/report" in out[0] and "Nothing was sent" not in out[0]


async def test_without_any_units_a_newcomer_is_told_registration_is_not_open(tmp_path, sqlite_url):
    from bot.app import build_core
    from tests.conftest import make_settings

    bare = await build_core(make_settings(tmp_path, sqlite_url))
    try:
        out = await Chat(bare, user_id="1").say("/start")
        assert "chưa được thiết lập" in out[0]
    finally:
        await bare.close()


async def test_a_photo_with_a_caption_at_the_description_keeps_both(core):
    chat = await registered(core)
    await at_description(chat)
    out = await chat.media(
        Media(MediaKind.PHOTO, ref="2026/11/p.jpg", mime="image/jpeg", size=900),
        caption="Tường rào nhà xưởng bị sập sau mưa lớn đêm qua.",
    )
    assert "kept with your report" in out[0]
    assert "Attachments received so far: 1." in out[1]
    await chat.press("Done")
    await chat.press(1)
    review = chat.transcript[-1]
    assert "Tường rào nhà xưởng" in review and "1 photo" in review


async def test_an_anonymous_report_with_a_document_warns_about_its_properties(core):
    chat = await registered(core)
    await at_description(chat)
    await chat.say("Biên bản cuộc họp có nội dung đáng lo ngại.")
    await chat.media(Media(MediaKind.DOCUMENT, ref="2026/11/d.odt", name="bien-ban.odt", size=9000))
    await chat.press("Done")
    out = await chat.press(3)  # anonymous
    assert "author's name" in out[0]
    await chat.press("Edit")
    await chat.press(6)  # who may see
    out = await chat.press(1)  # named: no warning
    assert "author's name" not in out[0]


async def test_one_person_flooding_is_slowed_down_without_holding_up_others(core):
    flooder = Chat(core, user_id="9999")
    replies = [await flooder.say("xin chào") for _ in range(40)]
    answered = [r for r in replies if r]
    assert len(answered) == 31  # 30 handled, then one warning
    assert "Too many messages" in answered[-1][0] or "quá nhiều tin nhắn" in answered[-1][0]
    other = Chat(core, user_id="9998")
    assert await other.say("/start")  # somebody else is served as usual
