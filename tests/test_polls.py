"""Polls: invitations, answering one question at a time, pause and resume, changing answers,
closing with results for the leaders, re-sent rounds and anonymity."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from sqlmodel import select

from bot.app import Core
from scheduler.polls import resend_round, run_polls
from storage.models import PollInvite, PollResponse, PollRound
from storage.pollresults import TooFewAnswers, response_table, round_results
from tests.chat import Chat
from tests.polls_helpers import bind, load_poll, outbox, person

OPENS = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 08:00 on the 25th in Hanoi


async def _open(core: Core, name: str = "opinion-monthly", **changes: object) -> PollRound:
    await load_poll(core, name, **changes)
    await run_polls(core)
    async with core.sessions() as session:
        return (await session.execute(select(PollRound))).scalars().one()


async def test_invitation_answers_with_skip_logic_and_results(core: Core) -> None:
    await bind(core, "leaders", "-100")
    await person(core, "c1", "collaborator", "U001")
    await person(core, "c2", "collaborator", "U002")
    await person(core, "m1", "member", "U001")  # not in the audience
    with time_machine.travel(OPENS, tick=False):
        rnd = await _open(core)
        invites = [m for m in await outbox(core) if ":invite:" in m.idempotency_key]
        assert sorted(m.chat_id for m in invites) == ["c1", "c2"]
        assert invites[0].payload["choices"] == [[f"poll:{rnd.id}", "Trả lời ngay"]]
        assert await run_polls(core) == 0  # a second run opens nothing and sends nothing

        chat = Chat(core, user_id="c1")
        await chat.press_data(f"poll:{rnd.id}")
        assert "câu hỏi 1 trên 5" in chat.transcript[-1]
        await chat.press(2)  # worried
        await chat.press(1)
        await chat.press(3)
        await chat.press("Xong")
        await chat.say("4")
        await chat.press("Có")  # hotspot yes: the detail question appears (6 questions)
        assert "câu hỏi 5 trên 6" in chat.transcript[-1]
        await chat.say("Công nhân lo mất việc khi công ty sáp nhập.")
        await chat.say("/skip")
        assert "Cảm ơn" in chat.transcript[-1]

        other = Chat(core, user_id="c2")
        await other.say("/poll")
        await other.say("1")
        await other.say("2, 3")
        await other.say("6")  # out of the 1-5 scale: told so, asked again
        assert "từ 1 đến 5" in other.transcript[-2]
        await other.say("5")
        await other.press("Không")  # no hotspot: the detail question is skipped
        await other.say("Không có ý kiến gì thêm.")
    with time_machine.travel(datetime(2026, 11, 28, 1, 1, tzinfo=UTC), tick=False):
        assert await run_polls(core) >= 1
    async with core.sessions() as session:
        results = await round_results(session, rnd.id)
        stored = {
            r.person_id: r.answers for r in (await session.execute(select(PollResponse))).scalars()
        }
    assert (results.invited, results.responded) == (2, 2)
    assert [r["mood"] for r in stored.values()] == ["worried", "stable"]
    by_id = {q.id: q for q in results.questions}
    assert by_id["mood"].counts == {"worried": 1, "stable": 1}
    assert by_id["concerns"].counts == {"jobs": 1, "prices": 2, "reform": 1}
    assert by_id["confidence"].mean == 4.5
    assert by_id["hotspot_detail"].answered == 1
    leaders = await outbox(core, "-100")
    text = leaders[0].payload["text"]
    assert "Số người trả lời: 2 trên 2 (100%)" in text
    assert "Có băn khoăn, lo lắng: 1 (50%)" in text
    assert "Trung bình 4.50 từ 2 câu trả lời" in text
    assert leaders[1].payload["kind"] == "photo"
    png = core.settings.attachments_dir / leaders[1].payload["path"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_pause_resume_and_late_answer(core: Core) -> None:
    await person(core, "c1", "collaborator", "U001", locale="en")
    with time_machine.travel(OPENS, tick=False):
        rnd = await _open(core)
        chat = Chat(core, user_id="c1")
        await chat.say("/poll")
        await chat.press(1)
        await chat.say("/cancel")
        assert "Paused" in chat.transcript[-1]
        await chat.say("/report")  # something else in between
        await chat.say("/cancel")
        await chat.say("/poll")
        assert "continue where you left off" in chat.transcript[-2]
        assert "question 2 of 5" in chat.transcript[-1]
    with time_machine.travel(datetime(2026, 11, 28, 2, 0, tzinfo=UTC), tick=False):
        await chat.say("1")
        assert "closed" in chat.transcript[-1] and "not recorded" in chat.transcript[-1]
        await chat.press_data(f"poll:{rnd.id}")
        assert "closed" in chat.transcript[-1]
    async with core.sessions() as session:
        assert (await session.execute(select(PollResponse))).first() is None


async def test_change_answers_until_deadline(core: Core) -> None:
    await person(core, "c1", "collaborator", "U001", locale="en")
    with time_machine.travel(OPENS, tick=False):
        rnd = await _open(core)
        chat = Chat(core, user_id="c1")
        await chat.say("/poll")
        for step in ("1", "1", "2", "2", "/skip"):
            await chat.say(step)
        assert "recorded" in chat.transcript[-1]
        await chat.say("/poll")
        assert "already answered" in chat.transcript[-2]
        await chat.press(3)  # mood: unsettled
        for _ in range(3):  # concerns, confidence, hotspot
            await chat.press("Keep")
        await chat.say("/skip")  # the optional comment
        assert "recorded" in chat.transcript[-1]
    async with core.sessions() as session:
        rows = list((await session.execute(select(PollResponse))).scalars())
        invite = (await session.execute(select(PollInvite))).scalars().one()
    assert len(rows) == 1 and rows[0].answers["mood"] == "unsettled"
    assert rows[0].answers["confidence"] == 2
    assert invite.responded_at is not None and rnd.id == invite.round_id


async def test_resent_round_counts_nobody_twice(core: Core) -> None:
    for i in range(3):
        await person(core, f"c{i}", "collaborator", "U001")
    with time_machine.travel(OPENS, tick=False):
        rnd = await _open(
            core, "pulse-anonymous", schedule={"once": "2026-11-25T08:00:00", "window_hours": 48}
        )
        chat = Chat(core, user_id="c0")
        await chat.say("/poll")
        for step in ("3", "40", "/skip"):
            await chat.say(step)
        await person(core, "c9", "collaborator", "U002")  # joins after the round opened
        joined, queued = await resend_round(core, rnd)
        assert (joined, queued) == (1, 3)  # c1, c2 and the newcomer; not c0, who answered
        again, queued_again = await resend_round(core, rnd)
        assert (again, queued_again) == (0, 3)
        # Answering twice (the second time changes the answers) still counts once.
        await chat.say("/poll")
        for step in ("Keep", "50", "/skip"):
            await chat.say(step)
    async with core.sessions() as session:
        results = await round_results(session, rnd.id)
        rows = list((await session.execute(select(PollResponse))).scalars())
    assert (results.invited, results.responded) == (4, 1)
    assert len(rows) == 1 and rows[0].answers == {"workload": 3, "staff_cut": 50}


async def test_anonymous_results_and_exports_hold_no_person(core: Core) -> None:
    await person(core, "c1", "collaborator", "U001", name="Trần Thị Bình")
    with time_machine.travel(OPENS, tick=False):
        rnd = await _open(
            core, "pulse-anonymous", schedule={"once": "2026-11-25T08:00:00", "window_hours": 48}
        )
        chat = Chat(core, user_id="c1")
        await chat.say("/poll")
        for step in ("4", "30", "Thiếu người, việc nhiều."):
            await chat.say(step)
    async with core.sessions() as session:
        row = (await session.execute(select(PollResponse))).scalars().one()
        # One answer is one known respondent's: not exported at the default group size.
        with pytest.raises(TooFewAnswers):
            await response_table(session, rnd.id, "vi")
        header, rows = await response_table(session, rnd.id, "vi", min_group_size=1)
        table = [header, *rows]
    assert row.person_id is None and row.unit_id is None
    assert table == [["workload", "staff_cut", "say"], [4, 30, "Thiếu người, việc nhiều."]]
    assert "Bình" not in repr(table) and "U001" not in repr(table)


async def test_editing_a_poll_keeps_the_open_round_on_its_version(core: Core) -> None:
    await person(core, "c1", "collaborator", "U001", locale="en")
    with time_machine.travel(OPENS, tick=False):
        rnd = await _open(core)
        await load_poll(
            core,
            "opinion-monthly",
            questions=[
                {"id": "only", "type": "scale", "text": {"vi": "Một câu", "en": "One question"}}
            ],
        )
        chat = Chat(core, user_id="c1")
        await chat.say("/poll")
        assert "question 1 of 5" in chat.transcript[-1]
    async with core.sessions() as session:
        fresh = await session.get(PollRound, rnd.id)
    assert fresh is not None and fresh.poll_version == 1 and len(fresh.definition["questions"]) == 6


async def test_reminders_go_to_non_responders_once_and_not_in_quiet_hours(core: Core) -> None:
    await person(core, "c1", "collaborator", "U001")
    await person(core, "c2", "collaborator", "U001")
    with time_machine.travel(OPENS, tick=False):
        await _open(core)
        chat = Chat(core, user_id="c1")
        await chat.say("/poll")
        for step in ("1", "1", "5", "2", "2"):
            await chat.say(step)
        await chat.say("/skip")
    # 48 h before the deadline (28th 08:00) is the 26th 08:00 local.
    with time_machine.travel(datetime(2026, 11, 26, 1, 5, tzinfo=UTC), tick=False):
        assert await run_polls(core) == 1
        assert await run_polls(core) == 0
    # 4 h before is 04:00 local, inside quiet hours: held back until they end at 06:30.
    with time_machine.travel(datetime(2026, 11, 27, 21, 30, tzinfo=UTC), tick=False):
        assert await run_polls(core) == 0
    with time_machine.travel(datetime(2026, 11, 27, 23, 45, tzinfo=UTC), tick=False):
        assert await run_polls(core) == 1
    reminders = [m for m in await outbox(core) if ":remind:" in m.idempotency_key]
    assert [m.chat_id for m in reminders] == ["c2", "c2"]
    assert "Nhắc" in reminders[0].payload["text"]


async def test_audience_by_unit_and_by_unit_kind(core: Core) -> None:
    from storage.models import OrgUnit

    async with core.sessions() as session:
        kinds = dict((await session.execute(select(OrgUnit.code, OrgUnit.host_kind))).all())
    agency = next(c for c, k in kinds.items() if k == "agency")
    enterprise = next(c for c, k in kinds.items() if k != "agency")
    a = await person(core, "a", "collaborator", agency)
    e = await person(core, "e", "collaborator", enterprise)
    with time_machine.travel(OPENS, tick=False):
        rnd = await _open(core, audience={"roles": ["collaborator"], "unit_kinds": ["agency"]})
        await load_poll(
            core,
            "pulse-anonymous",
            audience={"roles": ["collaborator"], "units": [enterprise]},
            schedule={"once": "2026-11-25T08:00:00", "window_hours": 48},
        )
        await run_polls(core)
    async with core.sessions() as session:
        invited = {
            (i.round_id, i.person_id) for i in (await session.execute(select(PollInvite))).scalars()
        }
    assert invited == {(rnd.id, a.id), (rnd.id + 1, e.id)}  # type: ignore[operator]


async def test_opening_a_round_invites_everyone_once_on_this_database(
    pg_or_sqlite_core: Core,
) -> None:
    core = pg_or_sqlite_core
    for n in range(3):
        await person(core, f"c{n}", "collaborator", f"U00{n + 1}")
    with time_machine.travel(OPENS, tick=False):
        rnd = await _open(core)
        assert await run_polls(core) == 0  # a second run adds nothing
    async with core.sessions() as session:
        invites = (await session.execute(select(PollInvite))).scalars().all()
    assert sorted(i.person_id for i in invites) == sorted({i.person_id for i in invites})
    assert len(invites) == 3 and all(i.unit_id and i.invited_at for i in invites)
    sent = [m for m in await outbox(core) if ":invite:" in m.idempotency_key]
    assert sorted(m.chat_id for m in sent) == ["c0", "c1", "c2"]
    assert all(m.payload["choices"] == [[f"poll:{rnd.id}", "Trả lời ngay"]] for m in sent)
