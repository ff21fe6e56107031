"""What the random conversations (test_stateful_conversation.py) found, pinned as plain tests."""

from __future__ import annotations

import pytest

from tests.chat import Chat
from tests.test_casework_rules import reporter_with_case


async def test_a_wrong_invite_code_mid_registration_keeps_the_name_typed_so_far(core):
    chat = Chat(core, user_id="8101", display_name="")
    await chat.say("/start")
    await chat.say("Lê Thị Mai")
    out = await chat.say("/start NOSUCHCODE")
    assert "không hợp lệ" in out[0]
    assert "Lê Thị Mai" in chat.transcript[-1]  # the name question shows it as the answer
    await chat.say("Lê Thị Mai")
    out = await chat.say("tai chinh")
    assert "Sở Tài chính" in out[-1]  # on to the unit question, as before


async def test_superscript_and_circled_digits_are_refused_kindly(core):
    chat = Chat(core, user_id="8102")
    await chat.say("/start")
    await chat.press(1)
    for text in ("²", "①", "Ⅻ"):
        out = await chat.say(text)
        assert "Xin lỗi, đã có lỗi" not in out[0]
        assert "tổ chức cơ sở đảng nào" in out[-1]


async def test_a_one_letter_messenger_name_is_not_offered_as_the_full_name(core):
    chat = Chat(core, user_id="8103", display_name=" L ")
    await chat.say("/start")
    assert not chat.last_choices  # no "Use “L”" button: the name needs two characters
    out = await chat.say("1")
    assert "ít nhất 2" in out[0]


async def test_a_forged_link_confirmation_button_with_a_superscript_is_refused(core):
    chat = Chat(core, user_id="8104")
    await chat.say("/start")
    await chat.say("Lê Thị Mai")
    await chat.say("tai chinh")
    await chat.press(1)
    await chat.press(1)
    out = await chat.press_data("lk:²:yes")
    assert "không hợp lệ" in out[0]


@pytest.mark.parametrize("channel", ["web", "zalo"])
async def test_cancel_at_the_review_says_nothing_was_sent(core, channel):
    chat = Chat(core, user_id="8105", channel=channel)
    for text in ("/start", "1", "tai chinh", "1", "1", "/report", "1", "1", "1"):
        await chat.say(text)
    await chat.say("Mô tả đủ dài về sự việc cần phản ánh.")
    await chat.say("/skip")
    await chat.say("1")  # named: the review follows
    out = await chat.press("Hủy")
    assert out and "chưa có nội dung nào được gửi" in out[-1]


@pytest.mark.parametrize("payload", ["r:1:confirm:0", "r:1:rate:0:9", "r:1:nuke:0"])
async def test_a_reporter_button_naming_no_known_choice_is_refused(core, payload):
    from tests.test_casework_rules import reporter_with_case

    reporter = await reporter_with_case(core, anonymity=1)
    out = await reporter.press_data(payload)
    assert out and "không hợp lệ" in out[0]


@pytest.mark.parametrize("preset", ["NOPE", "", "24h:extra"])
async def test_a_due_date_button_naming_no_known_preset_is_refused(core, preset):
    """Found by the long stateful run: staff pressing `c:…:due:…:NOPE` got no answer at all."""
    from tests.test_casework_rules import person

    await reporter_with_case(core, anonymity=1)
    staff = await person(core, "7301", "staff")
    out = await staff.press_data(f"c:1:due:0:{preset}" if preset else "c:1:due:0:?")
    assert out and "not valid" in out[0]
    out = await staff.press_data("c:1:due:0:3d")  # a real preset still works afterwards
    assert out and "PA-0001" in out[0]
