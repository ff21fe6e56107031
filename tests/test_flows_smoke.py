from handlers.types import Media, MediaKind
from tests.chat import Chat


async def test_self_registration_and_report(core):
    chat = Chat(core)
    await chat.say("/start")
    await chat.press(1)  # use profile name
    await chat.say("Sở Tài chính")
    await chat.press(1)
    await chat.press(1)  # agree
    await chat.say("/report")
    await chat.press(2)
    await chat.press(2)  # hot
    await chat.press(1)  # my unit
    await chat.say("Công nhân bị nợ lương ba tháng, đang có nguy cơ đình công tại phân xưởng 2.")
    await chat.media(Media(MediaKind.PHOTO, ref="2026/11/x.jpg", mime="image/jpeg", size=10))
    await chat.press("")
    await chat.press(3)
    out = await chat.press(1)
    print(chat.text())
    assert any("PA-0001" in t for t in out)
