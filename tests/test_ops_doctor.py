"""`grassroots doctor` as an operator runs it, against the fake Telegram and Zalo servers: a good
set-up passes every check; broken settings fail the checks they break, say what to fix, and
never print a token."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.ops.doctor import clock_check
from tests.cli import ROOT
from tests.fake_telegram import FakeTelegram
from tests.fake_zalo import FakeZalo

TOKEN = "123456:DOCTOR-TEST-TOKEN"


async def doctor(**env: str) -> tuple[int, str]:
    """On the real clock (not the test's): the doctor compares it with the database's."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "doctor",
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def statuses(out: str) -> dict[str, str]:
    """Check name -> status, from lines like `OK    telegram     @bot`."""
    found = {}
    for text in out.splitlines():
        status, _, rest = text.partition(" ")
        if status in ("OK", "WARN", "FAIL"):
            found[rest.strip()[:12].strip()] = status
    return found


async def test_doctor_passes_a_good_setup_and_fails_broken_settings_clearly(
    tmp_path: Path, migrated_sqlite: Path
) -> None:
    shutil.copyfile(migrated_sqlite, tmp_path / "gr.db")
    (tmp_path / "keys").mkdir()
    async with FakeZalo() as zalo:
        telegram = FakeTelegram()
        await telegram.start()
        try:
            env = {
                "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gr.db'}",
                "DATA_DIR": str(tmp_path),
                "ATTACHMENTS_DIR": str(tmp_path / "att"),
                "SEAL_KEY": "",
                "SEAL_KEY_FILE": str(tmp_path / "keys" / "seal.key"),
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_URL": telegram.url,
                "TELEGRAM_MODE": "webhook",
                "TELEGRAM_WEBHOOK_SECRET": "s3cret-s3cret",
                "PUBLIC_URL": "https://gop-y.example.vn",
                "ZALO_BOT_TOKEN": zalo.bot_token,
                "ZALO_API_URL": zalo.url,
                "ZALO_MODE": "webhook",
                "ZALO_WEBHOOK_SECRET": "z4lo-s3cret",
                "AUTO_MIGRATE": "false",
            }
            (tmp_path / "keys" / "seal.key").write_text("x\n")
            code, out = await doctor(**env)
            assert code == 0, out
            found = statuses(out)
            for name in ("settings", "database", "migrations", "clock", "attachments"):
                assert found[name] == "OK", out
            assert found["telegram"] == "OK" and "@" in out
            assert found["telegram web"] == "OK"  # registered by `run` at start
            assert found["zalo"] == "OK" and found["zalo webhook"] == "OK"
            assert out.rstrip().endswith("0 failed, 0 warnings.")

            # Broken: Telegram refuses the token, the attachments folder is a file, and the
            # database is behind while AUTO_MIGRATE is off.
            telegram.fail_next("getMe", status=401, description="Unauthorized")
            (tmp_path / "not-a-folder").write_text("")
            broken = {
                **env,
                "ATTACHMENTS_DIR": str(tmp_path / "not-a-folder"),
                "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}",
            }
            (tmp_path / "behind.db").write_bytes(b"")  # an empty database, never migrated
            code, out = await doctor(**broken)
            assert code == 1, out
            found = statuses(out)
            assert found["telegram"] == "FAIL" and "TELEGRAM_BOT_TOKEN" in out
            assert found["attachments"] == "FAIL" and "not a writable folder" in out
            assert found["migrations"] == "FAIL" and "grassroots db upgrade" in out
            assert found["zalo"] == "OK"
            assert TOKEN not in out and zalo.bot_token not in out
            assert "Traceback" not in out

            # A setting that does not load at all is reported the same way.
            code, out = await doctor(**{**env, "TIMEZONE": "Mars/Olympus"})
            assert code == 1 and "FAIL  settings" in out and "TIMEZONE" in out
        finally:
            await telegram.stop()


def test_clock_skew_against_the_database_warns_then_fails() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    now = datetime.now(UTC)
    assert clock_check(settings, now, same_machine=False).status == "OK"
    assert clock_check(settings, now - timedelta(seconds=10), same_machine=False).status == "WARN"
    late = clock_check(settings, now + timedelta(minutes=3), same_machine=False)
    assert late.status == "FAIL" and "NTP" in late.detail
