"""The two forms defined as data, onboarding and the report: starting them, asking, taking
answers, /back and /skip, and what completing each one does (registering the person, filing
the report)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.context import ReportSubmitted, Turn
from handlers.formrunner import Answer, Outcome
from handlers.forms import Catalog, Form
from handlers.help import help_text
from handlers.i18n import Translator
from handlers.ports import InviteUnavailable, Registration, ReportView, UnitView

FORM_FLOWS = ("onboarding", "report")


class FormDesk:
    def __init__(self, catalog: Catalog, units: Callable[[], list[UnitView]]) -> None:
        self.catalog = catalog
        self.units = units  # the organisation's units as they are now (an import changes them)

    # -- onboarding ------------------------------------------------------------------------------
    @property
    def onboarding(self) -> Form:
        return self.catalog.forms["onboarding"]

    @property
    def report(self) -> Form:
        return self.catalog.forms["report"]

    async def begin_onboarding(self, turn: Turn, code: str | None) -> None:
        t = turn.t
        state = turn.state
        if state.flow == "onboarding" and not code:
            turn.say(t("Let us finish your registration first."))
            self.reprompt(turn)
            return
        if not self.units():
            # An operator has not imported the organisation yet: say so instead of a dead end.
            turn.say(
                t(
                    "Registration is not open yet: the organisation's units have not been set up. Please try again later."
                )
            )
            return
        # A restart (say, with an invite code) keeps what the person already typed.
        typed = dict(state.form("onboarding")["answers"]) if state.has_form("onboarding") else {}
        state.drop_form("onboarding")
        fs = state.form("onboarding")
        fs["answers"].update(typed)
        if code:
            invite = await turn.store.find_invite(code)
            if invite is None or invite.uses_left <= 0:
                turn.say(
                    t(
                        "This invite code is not valid or has been used up. You can still register yourself."
                    )
                )
            else:
                fs["invite"] = invite.code
                fs["role"] = invite.role
                if invite.unit_code and turn.runner.unit(invite.unit_code):
                    fs["answers"]["unit"] = invite.unit_code
                    fs["preset"] = ["unit"]
        state.flow = "onboarding"
        turn.runner.start(self.onboarding, fs)
        turn.say(self._welcome(t, fs))
        self.ask(turn)

    def _welcome(self, t: Translator, fs: dict[str, Any]) -> str:
        """The greeting, counting the questions that will really be asked (an invite may fix
        the unit)."""
        asked = len([s for s in self.onboarding.steps if s.id not in fs.get("preset", [])])
        if asked == 3:
            return t(
                "Welcome to Grassroots, the channel for reporting pressing issues to the committee. Let us register you: it takes three short questions."
            )
        if asked == 2:
            return t(
                "Welcome to Grassroots, the channel for reporting pressing issues to the committee. Let us register you: it takes two short questions."
            )
        return t.n(
            "Welcome to Grassroots, the channel for reporting pressing issues to the committee. Let us register you: it takes {count} short question.",
            "Welcome to Grassroots, the channel for reporting pressing issues to the committee. Let us register you: it takes {count} short questions.",
            asked,
        )

    async def _complete_onboarding(self, turn: Turn, fs: dict[str, Any]) -> None:
        t = turn.t
        inbound = turn.inbound
        registration = Registration(
            channel=inbound.channel,
            external_id=inbound.user_id,
            username=inbound.username,
            display_name=fs["answers"]["name"],
            unit_code=fs["answers"].get("unit"),
            role=fs.get("role", "member"),
            locale=turn.t.locale,
            invite_code=fs.get("invite"),
        )
        try:
            person = await turn.store.register(registration)
        except InviteUnavailable:
            fs.pop("invite", None)
            fs.pop("role", None)
            registration = Registration(
                **{**registration.__dict__, "invite_code": None, "role": "member"}
            )
            person = await turn.store.register(registration)
            turn.say(
                t(
                    "The invite code was used up in the meantime, so you are registered with ordinary access."
                )
            )
        turn.person = person
        turn.state.drop_form("onboarding")
        turn.state.flow = None
        unit = turn.runner.unit(person.unit_code)
        turn.say(
            t(
                "Thank you, {name}. You are registered with {unit}.",
                name=person.display_name,
                unit=unit.name if unit else "—",
            )
            + "\n\n"
            + help_text(t)
        )

    # -- the report form -------------------------------------------------------------------------
    async def begin_report(self, turn: Turn) -> None:
        t = turn.t
        state = turn.state
        if state.has_form("report") and state.form("report").get("step"):
            turn.say(
                t(
                    "You have an unfinished report. Let us continue where you left off (send /cancel to discard it)."
                )
            )
        else:
            turn.say(t("New report. You can go back with /back or stop with /cancel at any time."))
        state.flow = "report"
        turn.runner.start(self.report, state.form("report"))
        self.ask(turn)

    async def _complete_report(self, turn: Turn, fs: dict[str, Any]) -> None:
        assert turn.person is not None
        t = turn.t
        report: ReportView = await turn.store.submit_report(
            turn.person, fs["answers"], turn.inbound.channel, t.locale
        )
        turn.effects.append(ReportSubmitted(report.id))
        turn.state.drop_form("report")
        turn.state.flow = None
        turn.say(
            t(
                "Thank you. Your report has been received. Its code is {code}: quote it if you ask about it. You will be told of every step in its handling; /my shows its status.",
                code=report.code,
            )
        )

    # -- form plumbing shared by both forms ------------------------------------------------------
    def active(self, turn: Turn) -> tuple[Form, dict[str, Any]] | None:
        flow = turn.state.flow
        if flow in FORM_FLOWS and turn.state.has_form(flow):
            return self.catalog.forms[flow], turn.state.form(flow)
        return None

    def ask(self, turn: Turn) -> None:
        active = self.active(turn)
        if active is None:
            return
        form, fs = active
        turn.state.next_nonce()
        prompt = turn.runner.prompt(form, fs)
        turn.say(prompt.text, prompt.choices)

    def reprompt(self, turn: Turn) -> bool:
        """Ask the open form question again; False when no form is open."""
        if self.active(turn) is None:
            return False
        self.ask(turn)
        return True

    async def answer(self, turn: Turn, answer: Answer) -> bool:
        """An answer to the open form question; False when no form is open."""
        active = self.active(turn)
        if active is None:
            return False
        form, fs = active
        await self._apply(turn, form, fs, turn.runner.handle(form, fs, answer))
        return True

    def cancel(self, turn: Turn) -> bool:
        """/cancel drops the open form's draft; False when no form is open."""
        flow = turn.state.flow
        if flow not in FORM_FLOWS or not turn.state.has_form(flow):
            return False
        self._end(turn, flow)
        turn.say(turn.t("Cancelled. Nothing was sent. Send /report to start a new report."))
        return True

    async def _apply(self, turn: Turn, form: Form, fs: dict[str, Any], outcome: Outcome) -> None:
        self._after_outcome(turn, outcome)
        if outcome.cancelled:
            self._end(turn, form.id)
            return
        if outcome.completed:
            if form.on_complete == "register":
                await self._complete_onboarding(turn, fs)
            else:
                await self._complete_report(turn, fs)
            return
        # Without ask_again the follow-up (e.g. "received, send more") carries its own buttons.
        if outcome.ask_again:
            self.ask(turn)

    def _after_outcome(self, turn: Turn, outcome: Outcome) -> None:
        if outcome.selected_label is not None:
            turn.reply.selected_label = outcome.selected_label
        if not outcome.ask_again and any(p.choices for p in outcome.messages):
            turn.state.next_nonce()
        for prompt in outcome.messages:
            turn.say(prompt.text, prompt.choices)

    def _end(self, turn: Turn, form_id: str) -> None:
        turn.state.drop_form(form_id)
        turn.state.flow = None
        turn.state.next_nonce()

    async def back(self, turn: Turn) -> None:
        active = self.active(turn)
        if active is None:
            turn.say(turn.t("There is no question to go back to."))
            return
        form, fs = active
        if not turn.runner.back(form, fs):
            turn.say(turn.t("This is the first question. Send /cancel if you want to stop."))
        self.ask(turn)

    async def skip(self, turn: Turn) -> None:
        active = self.active(turn)
        if active is None:
            turn.say(turn.t("There is no question to skip."))
            return
        form, fs = active
        outcome = turn.runner.skip(form, fs)
        if outcome is None:
            turn.say(turn.t("This question cannot be skipped: please answer it."))
            self.ask(turn)
            return
        await self._apply(turn, form, fs, outcome)
