"""Operator commands say what they did, in local time, and refuse what they cannot do (#11).

Commands run in-process (the parser and the command functions `grassroots` itself uses) so the
clock can be frozen."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from sqlmodel import select

from bot.app import Core
from bot.cli import COMMANDS, CliError, _parser
from scheduler.jobs import JOBS
from storage.models import ChatBinding, Department, OrgUnit, OutboxMessage, Report
from tests.polls_helpers import POLLS, bind

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# 07:31 on 3 December 2026 in Hanoi, just after the daily digest's 07:30.
MORNING = datetime(2026, 12, 3, 0, 31, tzinfo=UTC)


async def cli(core: Core, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `grassroots ARGV` against the core's database; its output. Failures raise CliError."""
    args = _parser().parse_args(list(argv))
    assert await COMMANDS[args.group](args, core.settings) == 0
    return capsys.readouterr().out


async def count(core: Core, model: type) -> int:
    async with core.sessions() as session:
        return len(list((await session.execute(select(model))).scalars()))


async def test_a_dry_run_import_counts_what_would_change_and_changes_nothing(
    core: Core, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    units = tmp_path / "units.csv"
    units.write_text(
        "code,name,kind,host_kind,parent_code\n"
        "U001,Chi bộ Văn phòng Tỉnh ủy,cell,agency,\n"  # as in the demo: unchanged
        "U002,Đảng bộ Ban Tổ chức Tỉnh ủy (mới),party_committee,agency,\n"  # renamed
        "X01,Chi bộ mới,cell,agency,X02\n"  # new, under a unit that is new as well
        "X02,Đảng bộ mới,party_committee,agency,\n",
        encoding="utf-8",
    )
    before = await count(core, OrgUnit)
    out = await cli(core, capsys, "org", "import", str(units), "--dry-run")
    assert "Would import: 2 new, 1 updated, 1 unchanged." in out
    assert await count(core, OrgUnit) == before
    out = await cli(core, capsys, "org", "import", str(units))
    assert "Imported: 2 new, 1 updated, 1 unchanged." in out

    depts = tmp_path / "depts.csv"
    depts.write_text(
        "code,name,kind\nBTC,Ban Tổ chức Đảng ủy Khối,internal\nSYT,Sở Y tế,external\n",
        encoding="utf-8",
    )
    before = await count(core, Department)
    out = await cli(core, capsys, "dept", "import", str(depts), "--dry-run")
    assert "Would import: 1 new, 0 updated, 1 unchanged." in out
    assert await count(core, Department) == before


async def test_binding_a_chat_to_an_unknown_department_is_refused(
    core: Core, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CliError, match="no department with code 'NOPE'"):
        await cli(
            core,
            capsys,
            "chat",
            "bind",
            "department:NOPE",
            "--channel",
            "telegram",
            "--chat",
            "-100",
        )
    assert await count(core, ChatBinding) == 0
    out = await cli(
        core, capsys, "chat", "bind", "department:BTC", "--channel", "telegram", "--chat", "-100"
    )
    assert "bound as department:BTC" in out


async def test_a_handler_invite_says_who_sends_what_and_how_to_get_the_link(
    core: Core, capsys: pytest.CaptureFixture[str]
) -> None:
    out = await cli(core, capsys, "invite", "create", "--role", "handler", "--dept", "BTC")
    code = out.splitlines()[0]
    assert "Members" not in out
    assert f"The new handler sends /start {code} to the bot" in out
    assert "TELEGRAM_BOT_TOKEN" in out  # no token here: how to get the Telegram link
    core.settings.telegram_bot_token = "123:abc"
    core.settings.telegram_api_url = "http://127.0.0.1:9"  # nothing listens there
    out = await cli(core, capsys, "invite", "create", "--role", "handler", "--dept", "BTC")
    assert "getMe failed" in out and "https://t.me/<bot username>?start=" in out


async def test_an_invite_prints_the_deep_link_when_the_bot_is_known(
    core: Core, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fake_telegram import FakeTelegram

    async with FakeTelegram() as fake:
        core.settings.telegram_bot_token = "123:abc"
        core.settings.telegram_api_url = fake.url
        out = await cli(core, capsys, "invite", "create", "--role", "member", "--org", "U001")
    code = out.splitlines()[0]
    assert f"https://t.me/grassroots_test_bot?start={code}" in out
    assert f"The new member opens the link, or sends /start {code} to the bot" in out


async def test_running_a_digest_that_already_went_out_says_so_and_force_sends_it_again(
    core: Core, capsys: pytest.CaptureFixture[str]
) -> None:
    await bind(core, "leaders", "-200")
    with time_machine.travel(MORNING, tick=False):
        assert await JOBS["daily_digest"](core) == 1  # what `grassroots run` did at start-up
        sent = await count(core, OutboxMessage)
        out = await cli(core, capsys, "jobs", "run", "daily_digest")
        assert "daily_digest: 0" not in out
        assert "already went out at 07:31" in out and "--force" in out
        assert await count(core, OutboxMessage) == sent
        out = await cli(core, capsys, "jobs", "run", "daily_digest", "--force")
        assert "daily_digest: sent to 1 chat" in out
        assert await count(core, OutboxMessage) == 2 * sent


async def test_reports_list_shows_local_time(
    core: Core, capsys: pytest.CaptureFixture[str]
) -> None:
    async with core.sessions() as session, session.begin():
        session.add(
            Report(
                code="PA-0001",
                category="workplace",
                urgency="normal",
                description="x",
                anonymity="named",
                channel="telegram",
                status="new",
                created_at=datetime(2026, 12, 2, 20, 5, tzinfo=UTC),  # 03:05 on 3 Dec in Hanoi
            )
        )
    out = await cli(core, capsys, "reports", "list")
    assert "2026-12-03 03:05" in out and "2026-12-02 20:05" not in out


async def test_sitrep_status_right_after_import_says_the_round_is_about_to_start(
    core: Core, capsys: pytest.CaptureFixture[str]
) -> None:
    with time_machine.travel(datetime(2026, 11, 20, 1, 0, tzinfo=UTC), tick=False):
        sitrep = str(POLLS / "sitrep-monthly.yaml")
        out = await cli(core, capsys, "poll", "import", sitrep, "--dry-run")
        assert "would be created" in out
        out = await cli(core, capsys, "poll", "import", sitrep)
        assert "would be" not in out
        assert "A round is open now" in out
        out = await cli(core, capsys, "sitrep", "status")
        assert "no such round" not in out
        assert "2026-11" in out and "has not started yet" in out
        assert "grassroots jobs run polls" in out
        await cli(core, capsys, "jobs", "run", "polls")
        out = await cli(core, capsys, "sitrep", "status")
        assert "2026-11" in out and "has not started" not in out
        out = await cli(core, capsys, "poll", "list")
        assert "UTC" not in out and "closes 2026-12-20 08:00" in out
        out = await cli(core, capsys, "poll", "import", sitrep, "--dry-run")
        assert "unchanged" in out


@pytest.mark.parametrize(
    ("group", "header", "sample"),
    [
        ("org", "code,name,kind,host_kind,parent", "units.csv"),
        ("dept", "code;name;kind", "departments.csv"),  # saved with semicolons
    ],
)
async def test_a_bad_header_is_answered_with_how_the_file_should_begin(
    core: Core, capsys: pytest.CaptureFixture[str], tmp_path: Path, group, header, sample
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{header}\nX1,Tên,cell,agency,\n", encoding="utf-8")
    with pytest.raises(CliError, match="nothing was imported"):
        await cli(core, capsys, group, "import", str(bad))
    said = capsys.readouterr().err
    # The header and an example line copied from the sample file the README names.
    lines = (ROOT / "handlers/data/demo" / sample).read_text(encoding="utf-8").splitlines()
    assert f"should begin like this:\n{lines[0]}\n{lines[1]}\n" in said
    assert f"handlers/data/demo/{sample}" in README
