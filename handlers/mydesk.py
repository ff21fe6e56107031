"""/my: a reporter's own reports, newest first, and one report's history with what they can
still do about it (answer a question, add information, say whether it was resolved)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.callbacks import Kind, kind_of
from handlers.casedesk import CaseDesk, answer_button, reporter_data, resolution_question
from handlers.context import Turn
from handlers.formrunner import Answer
from handlers.forms import Catalog
from handlers.i18n import Translator
from handlers.ports import ReportView
from handlers.status import event_line, public_history, status_label
from handlers.text import labelled

MY_LIST_SIZE = 10
DRAFT_FLOWS = ("onboarding", "report")


class MyDesk:
    def __init__(
        self,
        catalog: Catalog,
        tz: ZoneInfo,
        cases: CaseDesk,
        pass_on: Callable[[Turn, Answer], Awaitable[None]],
        reprompt: Callable[[Turn], bool],
    ) -> None:
        self.catalog = catalog
        self.tz = tz
        self.cases = cases
        self.pass_on = pass_on  # an answer that was not about /my, once the list is left
        self.reprompt = reprompt  # the draft's open question

    async def list(self, turn: Turn) -> None:
        assert turn.person is not None
        t = turn.t
        reports = await turn.store.reports_of(turn.person.id, MY_LIST_SIZE)
        if not reports:
            turn.say(t("You have not sent any reports yet. Send /report to start one."))
            return
        draft_flow = turn.state.flow if turn.state.flow in DRAFT_FLOWS else None
        turn.state.scratch["my_return"] = draft_flow
        turn.state.flow = "my"
        choices = [
            (r.code, f"{r.code} · {self._date(r.created_at)} · {status_label(t, r.status)}")
            for r in reports
        ]
        turn.state.scratch["choices"] = choices
        turn.state.next_nonce()
        turn.say(t("Your reports, newest first. Pick one to see its history:"), choices)

    async def answer(self, turn: Turn, answer: Answer) -> None:
        assert turn.person is not None
        if answer.key is not None and kind_of(answer.key) == Kind.REPORTER:
            # A choice under a case's detail, typed rather than pressed.
            self.leave(turn)
            if refusal := await self.cases.reporter_press(turn, answer.key):
                turn.say_raw(refusal)
            return
        code = answer.key or (answer.text or "").strip().upper()
        report = await turn.store.report_of(turn.person.id, code) if code else None
        if report is None:
            # Not a report of theirs: leave the list, and let the conversation take it.
            self.leave(turn)
            await self.pass_on(turn, answer)
            return
        self._show(turn, report)
        if turn.state.scratch.get("my_return"):
            # A draft is open: go back to it rather than leave it hidden behind the list.
            self.leave(turn)
            turn.say(turn.t("Your unfinished report is still here:"))
            self.reprompt(turn)

    def _show(self, turn: Turn, report: ReportView) -> None:
        """One report: what it says, where it stands, its public history and its buttons."""
        t = turn.t
        turn.reply.selected_label = report.code
        cat = self.catalog.category(report.category)
        lines = [
            t("Report {code}", code=report.code),
            labelled(t("Category"), cat.label(t.locale) if cat else report.category),
            labelled(t("Urgency"), t("🔥 Hot") if report.urgency == "hot" else t("Normal")),
            labelled(t("Unit"), report.unit_name),
            labelled(t("Status"), status_label(t, report.status)),
            labelled(t("Handled by"), report.department_name or t("not assigned yet")),
            "",
            report.description
            if len(report.description) <= 500
            else report.description[:500] + "…",
            "",
            t("History:"),
        ]
        for ev in public_history(report.events):
            lines.append(f"• {self._datetime(ev.at)}: {event_line(t, ev.action, ev.note)}")
        buttons = reporter_buttons(t, report)
        turn.say_raw("\n".join(lines), buttons)
        if buttons:
            turn.state.scratch["choices"] = [(data, label) for data, label in buttons]

    @staticmethod
    def leave(turn: Turn) -> None:
        back_to = turn.state.scratch.get("my_return")
        turn.state.clear_scratch()
        turn.state.flow = back_to

    def _date(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%d/%m/%Y")

    def _datetime(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%d/%m/%Y %H:%M")


def reporter_buttons(t: Translator, report: ReportView) -> list[tuple[str, str]]:
    """What the reporter can do with their case from /my."""
    if report.status == "resolved":
        return resolution_question(t, report)[1]
    buttons = []
    if report.status == "needs_info":
        buttons.append(answer_button(t, report))
    if report.status in ("new", "acknowledged", "assigned", "needs_info", "reopened"):
        buttons.append((reporter_data(report, "addinfo"), t("Add information")))
    return buttons
