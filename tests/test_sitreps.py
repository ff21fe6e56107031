"""Situation reports: compliance for a seeded month, the escalation ladder, the digest's late
list, and the hot item that becomes a case. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import time_machine
from sqlmodel import select

from bot.app import Core
from reports import digest
from scheduler.polls import run_polls
from storage.models import OrgUnit, PollRound, Report
from storage.pollresults import compliance
from tests.chat import Chat
from tests.polls_helpers import bind, load_poll, outbox, person

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
UNITS = ["U001", "U002", "U003", "U004", "U005"]


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=HANOI).astimezone(UTC)


async def file(core: Core, user: str, hot: str | None = None) -> Chat:
    chat = Chat(core, user_id=user)
    await chat.say("/poll")
    await chat.say("Tư tưởng ổn định.")
    if hot:
        await chat.say("1")
        await chat.say(hot)
    else:
        await chat.say("2")
    await chat.say("/skip")
    return chat


async def test_compliance_escalation_and_digest(pg_or_sqlite_core: Core) -> None:
    core = pg_or_sqlite_core
    await bind(core, "staff", "staff-room")
    await bind(core, "leaders", "leaders-room")
    await person(core, "k1", "contact", "U001")  # files on time, with a hot issue
    await person(core, "k2", "contact", "U002")  # files late
    await person(core, "k2b", "contact", "U002")  # same unit: the unit counts once
    await person(core, "k3", "contact", "U003")  # never files
    await person(core, "s3", "secretary", "U003")
    await person(core, "k4", "contact", "U004")  # files on the due minute: on time
    # U005 has no contact point at all: missing, and said so.
    with time_machine.travel(at(20, 8), tick=False) as clock:
        await load_poll(core, "sitrep-monthly", audience={"roles": ["contact"], "units": UNITS})
        await run_polls(core)
        clock.move_to(at(22, 9))
        chat = await file(core, "k1", hot="Công ty nợ bảo hiểm xã hội của 120 lao động.")
        assert "PA-0001" in chat.transcript[-1]
        clock.move_to(at(28, 17))
        await file(core, "k4")
        clock.move_to(at(29, 10))
        await file(core, "k2")
        clock.move_to(at(30, 17, 1))
        await run_polls(core)  # 48 h late: the secretary of U003
        clock.move_to(at(1, 17, 1, month=12))
        await run_polls(core)  # 72 h late: the staff chat
        await run_polls(core)  # nothing twice
        async with core.sessions() as session:
            rnd = (await session.execute(select(PollRound))).scalars().one()
            c = await compliance(session, rnd.id)  # type: ignore[arg-type]
            case = (await session.execute(select(Report))).scalars().one()
            u003 = (
                await session.execute(select(OrgUnit).where(OrgUnit.code == "U003"))
            ).scalar_one()
        text, _ = await digest.build(core, at(1, 7, month=12), at(2, 7, 30, month=12))
    by_unit = {u.code: u.status for u in c.units}
    assert by_unit == {
        "U001": "on_time",
        "U002": "late",
        "U003": "missing",
        "U004": "on_time",
        "U005": "missing",
    }
    assert (c.expected, c.received, c.count("on_time"), c.count("late"), c.count("missing")) == (
        5,
        3,
        2,
        1,
        2,
    )
    assert case.poll_response_id is not None and case.urgency == "hot"
    assert "120 lao động" in case.description
    secretary = [m for m in await outbox(core, "s3") if ":escalate:" in m.idempotency_key]
    assert len(secretary) == 1 and u003.name in secretary[0].payload["text"]
    staff = [m for m in await outbox(core, "staff-room") if ":escalate:" in m.idempotency_key]
    assert len(staff) == 1
    assert "U003" in staff[0].payload["text"] and "U005" in staff[0].payload["text"]
    assert "U002" not in staff[0].payload["text"]
    assert "đã nhận 3 trên 5" in text
    assert "Quá hạn, chưa nộp (2): U003, U005" in text
    # Reminders went only to the units that had not filed, never to one that had.
    reminded = {m.chat_id for m in await outbox(core) if ":remind:" in m.idempotency_key}
    assert "k1" not in reminded and "k3" in reminded


async def test_a_second_contact_point_of_a_filed_unit_is_not_chased(core: Core) -> None:
    await person(core, "k2", "contact", "U002")
    await person(core, "k2b", "contact", "U002")
    with time_machine.travel(at(20, 8), tick=False) as clock:
        await load_poll(core, "sitrep-monthly", audience={"roles": ["contact"], "units": ["U002"]})
        await run_polls(core)
        clock.move_to(at(21, 9))
        await file(core, "k2")
        clock.move_to(at(26, 17, 5))
        assert await run_polls(core) == 0
    assert not [m for m in await outbox(core) if ":remind:" in m.idempotency_key]


async def test_the_monthly_report_shows_poll_highlights_and_compliance(core: Core) -> None:
    from reports.monthly import build_monthly_report
    from tests.test_monthly import sections

    await person(core, "k1", "contact", "U001")
    await person(core, "k4", "contact", "U004")
    await person(core, "c1", "collaborator", "U002")
    await person(core, "c2", "collaborator", "U003")
    with time_machine.travel(at(20, 8), tick=False) as clock:
        await load_poll(core, "sitrep-monthly", audience={"roles": ["contact"], "units": UNITS})
        await load_poll(
            core, "pulse-anonymous", schedule={"once": "2026-11-20T08:00:00", "window_hours": 48}
        )
        await load_poll(
            core,
            "opinion-monthly",
            schedule={"cron": "0 8 20 * *", "window_hours": 48},
        )
        await run_polls(core)
        await file(core, "k1")
        async with core.sessions() as session:
            rounds = {
                r.definition["id"]: r.id
                for r in (await session.execute(select(PollRound))).scalars()
            }
        for user in ("c1", "c2"):
            chat = Chat(core, user_id=user)
            await chat.press_data(f"poll:{rounds['opinion-monthly']}")
            for step in ("3", "1", "3", "2", "/skip"):
                await chat.say(step)
            assert "Cảm ơn" in chat.transcript[-1]
        clock.move_to(at(23, 9))
        await run_polls(core)  # both polls close on the 22nd
        clock.move_to(at(29, 9))
        await file(core, "k4")
    _, tables, _ = sections(await build_monthly_report(core, "2026-11", "en"))
    polls = {row[0]: row for row in tables["Poll highlights"][1:]}
    opinion = polls["This month's state of opinion"]
    assert opinion[1] == "2" and opinion[3].endswith("Upset, unsettled (2)")
    assert polls["Quick anonymous pulse"][1] == "0"
    compliance_rows = tables["Situation-report compliance"][1:]
    assert sum(int(r[1]) for r in compliance_rows) == 5
    assert (
        sum(int(r[2]) for r in compliance_rows) == 1
        and sum(int(r[3]) for r in compliance_rows) == 1
    )
