"""Golden transcript of a whole case on Zalo alone, typed actions only, in both languages: the
reporter on the Zalo bot, staff in an OA group, the department in another OA group, all over
real HTTP against the fake Zalo servers (Bot platform and OA), on a frozen clock:
new → acknowledged → assigned → needs info → answered → resolved → confirmed → closed.
Regenerate with UPDATE_GOLDEN=1 after checking a change is intended."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from bot.app import Core, Runner, build_core, seed_demo
from handlers.ports import Registration
from storage import admin
from storage.store import SqlStore
from tests.conftest import make_settings
from tests.fake_zalo import OA_APP_ID, OA_APP_SECRET, OA_SECRET_KEY, FakeZalo
from tests.polls_helpers import person
from tests.telegram_harness import started

GOLDEN = Path(__file__).with_name("golden")
FROZEN = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
REPORTER = "a1b2c3d4e5f6a7b8c9d0"
STAFF, HANDLER = "oa-staff-1", "oa-dept-1"
STAFF_GROUP, DEPT_GROUP = "g-staff-001", "g-dept-001"
NAMES = {REPORTER: "reporter", STAFF_GROUP: "staff group", DEPT_GROUP: "department group"}


class QuietRunner(Runner):
    """The product without its timed jobs: the test runs the outbox itself, so what each chat
    receives comes in one fixed order."""

    async def _lead(self) -> None:
        for channel in self.channels.values():  # the long polls only
            if channel.receive is not None:
                await channel.receive()


class Zalo:
    """Drives the three chats and writes what each one shows into the transcript."""

    def __init__(self, core: Core, runner: Runner, fake: FakeZalo) -> None:
        self.core, self.runner, self.fake = core, runner, fake
        self.transcript: list[str] = []
        self.seen = {chat: 0 for chat in NAMES}

    def _texts(self, chat: str) -> list[str]:
        if chat == REPORTER:
            return self.fake.texts_to(chat)
        return self.fake.group_texts(chat)

    def record(self) -> None:
        for chat in NAMES:
            texts = self._texts(chat)
            for text in texts[self.seen[chat] :]:
                self.transcript.append(f"<< [{NAMES[chat]}] " + text.replace("\n", "\n  "))
            self.seen[chat] = len(texts)

    async def reporter(self, text: str) -> None:
        before = len(self.fake.messages_to(REPORTER))
        self.transcript.append(f"> [reporter] {text}")
        self.fake.user_text(REPORTER, text, display_name="Hoàng Văn Bảy")
        await self.fake.wait_for_messages(REPORTER, before + 1, timeout=10)
        await self.runner.zalo.drain()
        self.record()

    async def group(self, sender: str, group: str, text: str) -> None:
        self.transcript.append(f"> [{NAMES[group]}] {text}")
        event = self.fake.oa_group_event(sender, group, text)
        webhook = f"http://127.0.0.1:{self.runner.web_port}/zalo/oa/webhook"
        assert await self.fake.deliver_oa_webhook(webhook, event) == 200
        await self.runner.zalo_groups.drain()
        self.record()

    async def flush(self) -> None:
        """Deliver everything the outbox holds (cards, notices), then record it."""
        assert self.core.delivery is not None
        self.core.delivery.parallel_chats = 1
        # Zalo's pace (a message a second per chat) would spread a step over several passes on
        # a frozen clock; the transcript shows what arrives, not when.
        self.core.delivery.limiters.clear()
        while await self.core.delivery.run_once():
            pass
        self.record()


async def committee(tmp_path: Path, lang: str, fake: FakeZalo) -> tuple[Core, Runner]:
    seed = fake.issue_oa_tokens()
    core = await build_core(
        make_settings(
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path / 'z.db'}",
            default_locale=lang,
            zalo_bot_token=fake.bot_token,
            zalo_api_url=fake.url,
            zalo_oa_app_id=OA_APP_ID,
            zalo_oa_app_secret=OA_APP_SECRET,
            zalo_oa_secret_key=OA_SECRET_KEY,
            zalo_oa_access_token=seed["access_token"],
            zalo_oa_refresh_token=seed["refresh_token"],
            zalo_oa_api_url=fake.url,
            zalo_oa_oauth_url=fake.url,
            web_chat=False,
        )
    )
    await seed_demo(core)
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "zalo-oa", STAFF_GROUP)
        await admin.bind_chat(session, "department:SLDTBXH", "zalo-oa", DEPT_GROUP)
        invite = await admin.create_invite(session, "handler", None, 1, "SLDTBXH")
    # Staff and the department's handler, with their OA accounts already linked (how they link
    # one is the OA webhook's own test).
    await person(core, STAFF, "staff", "U001", name="Lê Cán Bộ", locale=lang, channel="zalo-oa")
    async with core.sessions() as session, session.begin():
        await SqlStore(session).register(
            _registration(HANDLER, "Trần Chuyên Viên", lang, invite.code)
        )
    runner = QuietRunner(core)
    await runner.start()
    await started(runner)
    return core, runner


def _registration(user: str, name: str, lang: str, invite: str) -> Registration:
    return Registration("zalo-oa", user, "", name, "U001", "handler", lang, invite)


def department_number(zalo: Zalo, name: str) -> str:
    """The number the department list gives the department, read from what staff were shown."""
    listing = zalo.fake.group_texts(STAFF_GROUP)[-1]
    match = re.search(rf"^(\d+)\. {re.escape(name)}", listing, re.MULTILINE)
    assert match is not None, listing
    return match[1]


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_golden_case_lifecycle_on_zalo_typed_only(lang: str, tmp_path: Path) -> None:
    notes = {
        "question": "Công ty tên là gì, ở khu công nghiệp nào?",
        "answer": "Công ty TNHH May mặc Hòa Bình, KCN Tam Phước.",
        "resolved": "Công ty đã đóng đủ cho 40 người, có xác nhận của BHXH tỉnh.",
    }
    with time_machine.travel(FROZEN, tick=False):
        fake = FakeZalo()
        await fake.start()
        core, runner = await committee(tmp_path, lang, fake)
        zalo = Zalo(core, runner, fake)
        try:
            for step in ("/start", "Hoàng Văn Bảy", "1", "1"):
                await zalo.reporter(step)
            zalo.transcript.clear()
            for step in (
                "/report",
                "2",
                "1",
                "1",
                "Công ty chậm đóng BHXH cho 40 người lao động từ tháng 6/2026.",
                "/skip",
                "3",
                "1",
            ):
                await zalo.reporter(step)
            await zalo.flush()
            await zalo.group(STAFF, STAFF_GROUP, "PA-0001 1")  # acknowledge
            await zalo.flush()
            await zalo.group(STAFF, STAFF_GROUP, "pa-0001 2")  # assign…
            department = "Sở Lao động - Thương binh và Xã hội"
            await zalo.group(STAFF, STAFF_GROUP, department_number(zalo, department))
            await zalo.flush()
            await zalo.group(HANDLER, DEPT_GROUP, "PA0001 3")  # ask the reporter
            await zalo.group(HANDLER, DEPT_GROUP, notes["question"])
            await zalo.flush()
            await zalo.reporter(notes["answer"])
            await zalo.flush()
            await zalo.group(HANDLER, DEPT_GROUP, "PA-0001 5")  # resolve
            await zalo.group(HANDLER, DEPT_GROUP, notes["resolved"])
            await zalo.flush()
            await zalo.reporter("1")  # yes, it is resolved
            await zalo.flush()
            await zalo.reporter("5")
            await zalo.flush()
            async with core.sessions() as session:
                case = await SqlStore(session).case(1)
            assert case is not None and case.status == "closed"
        finally:
            await runner.stop()
            await core.close()
            await fake.stop()
    got = "\n".join(zalo.transcript) + "\n"
    assert "bấm" not in got.lower() and "tap " not in got.lower() and "press" not in got.lower()
    path = GOLDEN / f"case_lifecycle.zalo.{lang}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text(encoding="utf-8")
