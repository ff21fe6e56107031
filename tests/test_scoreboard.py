"""The leaders' scoreboard against a hand-computed week: per department, per unit, the trends,
the SLA pause while a case waits for the reporter, and small groups shown as counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from handlers.polldefs import parse_poll
from reports.scoreboard import (
    attention_rows,
    collect_scoreboard,
    department_rows,
    digest_lines,
    effective_due,
    unit_rows,
    waiting_time,
)
from storage.models import Department, OrgUnit, PollInvite, PollRound, Report, ReportEvent
from storage.polls import import_poll
from storage.scoreboard import CaseEvent
from tests.polls_helpers import definition, person

S = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # the week [S, U)
U = S + timedelta(days=7)
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def h(hours: float) -> datetime:
    return S + timedelta(hours=hours)


# (id, department code, unit, anonymity, created, ack, due, resolved, closed, status, rating,
#  events as (hours, action, from, to)) -- hours from S.
CASES = [
    # Asked the reporter at +10, answered at +34: 24 h paused, due +49 -> +73; resolved +60.
    (
        1,
        "BTC",
        "U001",
        "named",
        1,
        2,
        49,
        60,
        70,
        "closed",
        5,
        [
            (2, "ack", "new", "assigned"),
            (10, "ask", "assigned", "needs_info"),
            (34, "answer", "needs_info", "assigned"),
            (60, "resolve", "assigned", "resolved"),
            (70, "confirm", "resolved", "closed"),
        ],
    ),
    (
        2,
        "BTC",
        "U001",
        "named",
        2,
        5,
        26,
        30,
        40,
        "closed",
        2,
        [
            (5, "ack", "new", "assigned"),
            (30, "resolve", "assigned", "resolved"),
            (40, "confirm", "resolved", "closed"),
        ],
    ),
    # Waiting for the reporter since +10: never overdue while it waits.
    (
        3,
        "BTC",
        "U001",
        "named",
        3,
        4,
        20,
        None,
        None,
        "needs_info",
        None,
        [(4, "ack", "new", "assigned"), (10, "ask", "assigned", "needs_info")],
    ),
    (
        4,
        "BTC",
        "U001",
        "named",
        4,
        6,
        30,
        None,
        None,
        "assigned",
        None,
        [(6, "ack", "new", "assigned")],
    ),
    # Received the week before; resolved, disputed ("not resolved"), resolved again, late.
    (
        5,
        "BTC",
        "U002",
        "named",
        -100,
        -99,
        -50,
        50,
        60,
        "closed",
        4,
        [
            (-99, "ack", "new", "assigned"),
            (5, "resolve", "assigned", "resolved"),
            (20, "dispute", "resolved", "reopened"),
            (50, "resolve", "reopened", "resolved"),
            (60, "confirm", "resolved", "closed"),
        ],
    ),
    # The week before: two on time, one late.
    (6, "BTC", "U001", "named", -150, -149, -120, -130, None, "resolved", None, []),
    (7, "BTC", "U001", "named", -148, -147, -100, -110, None, "resolved", None, []),
    (8, "BTC", "U001", "named", -140, -139, -120, -100, None, "resolved", None, []),
    # Another department, with too few cases for a rate.
    (9, "UBKT", "U002", "anonymous", 1, 1.5, 25, 10, None, "resolved", None, []),
    (10, "UBKT", "U002", "named", 50, None, None, None, None, "new", None, []),
    (11, None, "U003", "named", 6, None, None, None, None, "new", None, []),
]


async def seed(core) -> dict[str, str]:
    """The cases above; returns department names by code."""
    async with core.sessions() as session, session.begin():
        units = {u.code: u.id for u in (await session.execute(select(OrgUnit))).scalars()}
        depts = {d.code: d for d in (await session.execute(select(Department))).scalars()}
        for i, dept, unit, anon, created, ack, due, res, closed, status, rating, events in CASES:

            def at(x: float | None) -> datetime | None:
                return None if x is None else h(x)

            session.add(
                Report(
                    id=i,
                    code=f"PA-{i:04d}",
                    category="workplace",
                    urgency="normal",
                    unit_id=units[unit],
                    description="…",
                    anonymity=anon,
                    channel="web",
                    status=status,
                    created_at=h(created),
                    department_id=depts[dept].id if dept else None,
                    acknowledged_at=at(ack),
                    due_at=at(due),
                    resolved_at=at(res),
                    closed_at=at(closed),
                    rating=rating,
                )
            )
            await session.flush()
            session.add(ReportEvent(report_id=i, at=h(created), to_status="new"))
            for hours, action, before, after in events:
                session.add(
                    ReportEvent(
                        report_id=i, at=h(hours), action=action, from_status=before, to_status=after
                    )
                )
    return {code: d.name for code, d in depts.items()}


def test_the_clock_pauses_while_the_case_waits_for_the_reporter():
    due = h(49)
    events = [
        CaseEvent(h(2), "ack", "new", "assigned"),
        CaseEvent(h(10), "ask", "assigned", "needs_info"),
        CaseEvent(h(34), "answer", "needs_info", "assigned"),
    ]
    assert waiting_time(events, S, h(20)) == timedelta(hours=10)
    assert effective_due(due, events, h(20)) == h(59)  # still waiting: the due time moves on
    assert effective_due(due, events, h(100)) == h(73)
    # A due time set by hand after the wait already allows for it.
    moved = [*events, CaseEvent(h(40), "due", "assigned", "assigned")]
    assert effective_due(h(80), moved, h(100)) == h(80)
    assert effective_due(None, events, h(100)) is None


async def test_departments_against_a_hand_computed_week(core):
    names = await seed(core)
    async with core.sessions() as session:
        board = await collect_scoreboard(session, S, U, TZ, now=U)
    btc = board.department(names["BTC"])
    assert btc is not None
    assert (btc.received, btc.open, btc.overdue) == (4, 2, 1)  # case 3 waits: not overdue
    assert (btc.on_time, btc.resolved) == (1, 3)  # case 1 on time only thanks to the pause
    assert btc.median_ack == 1.5  # 1, 3, 1, 2 hours
    assert btc.median_resolve == 59  # 59, 28 and 150 hours
    assert btc.reopened == 1
    assert sorted(btc.ratings) == [2, 4, 5]
    ubkt = board.department(names["UBKT"])
    assert ubkt is not None
    assert (ubkt.received, ubkt.open, ubkt.overdue, ubkt.on_time, ubkt.resolved) == (2, 1, 0, 1, 1)
    assert ubkt.on_time_rate is None  # one case: a count, not a rate
    unassigned = board.department("")
    assert unassigned is not None and (unassigned.received, unassigned.open) == (1, 1)
    assert board.previous is not None
    before = board.previous.department(names["BTC"])
    assert before is not None and (before.received, before.on_time, before.resolved) == (4, 2, 3)


async def test_rows_read_with_arrows_words_and_counts_for_small_groups(core):
    names = await seed(core)
    async with core.sessions() as session:
        board = await collect_scoreboard(session, S, U, TZ, now=U)
    en = core.translations("en")
    rows = {r[0]: r for r in department_rows(en, board)}
    assert rows[names["BTC"]] == [
        names["BTC"],
        "4 (→ same as before)",
        "2",
        "1",
        "33% (↓ down from 67%)",
        "1.5 h",
        "59.0 h (↑ up from 38.0 h)",
        "1",
        "3.7/5 (3)",
    ]
    assert rows[names["UBKT"]][4] == "1 of 1"
    assert rows["Not assigned yet"][1] == "1"  # none the week before: no trend to show
    vi = core.translations("vi")
    vi_rows = {r[0]: r for r in department_rows(vi, board)}
    assert vi_rows[names["BTC"]][4] == "33% (↓ giảm so với 67%)"
    assert vi_rows[names["UBKT"]][4] == "1 trên 1"
    assert "Chưa giao" in "".join(vi_rows)


async def test_reports_per_unit_hide_small_anonymous_counts(core):
    await seed(core)
    async with core.sessions() as session:
        board = await collect_scoreboard(session, S, U, TZ, now=U)
    rows = {r[0]: r for r in unit_rows(core.translations("en"), board)}
    assert rows["Chi bộ Văn phòng Tỉnh ủy"][1] == "4 (↑ up from 3)"  # named reports
    assert rows["Đảng bộ Ban Tổ chức Tỉnh ủy"][1] == "< 3"  # one of its two is anonymous
    assert rows["Chi bộ Ban Tuyên giáo Tỉnh ủy"][1] == "1 (↑ up from 0)"  # one named report


async def test_situation_reports_and_polls_per_unit(core):
    await seed(core)
    contacts = [
        await person(core, f"c{i}", "contact", code)
        for i, code in enumerate(["U001", "U002", "U003"])
    ]
    async with core.sessions() as session, session.begin():
        units = {u.code: u.id for u in (await session.execute(select(OrgUnit))).scalars()}
        sitrep = definition("sitrep-monthly", audience={"units": ["U001", "U002", "U003"]})
        poll, _ = await import_poll(session, parse_poll(sitrep, "sitrep"))
        for n, (due, filed) in enumerate([(h(-200), [0, 1]), (h(20), [0])], 1):
            rnd = PollRound(
                poll_id=poll.id,
                number=n,
                period=f"p{n}",
                poll_version=1,
                definition=sitrep,
                opens_at=due - timedelta(days=8),
                due_at=due,
                closes_at=due + timedelta(days=3),
            )
            session.add(rnd)
            await session.flush()
            for i, c in enumerate(contacts):
                responded = due - timedelta(hours=1) if i in filed else None
                if n == 1 and i == 1:
                    responded = due + timedelta(hours=5)  # late
                session.add(
                    PollInvite(
                        round_id=rnd.id,
                        person_id=c.id,
                        unit_id=units[c.unit_code or ""],
                        responded_at=responded,
                    )
                )
    async with core.sessions() as session:
        board = await collect_scoreboard(session, S, U, TZ, now=U)
    rows = {r[0]: r for r in unit_rows(core.translations("en"), board)}
    assert rows["Chi bộ Văn phòng Tỉnh ủy"][2] == "2 of 2"
    assert rows["Đảng bộ Ban Tổ chức Tỉnh ủy"][2] == "0 of 2"  # one late, one missing
    assert rows["Chi bộ Ban Tuyên giáo Tỉnh ủy"][2] == "0 of 2"
    text = "\n".join(digest_lines(core.translations("en"), board))
    assert "Units behind on situation reports" in text
    assert "Đảng bộ Ban Tổ chức Tỉnh ủy: on time 0 of 2" in text
    # The units behind on situation reports come first in the DOCX's and dashboard's table.
    order = [r[0] for r in attention_rows(core.translations("en"), board)[0]]
    behind = {"Đảng bộ Ban Tổ chức Tỉnh ủy", "Chi bộ Ban Tuyên giáo Tỉnh ủy"}
    assert set(order[:2]) == behind and "Chi bộ Văn phòng Tỉnh ủy" in order[2:]
