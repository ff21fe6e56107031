"""A report's Send step (storage/newreport.py): the first card is drawn from what was just
written, and must show exactly what a fresh read of the case shows; the next transaction reads
afresh; and the step stays a handful of statements."""

from __future__ import annotations

from typing import Any

import aiosqlite
import pytest

from handlers.ports import CaseChange, Registration, ReporterInfo
from storage import admin
from storage.casecards import CaseFacts, case_facts
from storage.orgimport import import_units
from storage.store import SqlStore
from tests import test_storage
from tests.chat import Chat
from tests.test_storage import UNITS

sessions = test_storage.sessions  # the same fixture: migrated, with a seal key

WAGES = "Công ty may Hòa Thọ chậm trả lương tháng 10 cho công nhân xưởng 3 hơn hai tuần."


def comparable(facts: CaseFacts | None) -> tuple[object, ...]:
    assert facts is not None
    files = [(a.id, a.kind, a.path, a.name, a.latitude, a.longitude) for a in facts.attachments]
    return facts.view, facts.reporter, files, facts.similar


@pytest.mark.parametrize("anonymity", ["named", "confidential", "anonymous"])
async def test_the_first_card_shows_what_a_fresh_read_of_the_case_shows(sessions, anonymity):
    async with sessions() as s, s.begin():
        await import_units(s, UNITS)
        store = SqlStore(s)
        person = await store.register(
            Registration("telegram", "t1", "binh_cd", "Bình", "C02", "member", "vi", None)
        )
        answers = {"category": "workplace", "urgency": "hot", "unit": "C01"}
        answers |= {"description": WAGES, "anonymity": "named"}
        await store.submit_report(person, answers, "telegram", "vi")  # one to be found similar
        answers["anonymity"] = anonymity
        answers["attachments"] = [
            {"kind": "location", "latitude": 10.9, "longitude": 106.8},
            {"kind": "document", "ref": "a/b.docx", "name": "don-cua-Binh.docx", "size": 9},
        ]
        view = await store.submit_report(person, answers, "telegram", "vi")
        written = await case_facts(s, view.id)  # from what submit_report wrote
        read = await case_facts(s, view.id)  # from the database
    assert comparable(written) == comparable(read)
    named = anonymity == "named"
    # A hidden report is never paired with a named one of its unit (handlers/similarity.py).
    assert written is not None and [h.code for h in written.similar] == ["PA-0001"] * named
    reporter = ReporterInfo("Bình", "binh_cd", "Chi bộ Công ty CP Dược phẩm")
    assert written.reporter == (reporter if named else None)
    assert [a.name for a in written.attachments] == ["", "don-cua-Binh.docx" if named else ""]
    assert (written.view.unit_code, written.view.attachment_count) == ("C01", 2)


async def test_a_later_transaction_reads_the_case_afresh(sessions):
    async with sessions() as s:
        async with s.begin():
            await import_units(s, UNITS)
            answers = {"category": "workplace", "urgency": "normal", "unit": "nowhere"}
            answers |= {"description": WAGES, "anonymity": "anonymous"}
            view = await SqlStore(s).submit_report(None, answers, "webform", "vi")
        assert (view.unit_code, view.unit_name) == (None, "—")
        async with s.begin():  # the same session, the next transaction: the case moved
            change = CaseChange(view.id, view.version, None, "acknowledge", "new", "acknowledged")
            await SqlStore(s).change_case(change)
            facts = await case_facts(s, view.id)
    assert facts is not None and (facts.view.status, facts.view.version) == ("acknowledged", 1)


async def test_the_send_step_is_a_handful_of_trips_to_the_database(core, monkeypatch):
    async with core.sessions() as s, s.begin():
        await admin.bind_chat(s, "staff", "web", "staff-room")
    chat = Chat(core, user_id="7001", display_name="Đinh Thị Lan")
    for step in ("/start", "Đinh Thị Lan", "1", "1", "/report", "2", "2", "1", WAGES, "/skip"):
        await chat.say(step)
    await chat.say("1")  # named: the review follows
    trips: list[str] = []
    hand_off = aiosqlite.Connection._execute  # every trip to the database thread goes here

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any) -> Any:
        trips.append(str(args[1] if len(args) > 1 and isinstance(args[1], str) else fn)[:60])
        return await hand_off(self, fn, *args)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    out = await chat.say("1")  # Send
    monkeypatch.undo()
    assert "PA-0001" in out[-1]
    # The event's start, the report (all its rows), the similar reports, the named reporter,
    # the staff chats, the card's record, its outbox row, the save with the commit: 8. Through
    # the ORM it was 26 statements, each a trip, and the report was read back three times.
    assert len(trips) <= 8, "\n".join(trips)
