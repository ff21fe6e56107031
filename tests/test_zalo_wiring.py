"""Zalo wired into the running product by its settings, and the attachment route it needs."""

from __future__ import annotations

import aiohttp
import pytest

from bot.app import Runner, build_core, seed_demo
from bot.config import ConfigError, load_settings
from tests.conftest import make_settings
from tests.fake_zalo import FakeZalo
from tests.telegram_harness import started
from tests.test_restart import free_port


async def test_settings_turn_zalo_on_and_a_member_registers_over_it(tmp_path, sqlite_url):
    fake = FakeZalo()
    await fake.start()
    port = free_port()
    core = await build_core(
        make_settings(
            tmp_path,
            sqlite_url,
            zalo_bot_token=fake.bot_token,
            zalo_api_url=fake.url,
            web_chat=False,
            web_port=port,
            public_url=f"http://127.0.0.1:{port}",
        )
    )
    await seed_demo(core)
    runner = Runner(core)
    await runner.start()
    await started(runner)
    try:
        fake.user_text("zu1", "/start", display_name="Lý Thị Mơ")
        messages = await fake.wait_for_messages("zu1", 2, timeout=10)
        assert "Grassroots" in messages[0]["text"]
        assert "zalo" in core.senders
        async with aiohttp.ClientSession() as http:
            for bad in ("../grassroots.db", "2026/11/not-hex.jpg", "x"):
                async with http.get(f"http://127.0.0.1:{port}/files/{bad}") as resp:
                    assert resp.status == 404
    finally:
        await runner.stop()
        await core.close()
        await fake.stop()


def test_webhook_modes_need_a_public_url_and_a_secret(monkeypatch):
    monkeypatch.setenv("ZALO_BOT_TOKEN", "abc")
    monkeypatch.setenv("ZALO_MODE", "webhook")
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        load_settings(_env_file=None)
    monkeypatch.setenv("PUBLIC_URL", "https://gop-y.example.vn")
    monkeypatch.setenv("ZALO_WEBHOOK_SECRET", "short")
    with pytest.raises(ConfigError, match="ZALO_WEBHOOK_SECRET"):
        load_settings(_env_file=None)
    monkeypatch.setenv("ZALO_WEBHOOK_SECRET", "long-enough-secret")
    assert load_settings(_env_file=None).zalo_enabled
