"""Casework in the chats: staff and department buttons, their follow-up questions, and the
reporter's side (answers, added information, "has this been resolved?").

Button payloads are never trusted: each press is checked against the actor's role and
department and the case's current status and version, all read from the database.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from handlers import replyroute
from handlers.callbacks import CaseButton, InvalidCallback, ReporterButton, encode, parse
from handlers.cards import (
    ACTION_LABELS,
    button_data,
    card_buttons,
    case_facts,
    duplicate_buttons,
    numbered_actions,
    staff_card,
    typed_actions,
)
from handlers.casework import (
    ACTION_NUMBERS,
    NEEDS_TEXT,
    OPEN,
    WEB_ROLES,
    Action,
    Actor,
    Refusal,
    Status,
    check,
    may_view,
    target,
)
from handlers.context import CaseChanged, Turn
from handlers.forms import Catalog
from handlers.i18n import Translator
from handlers.ports import CaseChange, ReportView, StaleCase, Store
from handlers.replyroute import NO, STARS, YES
from handlers.similarity import SimilarHint
from handlers.slaclock import overdue
from handlers.status import status_label
from handlers.text import fold
from handlers.typedaction import parse_typed_action
from handlers.types import CallbackAnswer, ChatKind, Choice, Outbound

MAX_NOTE = 2000
DUE_PRESETS = {"24h": timedelta(hours=24), "3d": timedelta(days=3), "7d": timedelta(days=7)}
REPORTER_CHOICES = frozenset({"yes", "no", "rate", "answer", "addinfo"})
NUMBERED_ACTIONS = {number: action for action, number in ACTION_NUMBERS.items()}
DATE_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2}))?$")


def _refuse_stale(turn: Turn, case: ReportView, message: str) -> None:
    """A press on an older version of the case: say what it is now, change nothing."""
    turn.reply.callback_answer = CallbackAnswer(
        message.format(code=case.code, status=status_label(turn.t, case.status)), True
    )


def typed_choice(text: str, choices: list[tuple[str, str]]) -> str | None:
    """The payload of the choice a typed number or label names (channels without buttons
    number every choice, and a typed label works everywhere)."""
    stripped = text.strip().rstrip(".")
    if stripped.isdecimal():
        n = int(stripped)
        return choices[n - 1][0] if 1 <= n <= len(choices) else None
    folded = fold(stripped)
    return next((key for key, label in choices if folded and fold(label) == folded), None)


def too_long(t: Translator, text: str) -> str | None:
    """The refusal for a note over the limit; never cut it silently."""
    if len(text) <= MAX_NOTE:
        return None
    return t(
        "That is {length} characters; please keep it under {limit}.",
        length=len(text),
        limit=MAX_NOTE,
    )


class ActionFailed(Exception):
    """An action that was not applied; `message` is translated and ready to show ("" = none)."""

    def __init__(self, message: str, stale: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.stale = stale


def reject_note(t: Translator, reason: str, redirect: str) -> str:
    """A rejection's reason, with where the reporter should turn instead when given."""
    if not redirect:
        return reason
    return t("{reason} — please turn to: {redirect}", reason=reason, redirect=redirect)


async def duplicate_target(store: Store, case: ReportView, code: str) -> ReportView | None:
    """The other case a duplicate points at; never the case itself."""
    other = await store.case_by_code(code) if code.strip() else None
    return None if other is None or other.id == case.id else other


class CaseDesk:
    def __init__(self, catalog: Catalog, tz: ZoneInfo) -> None:
        self.catalog = catalog
        self.tz = tz

    # -- who is acting ---------------------------------------------------------------------------
    async def actor(self, turn: Turn, case: ReportView | None = None) -> Actor | None:
        person = turn.person
        if person is None:
            return None
        department, can_reveal = await turn.store.actor_profile(person.id)
        is_reporter = case is not None and case.reporter_person_id == person.id
        return Actor(person.id, person.role, department, can_reveal, is_reporter)

    # -- staff and department buttons: c:<id>:<action>:<version>[:<arg>] ------------------------
    async def on_press(self, turn: Turn) -> None:
        """A case card's button. The card is edited through the outbox, so the pressed
        message keeps its buttons even when the press is refused."""
        turn.reply.retire_keyboard = False
        turn.state.data.pop("case_choices", None)  # a list offered earlier is answered or moot
        await self.on_button(turn, turn.inbound.callback or "")

    async def on_button(self, turn: Turn, data: str) -> None:
        t = turn.t
        button = _parsed(data)
        if not isinstance(button, CaseButton):
            turn.reply.callback_answer = CallbackAnswer(t("This button is not valid."), True)
            return
        action, version, arg = button.action, button.version, button.arg
        case = await turn.store.case(button.case_id)
        actor = await self.actor(turn, case)
        if actor is None:
            turn.reply.callback_answer = CallbackAnswer(
                t(
                    "Only registered staff can act on cases. Ask an administrator for a staff invite."
                ),
                True,
            )
            return
        if case is None or actor.role not in WEB_ROLES or not may_view(actor, case_facts(case)):
            # Someone who may not see the case learns nothing of it: not its code, not its status.
            turn.reply.callback_answer = CallbackAnswer(t("This button is not valid."), True)
            return
        if case.version != version:
            _refuse_stale(turn, case, t("This card is out of date: {code} is now {status}."))
            return
        try:
            check(actor, action, case_facts(case))
        except Refusal as refusal:
            turn.reply.callback_answer = CallbackAnswer(
                t(refusal.reason).format(status=status_label(t, case.status)), True
            )
            return
        turn.reply.callback_answer = CallbackAnswer()
        if action == Action.REVEAL:
            await self._reveal(turn, actor, case)
        elif action == Action.ASSIGN and not arg:
            await self._ask_department(turn, case)
        elif action == Action.SET_DUE and not arg:
            self._ask_due(turn, case)
        elif action == Action.DUPLICATE and arg:
            await self._duplicate_of(turn, actor, case, arg)
        elif (action == Action.SET_DUE and arg == "type") or action in NEEDS_TEXT:
            self._ask_text(turn, case, action)
        elif action == Action.SET_DUE and arg in DUE_PRESETS:
            self._ask_due_reason(turn, case, turn.now + DUE_PRESETS[arg])
        else:
            await self._apply(turn, actor, case, action, arg=arg)

    async def _ask_department(self, turn: Turn, case: ReportView) -> None:
        t = turn.t
        departments = await turn.store.departments()
        if not departments:
            turn.say_raw(
                t(
                    "No departments are set up yet: an administrator adds them with `grassroots dept import`."
                )
            )
            return
        choices = [(button_data(case, Action.ASSIGN, d.code), d.name) for d in departments]
        self.offer(turn, t("Assign {code} to which department?", code=case.code), choices)

    def _ask_due(self, turn: Turn, case: ReportView) -> None:
        t = turn.t
        choices = [
            (button_data(case, Action.SET_DUE, "24h"), t("In 24 hours")),
            (button_data(case, Action.SET_DUE, "3d"), t("In 3 days")),
            (button_data(case, Action.SET_DUE, "7d"), t("In 7 days")),
            (button_data(case, Action.SET_DUE, "type"), t("Type a date")),
        ]
        self.offer(turn, t("When is {code} due?", code=case.code), choices)

    @staticmethod
    def offer(turn: Turn, text: str, choices: list[tuple[str, str]]) -> None:
        """A follow-up list of case buttons (departments, due dates); a typed number or label
        picks one as well, in the chat it was offered in."""
        turn.say_raw(text, choices)
        if choices:
            turn.state.data["case_choices"] = {"chat_id": turn.inbound.chat_id, "choices": choices}

    def has_typed_choices(self, turn: Turn) -> bool:
        offered = turn.state.data.get("case_choices")
        # A bare list is how a private chat's offer was kept before groups had one.
        if isinstance(offered, list):
            return turn.inbound.chat_kind == ChatKind.PRIVATE
        return isinstance(offered, dict) and offered.get("chat_id") == turn.inbound.chat_id

    async def on_typed_choice(self, turn: Turn) -> bool:
        """A typed number or label for the case buttons just offered; True when it was one."""
        if not self.has_typed_choices(turn):
            return False
        offered = turn.state.data.pop("case_choices")
        choices = offered if isinstance(offered, list) else offered.get("choices", [])
        data = typed_choice(turn.inbound.text, [(d, lab) for d, lab in choices])
        if data is None or turn.inbound.media:
            return False
        await self.on_button(turn, data)
        toast_as_message(turn)
        return True

    def _ask_text(self, turn: Turn, case: ReportView, action: Action, stage: int = 0) -> None:
        """Ask the actor for a line of text; their next message in this chat is the answer."""
        t = turn.t
        turn.state.data["case_input"] = {
            "report_id": case.id,
            "action": action.value,
            "version": case.version,
            "chat_id": turn.inbound.chat_id,
            "stage": stage,
            "notes": turn.state.data.get("case_input", {}).get("notes", []) if stage else [],
        }
        prompts = {
            Action.ASK: t(
                "{code}: what should we ask the reporter? Reply to this message (or /cancel)."
            ),
            Action.RESOLVE: t(
                "{code}: how was it resolved? The reporter will read this note. Reply to this message (or /cancel)."
            ),
            Action.REJECT: t(
                "{code}: why is it rejected? The reporter will read this reason. Reply to this message (or /cancel)."
            ),
            Action.DUPLICATE: t(
                "{code}: duplicate of which case? Reply with its code, e.g. PA-0012 (or /cancel)."
            ),
            Action.HAND_BACK: t(
                "{code}: why are you handing it back? Reply to this message (or /cancel)."
            ),
            Action.SET_DUE: t(
                "{code}: type the due date as dd/mm/yyyy, optionally with a time (dd/mm/yyyy hh:mm). Or /cancel."
            ),
        }
        text = prompts[action].format(code=case.code)
        if action == Action.REJECT and stage == 1:
            text = t(
                "{code}: where should the reporter turn instead? Reply to this message, or send /skip."
            ).format(code=case.code)
        turn.say_raw(text, force_reply=True)

    def _ask_due_reason(self, turn: Turn, case: ReportView, due: datetime) -> None:
        """A due date moved by staff is logged with a reason: ask for it before moving it."""
        turn.state.data["case_input"] = {
            "report_id": case.id,
            "action": Action.SET_DUE.value,
            "version": case.version,
            "chat_id": turn.inbound.chat_id,
            "stage": 1,
            "notes": [due.isoformat()],
        }
        turn.say_raw(
            turn.t(
                "{code}: why does the due date move to {when}? Staff read the reason in the "
                "case history. Reply to this message (or /cancel).",
                code=case.code,
                when=due.astimezone(self.tz).strftime("%d/%m/%Y %H:%M"),
            ),
            force_reply=True,
        )

    def has_pending_input(self, turn: Turn) -> bool:
        pending = turn.state.data.get("case_input")
        return isinstance(pending, dict) and pending.get("chat_id") == turn.inbound.chat_id

    async def on_text(self, turn: Turn) -> None:
        """The follow-up text for a button that needed one."""
        t = turn.t
        pending: dict[str, Any] = turn.state.data["case_input"]
        if turn.inbound.command == "cancel":
            turn.state.data.pop("case_input", None)
            turn.say_raw(t("Cancelled: nothing was changed."))
            return
        action = Action(pending["action"])
        current = await self._pending_case(turn, pending)
        if current is None:
            return
        actor, case = current
        text = self._pending_text(turn, action, pending["stage"])
        if text is None:
            return
        if action == Action.REJECT and pending["stage"] == 0:
            pending["notes"] = [text]
            self._ask_text(turn, case, action, stage=1)
            return
        if action == Action.SET_DUE and pending["stage"] == 0:
            due = self.parse_date(text)
            if due is None:  # still waiting for a date
                turn.say_raw(
                    t("Please type the date as dd/mm/yyyy, for example 05/12/2026."),
                    force_reply=True,
                )
            else:
                self._ask_due_reason(turn, case, due)
            return
        turn.state.data.pop("case_input", None)
        await self._apply_text(turn, actor, case, action, text, pending)

    async def _pending_case(
        self, turn: Turn, pending: dict[str, Any]
    ) -> tuple[Actor, ReportView] | None:
        """The case a note is awaited for, unchanged since the question; None ends the wait."""
        t = turn.t
        case = await turn.store.case(pending["report_id"])
        actor = await self.actor(turn, case)
        if case is None or actor is None:
            turn.state.data.pop("case_input", None)
            return None
        if case.version != pending["version"]:
            turn.state.data.pop("case_input", None)
            turn.say_raw(
                t(
                    "{code} changed in the meantime and is now {status}; nothing was saved.",
                    code=case.code,
                    status=status_label(t, case.status),
                )
            )
            return None
        return actor, case

    def _pending_text(self, turn: Turn, action: Action, stage: int) -> str | None:
        """The note as typed ("" for a skipped redirect); None when it was refused and the
        question stays open."""
        t = turn.t
        text = turn.inbound.text.strip()
        command = turn.inbound.command
        if command == "skip" and action == Action.REJECT and stage == 1:
            text = ""
        elif turn.inbound.media or not text or command:
            turn.say_raw(t("Please reply with text, or /cancel."), force_reply=True)
            return None
        if refusal := too_long(t, text):
            turn.say_raw(refusal, force_reply=True)
            return None
        return text

    async def _apply_text(
        self,
        turn: Turn,
        actor: Actor,
        case: ReportView,
        action: Action,
        text: str,
        pending: dict[str, Any],
    ) -> None:
        t = turn.t
        if action == Action.REJECT:
            note = reject_note(t, pending["notes"][0], text)
            await self._apply(turn, actor, case, action, note=note)
        elif action == Action.DUPLICATE:
            other = await duplicate_target(turn.store, case, text)
            if other is None:
                turn.say_raw(
                    t(
                        "There is no other case {code}; nothing was changed. Choose the action again to retry.",
                        code=text.upper(),
                    )
                )
                return
            await self._apply(turn, actor, case, action, note=other.code, duplicate_of=other.code)
        elif action == Action.SET_DUE:  # the reason, for the date asked before it
            due = datetime.fromisoformat(pending["notes"][0])
            await self._apply(turn, actor, case, action, due=due, note=text)
        else:
            await self._apply(turn, actor, case, action, note=text)

    async def _duplicate_of(self, turn: Turn, actor: Actor, case: ReportView, code: str) -> None:
        """A suggested duplicate's one-tap button: the same action as typing its code."""
        other = await duplicate_target(turn.store, case, code)
        if other is None:
            turn.say_raw(
                turn.t(
                    "There is no other case {code}; nothing was changed. Choose the action again to retry.",
                    code=code.upper(),
                )
            )
            return
        await self._apply(
            turn, actor, case, Action.DUPLICATE, note=other.code, duplicate_of=other.code
        )

    def parse_date(self, text: str) -> datetime | None:
        match = DATE_RE.match(text.strip())
        if not match:
            return None
        day, month, year, hour, minute = match.groups()
        try:
            return datetime(
                int(year), int(month), int(day), int(hour or 17), int(minute or 0), tzinfo=self.tz
            )
        except ValueError:
            return None

    # -- applying a change -----------------------------------------------------------------------
    def default_due(self, case: ReportView, now: datetime) -> datetime:
        return now + timedelta(hours=self.catalog.due_hours(case.category, case.urgency))

    async def perform(
        self,
        store: Store,
        t: Translator,
        actor: Actor,
        case: ReportView,
        action: Action,
        now: datetime,
        arg: str = "",
        note: str = "",
        due: datetime | None = None,
        duplicate_of: str | None = None,
        rating: int | None = None,
    ) -> tuple[ReportView, CaseChanged]:
        """Apply one checked action at the case's version: the change, its event and the effect
        that tells cards and the reporter. Raises ActionFailed with a message to show."""
        change, note = await self._side_changes(store, t, case, action, now, arg, note, due)
        new_status = target(action, case_facts(case))
        try:
            updated = await store.change_case(
                CaseChange(
                    report_id=case.id,
                    expected_version=case.version,
                    actor_person_id=actor.person_id,
                    action=action.value,
                    from_status=case.status,
                    to_status=new_status.value,
                    note=note,
                    duplicate_of_code=duplicate_of,
                    rating=rating,
                    **change,
                )
            )
        except StaleCase:
            fresh = await store.case(case.id)
            status = status_label(t, fresh.status) if fresh else "?"
            message = t(
                "Someone else changed {code} a moment ago; it is now {status}. Nothing was changed.",
                code=case.code,
                status=status,
            )
            raise ActionFailed(message, stale=True) from None
        return updated, CaseChanged(case.id, action.value, note, case.department_code)

    async def _side_changes(
        self,
        store: Store,
        t: Translator,
        case: ReportView,
        action: Action,
        now: datetime,
        arg: str,
        note: str,
        due: datetime | None,
    ) -> tuple[dict[str, Any], str]:
        """What an action changes besides the status (department, due date), and the note its
        event records."""
        change: dict[str, Any] = {}
        if action == Action.ASSIGN:
            departments = {d.code: d for d in await store.departments()}
            if arg not in departments:
                raise ActionFailed(t("That department no longer exists."))
            change.update(department_code=arg, set_department=True)
            note = departments[arg].name
            if case.due_at is None:
                change.update(due_at=self.default_due(case, now), set_due=True)
        elif action == Action.ACKNOWLEDGE and case.due_at is None:
            change.update(due_at=self.default_due(case, now), set_due=True)
        elif action == Action.HAND_BACK:
            change.update(department_code=None, set_department=True)
        elif action == Action.SET_DUE:
            if due is None:
                preset = DUE_PRESETS.get(arg)
                if preset is None:  # a forged or garbled preset: say so rather than stay silent
                    raise ActionFailed(t("This button is not valid."), stale=True)
                due = now + preset
            change.update(due_at=due, set_due=True)
            when = due.astimezone(self.tz).strftime("%d/%m/%Y %H:%M")
            note = f"{when} · {note}" if note else when  # the new date, then why it moved
        return change, note

    async def _apply(
        self,
        turn: Turn,
        actor: Actor,
        case: ReportView,
        action: Action,
        arg: str = "",
        note: str = "",
        due: datetime | None = None,
        duplicate_of: str | None = None,
        rating: int | None = None,
    ) -> ReportView | None:
        t = turn.t
        try:
            updated, effect = await self.perform(
                turn.store, t, actor, case, action, turn.now, arg, note, due, duplicate_of, rating
            )
        except ActionFailed as failed:
            if failed.stale and turn.inbound.callback is not None:
                turn.reply.callback_answer = CallbackAnswer(failed.message, True)
            elif failed.message:
                turn.say_raw(failed.message)
            return None
        turn.effects.append(effect)
        if action in (Action.ANSWER, Action.ADD_INFO, Action.CONFIRM, Action.DISPUTE):
            return updated
        label = t(ACTION_LABELS.get(action, action.value))
        if turn.inbound.callback is not None:
            turn.reply.callback_answer = CallbackAnswer(f"{updated.code}: {label}")
        else:
            turn.say_raw(
                t(
                    "Done: {code} is now {status}.",
                    code=updated.code,
                    status=status_label(t, updated.status),
                )
            )
        return updated

    # -- the same actions from a form (the web admin) --------------------------------------------
    async def act(
        self,
        store: Store,
        t: Translator,
        actor: Actor,
        case: ReportView,
        version: int,
        action: Action,
        now: datetime,
        arg: str = "",
        text: str = "",
        redirect: str = "",
        reason: str = "",
    ) -> tuple[ReportView, CaseChanged]:
        """Every check a card's button and its follow-up question make, then `perform`."""
        if case.version != version:
            raise ActionFailed(
                t(
                    "This card is out of date: {code} is now {status}.",
                    code=case.code,
                    status=status_label(t, case.status),
                ),
                stale=True,
            )
        try:
            check(actor, action, case_facts(case))
        except Refusal as refusal:
            raise ActionFailed(
                t(refusal.reason).format(status=status_label(t, case.status))
            ) from None
        text = text.strip()
        if action in NEEDS_TEXT and not text:
            raise ActionFailed(t("Please write a note for this action."))
        if len(text) > MAX_NOTE or len(redirect) > MAX_NOTE:
            raise ActionFailed(
                t(
                    "That is {length} characters; please keep it under {limit}.",
                    length=max(len(text), len(redirect)),
                    limit=MAX_NOTE,
                )
            )
        if action == Action.REJECT:
            return await self.perform(
                store, t, actor, case, action, now, note=reject_note(t, text, redirect.strip())
            )
        if action == Action.DUPLICATE:
            other = await duplicate_target(store, case, text)
            if other is None:
                raise ActionFailed(t("There is no other case {code}.", code=text.upper()))
            return await self.perform(
                store, t, actor, case, action, now, note=other.code, duplicate_of=other.code
            )
        if action == Action.SET_DUE:
            return await self._set_due(store, t, actor, case, now, arg, text, reason)
        return await self.perform(store, t, actor, case, action, now, arg=arg, note=text)

    async def _set_due(
        self,
        store: Store,
        t: Translator,
        actor: Actor,
        case: ReportView,
        now: datetime,
        arg: str,
        text: str,
        reason: str,
    ) -> tuple[ReportView, CaseChanged]:
        """A due date moved from the web admin: a preset or a typed date, with its reason."""
        reason = reason.strip()
        if not reason:
            raise ActionFailed(t("Please say why the due date moves."))
        if len(reason) > MAX_NOTE:
            raise ActionFailed(
                t(
                    "That is {length} characters; please keep it under {limit}.",
                    length=len(reason),
                    limit=MAX_NOTE,
                )
            )
        if arg in DUE_PRESETS:
            return await self.perform(store, t, actor, case, Action.SET_DUE, now, arg, reason)
        due = self.parse_date(text)
        if due is None:
            raise ActionFailed(t("Please type the date as dd/mm/yyyy, for example 05/12/2026."))
        return await self.perform(store, t, actor, case, Action.SET_DUE, now, note=reason, due=due)

    async def reveal(self, store: Store, actor: Actor, case: ReportView) -> str | None:
        """A confidential reporter's identity for one permitted person; every look is logged."""
        check(actor, Action.REVEAL, case_facts(case))
        assert actor.person_id is not None
        who = await store.reporter_identity(case.id)
        await store.log_reveal(case.id, actor.person_id)
        return who

    async def _reveal(self, turn: Turn, actor: Actor, case: ReportView) -> None:
        t = turn.t
        who = await self.reveal(turn.store, actor, case)
        text = t(
            "Reporter of {code}: {who}. This look has been logged.", code=case.code, who=who or "—"
        )
        # Never in the group: only in the private chat of the person who asked.
        turn.say_raw(text, chat_id=turn.inbound.user_id)
        turn.reply.callback_answer = CallbackAnswer(t("Sent to you privately."))

    # -- /cases and /case CODE -------------------------------------------------------------------
    async def chat_scope(self, turn: Turn) -> tuple[bool, str | None]:
        """Where case commands may answer: (allowed, the department a bound chat belongs to).
        A private chat, or a group bound as the staff chat or a department's chat; any other
        group may have outsiders in it."""
        inbound = turn.inbound
        if inbound.chat_kind == ChatKind.PRIVATE:
            return True, None
        roles = await turn.store.chat_roles(inbound.channel, inbound.chat_id)
        if "staff" in roles:
            return True, None
        departments = [r.removeprefix("department:") for r in roles if r.startswith("department:")]
        return (True, departments[0]) if departments else (False, None)

    async def on_command(self, turn: Turn) -> None:
        if turn.inbound.command == "cases":
            await self.cases_command(turn)
        else:
            await self.case_command(turn)

    async def cases_command(self, turn: Turn) -> None:
        t = turn.t
        allowed, chat_department = await self.chat_scope(turn)
        if not allowed:
            turn.say_raw(t("Please write to me in a private chat to use this command."))
            return
        actor = await self.actor(turn)
        if actor is None or actor.role not in WEB_ROLES:
            turn.say_raw(t("This command is for staff and departments."))
            return
        department = actor.department_code if actor.role == "handler" else None
        cases = await turn.store.open_cases(department, 200)
        if chat_department is not None:
            cases = [c for c in cases if c.department_code == chat_department]
        flt = turn.inbound.command_args.strip().lower()
        now = turn.now
        if flt == "overdue":
            cases = [c for c in cases if overdue(c.status, c.due_at, c.events, now)]
        elif flt == "hot":
            cases = [c for c in cases if c.urgency == "hot"]
        elif flt == "unassigned":
            cases = [c for c in cases if not c.department_code]
        if not cases:
            turn.say_raw(t("No open cases here."))
            return
        lines = [t("Open cases ({count}); send /case CODE for one:", count=len(cases))]
        for c in cases[:30]:
            hot = "🔥 " if c.urgency == "hot" else ""
            late = " ⏰" if overdue(c.status, c.due_at, c.events, now) else ""
            lines.append(f"{hot}{c.code} · {status_label(t, c.status)} · {c.unit_name}{late}")
        if len(cases) > 30:
            lines.append(
                t(
                    "…and {count} more. Filter with /cases overdue, /cases hot or /cases unassigned.",
                    count=len(cases) - 30,
                )
            )
        turn.say_raw("\n".join(lines))

    async def case_command(self, turn: Turn) -> None:
        t = turn.t
        allowed, chat_department = await self.chat_scope(turn)
        if not allowed:
            turn.say_raw(t("Please write to me in a private chat to use this command."))
            return
        code = turn.inbound.command_args.strip()
        case = await turn.store.case_by_code(code) if code else None
        actor = await self.actor(turn, case)
        if (
            case is None
            or actor is None
            or actor.role not in WEB_ROLES
            or not may_view(actor, case_facts(case))
            or (chat_department is not None and case.department_code != chat_department)
        ):
            turn.say_raw(
                t("No case {code} that you may see. Usage: /case PA-0042", code=code.upper() or "?")
            )
            return
        audience = "department" if actor.role == "handler" or chat_department else "staff"
        text, buttons = await self.render_case(turn, case, audience)
        self.offer_card(turn, case, text, buttons if actor.role != "leader" else [])

    def offer_card(
        self, turn: Turn, case: ReportView, text: str, buttons: list[tuple[str, str]]
    ) -> None:
        """A case card in answer to /case. In a group without buttons it lists its actions as
        typed messages ("PA-0042 1"); in a private chat a bare number then acts on this case."""
        group = turn.inbound.chat_kind == ChatKind.GROUP
        typed = typed_actions(turn.t, case.code, buttons) if group else ""
        turn.reply.messages.append(
            Outbound(
                turn.inbound.chat_id,
                text,
                tuple(Choice(label, data) for data, label in buttons),
                typed=typed,
            )
        )
        if not group and buttons:
            turn.state.data["case_pending"] = {"code": case.code, "chat_id": turn.inbound.chat_id}

    # -- typed case actions: "PA-0042 1", or a bare number where the case is known -------------
    async def on_typed_action(self, turn: Turn) -> None:
        """A case action typed as the case's code and the number its card shows."""
        typed = parse_typed_action(turn.inbound.text)
        if typed is None or typed.code is None:
            return
        # A new instruction: a note awaited for a case must not swallow it, nor it the note.
        turn.state.data.pop("case_input", None)
        turn.state.data.pop("case_choices", None)
        await self.typed_on_case(turn, typed.code, typed.number)

    async def on_pending_case(self, turn: Turn, code: str) -> bool:
        """A bare number or an action's label typed after /case PA-0042 in a private chat: that
        action on that case. False when the text is neither."""
        typed = parse_typed_action(turn.inbound.text)
        number = typed.number if typed is not None and typed.code is None else None
        if number is None and (case := await turn.store.case_by_code(code)) is not None:
            actor = await self.actor(turn, case)
            audience = "department" if actor is not None and actor.role == "handler" else "staff"
            folded = fold(turn.inbound.text.strip().rstrip("."))
            labelled_as = numbered_actions(await self.card_actions(turn, case, audience))
            number = next((n for n, _, label in labelled_as if fold(label) == folded), None)
        if number is None or turn.inbound.media:
            return False
        await self.typed_on_case(turn, code, number)
        return True

    def pending_case(self, turn: Turn) -> str | None:
        """The case a bare number acts on in this private chat, after /case PA-0042."""
        pending = turn.state.data.get("case_pending")
        if not isinstance(pending, dict) or pending.get("chat_id") != turn.inbound.chat_id:
            return None
        code = pending.get("code")
        return code if isinstance(code, str) else None

    async def which_case(self, turn: Turn) -> None:
        """A bare number in a staff or department chat, where many cards are seen: which?"""
        allowed, _ = await self.chat_scope(turn)
        person = turn.person
        if not allowed or person is None or person.role not in WEB_ROLES:
            return  # other groups, and people who cannot act, hear nothing
        turn.say_raw(turn.t("Which case? Write its code and the number, e.g. PA-0042 1."))

    async def typed_on_case(self, turn: Turn, code: str, number: int) -> None:
        """The typed action goes through the very checks a pressed button does (`on_button`)."""
        t = turn.t
        allowed, chat_department = await self.chat_scope(turn)
        if not allowed:
            turn.say_raw(t("Please write to me in a private chat to use this command."))
            return
        case = await turn.store.case_by_code(code)
        actor = await self.actor(turn, case)
        if actor is None:
            turn.say_raw(
                t(
                    "Only registered staff can act on cases. Ask an administrator for a staff invite."
                )
            )
            return
        if (
            case is None
            or actor.role not in WEB_ROLES
            or not may_view(actor, case_facts(case))
            or (chat_department is not None and case.department_code != chat_department)
        ):
            # The same answer whether the case does not exist or is not theirs to see.
            turn.say_raw(t("No case {code} that you may see.", code=code))
            return
        audience = "department" if actor.role == "handler" or chat_department else "staff"
        buttons = await self.card_actions(turn, case, audience)
        data = self._typed_button(case, buttons, number)
        if data is None:
            self._no_such_action(turn, case, buttons, number)
            return
        group = turn.inbound.chat_kind == ChatKind.GROUP
        if group and _is_reveal(data) and _allowed(actor, Action.REVEAL, case):
            # A group's messenger may have no private way back to this person (a Zalo OA
            # group): a reporter's identity is asked for, and given, in a private chat only.
            turn.say_raw(
                t(
                    "A reporter's identity is given only in a private chat: write /case {code} to me privately.",
                    code=case.code,
                )
            )
            return
        await self.on_button(turn, data)
        toast_as_message(turn)

    @staticmethod
    def _typed_button(case: ReportView, buttons: list[tuple[str, str]], number: int) -> str | None:
        """The payload a typed number stands for: the card's button with that number, or the
        action with that fixed number (which `on_button` refuses in the usual words when the
        status or the role does not allow it); None when the number means nothing."""
        for n, data, _ in numbered_actions(buttons):
            if n == number:
                return data
        action = NUMBERED_ACTIONS.get(number)
        return button_data(case, action) if action is not None else None

    @staticmethod
    def _no_such_action(
        turn: Turn, case: ReportView, buttons: list[tuple[str, str]], number: int
    ) -> None:
        t = turn.t
        listing = typed_actions(t, case.code, buttons)
        text = t("{code} has no action {number}.", code=case.code, number=number)
        turn.say_raw(text + ("\n" + listing if listing else ""))

    async def render_case(
        self, turn: Turn, case: ReportView, audience: str
    ) -> tuple[str, list[tuple[str, str]]]:
        """The card as a staffer sees it in /case, with the buttons their role may press."""
        t = turn.t
        summary = (
            t.n("{count} attachment", "{count} attachments", case.attachment_count)
            if case.attachment_count
            else ""
        )
        # Named reports show who sent them, as on the cards posted to the staff chat.
        reporter = await turn.store.named_reporter(case.id) if case.anonymity == "named" else None
        similar = await self.similar(turn, case, audience)
        text = staff_card(t, self.catalog, case, reporter, summary, [], self.tz, turn.now, similar)
        return text, card_buttons(t, case, audience) + duplicate_buttons(t, case, similar, audience)

    @staticmethod
    async def similar(turn: Turn, case: ReportView, audience: str) -> list[SimilarHint]:
        """Open reports much like an open case (none once it is closed or a duplicate). For the
        staff only: a department may not see other departments' cases, not even their codes."""
        if audience != "staff" or case.status not in OPEN:
            return []
        return await turn.store.similar_open(case.id)

    async def card_actions(
        self, turn: Turn, case: ReportView, audience: str
    ) -> list[tuple[str, str]]:
        """The card's buttons as it shows them: its actions, then a one-tap duplicate for each
        similar open report, so a typed number means what the card lists."""
        similar = await self.similar(turn, case, audience)
        return card_buttons(turn.t, case, audience) + duplicate_buttons(
            turn.t, case, similar, audience
        )

    # -- the reporter's side: r:<id>:<what>:<version>[:<arg>] -----------------------------------
    async def on_reporter_press(self, turn: Turn) -> None:
        refusal = await self.reporter_press(turn, turn.inbound.callback or "")
        turn.reply.callback_answer = CallbackAnswer(refusal or "", bool(refusal))

    async def reporter_press(self, turn: Turn, data: str) -> str | None:
        """A reporter's choice, pressed or typed; the refusal to show when it is not valid."""
        t = turn.t
        button = _parsed(data)
        if not isinstance(button, ReporterButton):
            return t("This button is not valid.")
        case = await turn.store.case(button.case_id)
        actor = await self.actor(turn, case)
        if case is None or actor is None or not actor.is_reporter:
            return t("This button is not valid.")
        if case.version != button.version:
            return t(
                "This button is out of date: {code} is now {status}.",
                code=case.code,
                status=status_label(t, case.status),
            )
        what, arg = button.choice, button.arg
        if what not in REPORTER_CHOICES or (what == "rate" and arg not in STARS):
            return t("This button is not valid.")  # else it would get no answer at all
        await self.reporter_choice(turn, actor, case, what, arg)
        return None

    async def reporter_choice(
        self, turn: Turn, actor: Actor, case: ReportView, what: str, arg: str
    ) -> None:
        t = turn.t
        if what == "yes":
            updated = await self._reporter_apply(turn, actor, case, Action.CONFIRM)
            if updated is not None:
                turn.say_raw(
                    t(
                        "Thank you for confirming. How satisfied are you with how {code} was handled? 1 = not at all, 5 = very.",
                        code=case.code,
                    ),
                    [(reporter_data(updated, "rate", str(n)), "⭐" * n) for n in range(1, 6)],
                )
                self._asking(turn, case, "rate")
        elif what == "no":
            self._asking(turn, case, "dispute")
            turn.say_raw(
                t(
                    "What is still not resolved about {code}? Your answer goes to the people handling it.",
                    code=case.code,
                )
            )
        elif what == "rate" and arg.isdecimal() and 1 <= int(arg) <= 5:
            turn.state.data.pop("reporter_input", None)
            await turn.store.rate_case(case.id, int(arg))
            turn.say_raw(t("Thank you: your rating helps the committee improve."))
        elif what == "answer":
            self._asking(turn, case, "answer")
            turn.say_raw(t("Type your answer for {code}:", code=case.code))
        elif what == "addinfo":
            self._asking(turn, case, "addinfo")
            turn.say_raw(t("Type what you want to add to {code}:", code=case.code))

    @staticmethod
    def _asking(turn: Turn, case: ReportView, what: str) -> None:
        """Remember what the reporter was just asked to type, and when (replyroute)."""
        turn.state.data["reporter_input"] = {
            "report_id": case.id,
            "what": what,
            "code": case.code,
            "at": turn.now.isoformat(),
        }

    async def _reporter_apply(
        self, turn: Turn, actor: Actor, case: ReportView, action: Action, note: str = ""
    ) -> ReportView | None:
        t = turn.t
        try:
            check(actor, action, case_facts(case))
        except Refusal:
            turn.say_raw(
                t(
                    "{code} is now {status}; there is nothing to answer.",
                    code=case.code,
                    status=status_label(t, case.status),
                )
            )
            return None
        return await self._apply(turn, actor, case, action, note=note)

    async def reporter_text(self, turn: Turn) -> bool:
        """Free text from an idle reporter: an answer they were asked for. True when consumed.
        It goes to the newest question it can answer (`handlers/replyroute.py`); when several
        older ones could take it, the reporter is asked which case, and the text is kept."""
        if turn.person is None:
            return False
        text = turn.inbound.text.strip()
        pending = turn.state.data.get("reporter_input")
        if pending and pending.get("what") == "pick":
            return await self._picked_case(turn, pending, text)
        if not pending and not text:
            return False
        waiting = await turn.store.waiting_on_reporter(turn.person.id)
        if pending:
            waiting = [c for c in waiting if c.id != pending["report_id"]]
        named = frozenset(
            c.id for c in waiting if typed_choice(text, self.waiting_choices(turn.t, c))
        )
        chosen = replyroute.route(pending, waiting, text, named)
        if pending and not any(p.what != "waiting" for p in chosen):
            turn.state.data.pop("reporter_input", None)  # a rating not given: not asked again
        if len(chosen) > 1:
            self._ask_which_case(turn, chosen, waiting, text)
            return True
        if not chosen:
            return False
        if chosen[0].what != "waiting":
            assert pending is not None
            return await self._asked_reporter_text(turn, pending, text)
        case = next(c for c in waiting if c.id == chosen[0].case_id)
        return await self._waiting_reporter_text(turn, case, text)

    def _ask_which_case(
        self, turn: Turn, chosen: list[replyroute.Prompt], waiting: list[ReportView], text: str
    ) -> None:
        """Several cases could take the reply: keep it and ask which one it is about."""
        codes = {c.id: c.code for c in waiting}
        pending = turn.state.data.get("reporter_input")
        if pending:
            codes.setdefault(pending["report_id"], pending.get("code", ""))
        turn.state.data["reporter_input"] = {
            "what": "pick",
            "text": text,
            "cases": [p.case_id for p in chosen],
            "asked": pending,  # what was asked here before, in case it is the one
        }
        # Numbered in the text, no buttons: the same on every messenger, and typed back.
        lines = [f"{n}. {codes.get(p.case_id) or p.case_id}" for n, p in enumerate(chosen, start=1)]
        turn.say_raw(
            turn.t(
                "You have several reports waiting for your answer. Which one is your message about? Reply with its number (/cancel to drop the message)."
            )
            + "\n\n"
            + "\n".join(lines)
        )

    async def _picked_case(self, turn: Turn, pending: dict[str, Any], text: str) -> bool:
        """The reporter's pick from the list of cases: the kept message goes to that case."""
        t = turn.t
        ids: list[int] = pending["cases"]
        picked = text.strip().rstrip(".")
        number = int(picked) if picked.isdecimal() else 0
        if not 1 <= number <= len(ids):
            turn.say_raw(t("Please reply with one of the numbers in the list, or /cancel."))
            return True
        case_id, kept = ids[number - 1], str(pending["text"])
        asked = pending.get("asked")
        turn.state.data.pop("reporter_input", None)
        if asked and asked.get("report_id") == case_id:
            return await self._asked_reporter_text(turn, asked, kept)
        case = await turn.store.case(case_id)
        if case is None or case.status not in (Status.NEEDS_INFO, Status.RESOLVED):
            status = status_label(t, case.status) if case else ""
            code = case.code if case else ""
            turn.say_raw(
                t("{code} is now {status}; there is nothing to answer.", code=code, status=status)
            )
            return True
        if not await self._waiting_reporter_text(turn, case, kept):
            turn.say_raw(t("Please reply with one of the numbers in the list, or /cancel."))
        return True

    async def _asked_reporter_text(self, turn: Turn, pending: dict[str, Any], text: str) -> bool:
        """The answer to what a reporter's button asked them to type."""
        t = turn.t
        case = await turn.store.case(pending["report_id"])
        actor = await self.actor(turn, case)
        if case is None or actor is None:
            turn.state.data.pop("reporter_input", None)
            return False
        what = pending["what"]
        if what == "rate":
            if text.isdecimal() and 1 <= int(text) <= 5:
                await self.reporter_choice(turn, actor, case, "rate", text)
                return True
            turn.state.data.pop("reporter_input", None)
            return False
        if not text or turn.inbound.media:
            turn.say_raw(t("Please type your answer as text."))
            return True
        if refusal := too_long(t, text):
            turn.say_raw(refusal)  # still waiting for the answer: nothing is lost
            return True
        turn.state.data.pop("reporter_input", None)
        action = {
            "dispute": Action.DISPUTE,
            "answer": Action.ANSWER,
            "addinfo": Action.ADD_INFO,
        }[what]
        if await self._reporter_apply(turn, actor, case, action, note=text) is not None:
            turn.say_raw(self._reporter_thanks(turn, action, case))
        return True

    async def _waiting_reporter_text(self, turn: Turn, case: ReportView, text: str) -> bool:
        """Text from a reporter whose case waits for them: an answer, or yes/no to "resolved?"."""
        t = turn.t
        actor = await self.actor(turn, case)
        assert actor is not None
        # The notice offered numbered choices: a typed number or label means that choice.
        chosen = _parsed(typed_choice(text, self.waiting_choices(t, case)) or "")
        if isinstance(chosen, ReporterButton):
            await self.reporter_choice(turn, actor, case, chosen.choice, "")
            return True
        if case.status == Status.NEEDS_INFO:
            if refusal := too_long(t, text):
                turn.say_raw(refusal)
                return True
            if await self._reporter_apply(turn, actor, case, Action.ANSWER, note=text) is not None:
                turn.say_raw(self._reporter_thanks(turn, Action.ANSWER, case))
            return True
        folded = text.lower().rstrip(".!")
        if folded in YES:
            await self.reporter_choice(turn, actor, case, "yes", "")
            return True
        if folded in NO:
            await self.reporter_choice(turn, actor, case, "no", "")
            return True
        return False

    @staticmethod
    def waiting_choices(t: Translator, case: ReportView) -> list[tuple[str, str]]:
        """The choices the reporter's notice offered for a case that waits for them."""
        if case.status == Status.NEEDS_INFO:
            return [answer_button(t, case)]
        return resolution_question(t, case)[1]

    def _reporter_thanks(self, turn: Turn, action: Action, case: ReportView) -> str:
        t = turn.t
        if action == Action.DISPUTE:
            return t(
                "Thank you. {code} has been reopened and sent back to the people handling it.",
                code=case.code,
            )
        return t("Thank you: your message has been added to {code}.", code=case.code)


def _allowed(actor: Actor, action: Action, case: ReportView) -> bool:
    try:
        check(actor, action, case_facts(case))
    except Refusal:
        return False
    return True


def _is_reveal(data: str) -> bool:
    button = _parsed(data)
    return isinstance(button, CaseButton) and button.action == Action.REVEAL


def toast_as_message(turn: Turn) -> None:
    """What a press shows as a toast is a message for typed text."""
    answer, turn.reply.callback_answer = turn.reply.callback_answer, None
    if answer is not None and answer.text:
        turn.say_raw(answer.text)


def _parsed(data: str) -> CaseButton | ReporterButton | None:
    """A case or reporter button, pressed or typed; None for anything else."""
    try:
        button = parse(data)
    except InvalidCallback:
        return None
    return button if isinstance(button, CaseButton | ReporterButton) else None


def reporter_data(case: ReportView, choice: str, arg: str = "") -> str:
    """Payload of a reporter's button about their case, at the case's current version."""
    return encode(ReporterButton(case.id, choice, case.version, arg))


def answer_button(t: Translator, case: ReportView) -> tuple[str, str]:
    """The reporter's button for a staff question."""
    return reporter_data(case, "answer"), t("Answer the question")


def resolution_question(t: Any, case: ReportView) -> tuple[str, list[tuple[str, str]]]:
    """The "has this been resolved?" message and its buttons, for the reporter."""
    return (
        t("Has the issue in {code} been resolved?", code=case.code),
        [
            (reporter_data(case, "yes"), t("Yes, it is resolved")),
            (reporter_data(case, "no"), t("No, it is not")),
        ],
    )
