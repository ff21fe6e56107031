"""A running product with the Zalo OA channel (sending and its webhook) against the fake."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.app import Core, Runner, build_core, seed_demo
from storage import admin
from tests.conftest import make_settings
from tests.fake_zalo import OA_APP_ID, OA_APP_SECRET, OA_SECRET_KEY, FakeZalo
from tests.polls_helpers import person
from tests.telegram_harness import started

GROUP = "g-staff-001"
STAFF = "oa-staff-1"


@dataclass
class OAProduct:
    core: Core
    runner: Runner
    fake: FakeZalo

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.runner.web_port}/zalo/oa/webhook"

    async def send(self, event: dict, signature: str | None = None) -> int:
        status = await self.fake.deliver_oa_webhook(self.webhook, event, signature)
        await self.runner.zalo_groups.drain()
        return status

    def replies(self, group: str = GROUP) -> list[str]:
        return self.fake.group_texts(group)


@asynccontextmanager
async def running_oa(
    tmp_path: Path, sqlite_url: str, migrated_sqlite: Path
) -> AsyncIterator[OAProduct]:
    shutil.copyfile(migrated_sqlite, tmp_path / "test.db")
    fake = FakeZalo()
    await fake.start()
    seed = fake.issue_oa_tokens()
    core = await build_core(
        make_settings(
            tmp_path,
            sqlite_url,
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
    runner = Runner(core)
    await runner.start()
    await started(runner)
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "zalo-oa", GROUP)
    await person(core, STAFF, "staff", "U001", name="Cán bộ Lan", channel="zalo-oa")
    await person(core, "oa-member-9", "member", "U001", name="Đoàn viên Chín", channel="zalo-oa")
    try:
        yield OAProduct(core, runner, fake)
    finally:
        await runner.stop()
        await core.close()
        await fake.stop()
