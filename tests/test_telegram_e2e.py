"""The Done-when path over the real python-telegram-bot against the fake Bot API server."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from storage import admin
from storage.models import Attachment, Invite, OrgUnit
from tests.cli import run_cli
from tests.telegram_harness import running_bot

STAFF_CHAT = -100200300
LEADERS_CHAT = -100999888
MEMBER = 5550001
SELF_MEMBER = 5550002


async def _invite(core, code: str, role: str = "member", unit: str = "U007") -> None:
    async with core.sessions() as session, session.begin():
        unit_id = (
            await session.execute(select(OrgUnit.id).where(OrgUnit.code == unit))
        ).scalar_one()
        session.add(Invite(code=code, role=role, unit_id=unit_id, uses_left=5))


@pytest.mark.any_hour
async def test_invite_registration_hot_anonymous_photo_report_reaches_staff_without_identity(
    tmp_path, sqlite_url
):
    async with running_bot(tmp_path, sqlite_url) as h:
        await _invite(h.core, "INVITE42")
        async with h.core.sessions() as session, session.begin():
            await admin.bind_chat(session, "staff", "telegram", str(STAFF_CHAT))
            await admin.bind_chat(session, "leaders", "telegram", str(LEADERS_CHAT))
        fake = h.fake
        out = await h.say(MEMBER, "/start INVITE42", first_name="Trần Thị", username="tranthibinh")
        # The invite fixes the unit, so only the name and consent are asked.
        assert "2" in out[-1]["text"] and "Nguyễn" not in out[-1]["text"]
        out = await h.press(MEMBER, out[-1], 1)  # use the Telegram profile name
        assert out[-1]["reply_markup"]  # the consent question
        out = await h.press(MEMBER, out[-1], 1)  # agree
        assert "U007" not in out[-1]["text"]
        await h.settle()

        out = await h.say(MEMBER, "/report")
        out = await h.press(MEMBER, out[-1], 2)  # category
        out = await h.press(MEMBER, out[-1], 2)  # hot
        out = await h.press(MEMBER, out[-1], 1)  # my unit
        out = await h.say(
            MEMBER, "Công nhân phân xưởng 2 bị nợ lương ba tháng, có nguy cơ ngừng việc tập thể."
        )
        before = len(fake.messages_to(MEMBER))
        fake.user_photo(MEMBER, first_name="Trần Thị", username="tranthibinh")
        out = await h.replies(MEMBER, before)
        out = await h.press(MEMBER, out[-1], 1)  # done
        out = await h.press(MEMBER, out[-1], 3)  # anonymous
        review = out[-1]
        out = await h.press(MEMBER, review, 1)  # send
        confirmation = out[-1]["text"]
        assert "PA-0001" in confirmation
        # Leaders hear of a hot report within seconds, without the hidden identity.
        alert = (await fake.wait_for_messages(LEADERS_CHAT, 1, timeout=5))[0]
        # Leaders were bound after start-up, so no catch-up digest came before the alert.
        assert "PA-0001" in alert["text"] and "🔥" in alert["text"]
        assert "Trần" not in alert["text"] and "tranthibinh" not in alert["text"]
        # The tapped keyboard is gone and shows what was chosen.
        assert fake.message(MEMBER, review["message_id"]).get("reply_markup") in (None, {})

        # The photo was downloaded through the Bot API and stored under ATTACHMENTS_DIR.
        async with h.core.sessions() as session:
            att = (await session.execute(select(Attachment))).scalar_one()
        stored = h.core.settings.attachments_dir / att.path
        assert stored.exists() and stored.stat().st_size > 0

        # Staff see the card and the photo, without who sent it.
        staff = await fake.wait_for_messages(STAFF_CHAT, 2, timeout=10)
        card = staff[0]["text"]
        assert "PA-0001" in card and "🔥" in card
        for secret in ("Trần", "tranthibinh", str(MEMBER)):
            assert all(secret not in json.dumps(m, ensure_ascii=False) for m in staff)
        assert staff[1]["method"] == "sendPhoto"

        # /my lists it; opening it shows the history.
        out = await h.say(MEMBER, "/my")
        assert "PA-0001" in out[-1]["text"]
        out = await h.press(MEMBER, out[-1], 1)
        assert "PA-0001" in out[-1]["text"]

        # Self-registration: search the unit by typing part of its name, without accents.
        out = await h.say(SELF_MEMBER, "/start", first_name="Lê Văn", username="levanc")
        out = await h.say(SELF_MEMBER, "Lê Văn Cường")
        out = await h.say(SELF_MEMBER, "so tai chinh")
        assert "Sở Tài chính" in out[-1]["text"]
        out = await h.press(SELF_MEMBER, out[-1], 1)
        out = await h.press(SELF_MEMBER, out[-1], 1)
        assert "Sở Tài chính" in out[-1]["text"]

    # The staff-facing listing carries no identity either.
    listing = await run_cli(["reports", "list", "--json"], DATABASE_URL=sqlite_url)
    assert "PA-0001" in listing
    for secret in ("Trần", "tranthibinh", str(MEMBER)):
        assert secret not in listing
