"""The conversation engine: (state, inbound) -> (new state, replies, effects).

The host owns the transaction and all I/O: it loads the state, calls `step`, applies the effects
(outbox rows) and saves the state, all in one commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from handlers.callbacks import InvalidCallback, Kind, PollAnswer, PromptChoice, kind_of
from handlers.callbacks import parse as parse_callback
from handlers.casedesk import CaseDesk
from handlers.casework import WEB_ROLES
from handlers.context import Effect, ReportSubmitted, Turn
from handlers.formdesk import FormDesk
from handlers.formrunner import REVIEW, Answer, FormRunner
from handlers.forms import Catalog
from handlers.help import help_text
from handlers.i18n import Translations
from handlers.linking import LinkDesk
from handlers.mydesk import MyDesk
from handlers.polldesk import PollDesk
from handlers.ports import PersonView, Store, UnitView
from handlers.state import State
from handlers.text import fold
from handlers.typedaction import parse_typed_action
from handlers.types import CallbackAnswer, ChatKind, Inbound, Outbound, Reply

COMMANDS = (
    "start",
    "report",
    "my",
    "cancel",
    "back",
    "skip",
    "help",
    "lang",
    "cases",
    "case",
    "link",
    "unlink",
    "poll",
    "weblogin",
)
WEB_LOGIN_MINUTES = 10
KEPT_TEXT_SHOWN = 60  # characters of a dropped message quoted back, enough to recognise it


Desk = Callable[[Turn], Awaitable[None]]
# Commands that work before registration; every other one starts it.
OPEN_COMMANDS = frozenset({"help", "lang", "start", "link", "unlink"})
POLL_COMMANDS = frozenset({"cancel", "back", "skip"})  # mean the poll's question in a poll


@dataclass(frozen=True)
class Route:
    """One line of the engine's dispatch table."""

    desk: Desk
    button: Kind | None = None  # a pressed button of this kind
    commands: frozenset[str] | None = None  # one of these commands
    private: bool = False  # in a private chat only
    when: Callable[[Turn], bool] | None = None

    def matches(self, turn: Turn, button: Kind | None) -> bool:
        if self.private and turn.inbound.chat_kind != ChatKind.PRIVATE:
            return False
        if self.button is not None and button != self.button:
            return False
        if self.commands is not None and turn.inbound.command not in self.commands:
            return False
        return self.when is None or self.when(turn)


@dataclass
class StepResult:
    state: dict[str, Any]
    reply: Reply
    effects: list[Effect] = field(default_factory=list)


class Engine:
    def __init__(
        self,
        catalog: Catalog,
        translations: Translations,
        units: list[UnitView],
        tz: ZoneInfo,
        max_text_length: int = 4000,
        admin_url: str = "",
    ) -> None:
        self.catalog = catalog
        self.translations = translations
        self.units = units
        self.tz = tz
        self.max_text_length = max_text_length
        self.admin_url = admin_url  # where the web admin is, for /weblogin links
        self.desk = CaseDesk(catalog, tz)
        self.polls = PollDesk(tz)
        self.links = LinkDesk(translations)
        self.forms = FormDesk(catalog, lambda: self.units)
        self.my = MyDesk(catalog, tz, self.desk, self._after_my, self._reprompt)
        self.routes = self._routes()
        self.commands = self._commands()

    def _routes(self) -> tuple[Route, ...]:
        """Which desk takes a turn: the first line that matches. The order is the behaviour: a
        case card's button works anywhere, a note awaited for a case comes before a poll
        invitation's button, and group chats get no flows. A typed case action ("PA-0042 1")
        is taken like its button, before anything else might read the text."""
        return (
            Route(self.desk.on_press, button=Kind.CASE),
            Route(self.desk.on_reporter_press, button=Kind.REPORTER, private=True),
            Route(self.links.on_press, button=Kind.LINK, private=True),
            Route(self.desk.on_typed_action, when=self._typed_action),
            Route(self.desk.on_text, when=self._awaits_case_note),
            Route(self.polls.on_invitation, button=Kind.POLL_INVITATION, private=True),
            Route(self.desk.on_command, commands=frozenset({"cases", "case"})),
            Route(self._group_number, when=self._group_number_typed),
            Route(self._group, when=lambda turn: turn.inbound.chat_kind == ChatKind.GROUP),
            Route(self._prompt_button, when=lambda turn: turn.inbound.callback is not None),
            Route(self._command, when=lambda turn: turn.inbound.command is not None),
            Route(self._message),
        )

    def _commands(self) -> dict[str, Desk]:
        """Commands of a private chat; those after /unlink need a registered person."""
        return {
            "help": self._help_command,
            "lang": self._lang_command,
            "start": self._start,
            "link": self.links.on_command,
            "unlink": self.links.on_command,
            "cancel": self._cancel,
            "back": self.forms.back,
            "skip": self.forms.skip,
            "poll": self.polls.poll_command,
            "report": self.forms.begin_report,
            "my": self.my.list,
            "weblogin": self._weblogin,
        }

    # -- entry point -----------------------------------------------------------------------------
    async def step(self, state_data: dict[str, Any], inbound: Inbound, store: Store) -> StepResult:
        state = State(state_data)
        inbound = await self._with_card_reply(self._with_alias(inbound), store)
        person = await store.person_for(inbound.channel, inbound.user_id)
        locale = self._locale(state, person, inbound)
        t = self.translations(locale)
        runner = FormRunner(
            self.catalog,
            t,
            self.units,
            person,
            inbound.display_name,
            self.max_text_length,
            inbound.has_buttons,
        )
        turn = Turn(inbound, state, person, t, runner, store)
        if person is not None and person.last_channel != inbound.channel:
            await store.touch_channel(person.id, inbound.channel)  # notifications follow them
        if inbound.command not in (None, "cancel", "skip", "help", "lang"):
            # A new command ends a pending note for a case, so it cannot swallow what follows.
            state.data.pop("case_input", None)
            state.data.pop("case_choices", None)
            state.data.pop("case_pending", None)
        kind = kind_of(inbound.callback) if inbound.callback is not None else None
        route = next(r for r in self.routes if r.matches(turn, kind))
        await route.desk(turn)
        return StepResult(state.data, turn.reply, turn.effects)

    def command_menu(self) -> list[tuple[str, str]]:
        """The commands a messenger's menu lists, described in the organisation's language."""
        t = self.translations(None)
        return [
            ("report", t("Report a pressing issue")),
            ("my", t("My reports and their handling")),
            ("poll", t("Polls and situation reports waiting for me")),
            ("cancel", t("Stop what you are doing")),
            ("help", t("Help")),
            ("lang", t("Change the language")),
        ]

    def _with_alias(self, inbound: Inbound) -> Inbound:
        """ "hủy" or "phản ánh" typed alone works as /cancel or /report (aliases are data)."""
        if (
            inbound.callback is not None
            or inbound.media
            or not inbound.text
            or len(inbound.text) > 40
        ):
            return inbound
        command = self.catalog.aliases.get(fold(inbound.text))
        return replace(inbound, text=f"/{command}") if command else inbound

    @staticmethod
    async def _with_card_reply(inbound: Inbound, store: Store) -> Inbound:
        """A number sent as a reply to a case card ("1") is that case's action: PA-0042 1."""
        if inbound.reply_to is None or inbound.callback is not None or inbound.media:
            return inbound
        typed = parse_typed_action(inbound.text)
        if typed is None or typed.code is not None:
            return inbound
        code = await store.case_of_card(inbound.channel, inbound.chat_id, inbound.reply_to)
        return replace(inbound, text=f"{code} {typed.number}") if code else inbound

    def _locale(self, state: State, person: PersonView | None, inbound: Inbound) -> str:
        if person is not None:
            return person.locale
        if state.locale:
            return state.locale
        # Members' phones are often set to English; Vietnamese stays the default until /lang.
        return self.translations.default_locale

    # -- group chats: never run flows there, never crash -----------------------------------------
    async def _group(self, turn: Turn) -> None:
        """Group chats: never run flows there, never crash."""
        if turn.inbound.callback is not None:
            turn.reply.callback_answer = CallbackAnswer(turn.t("This button is not for you."), True)
            return
        if turn.inbound.command in COMMANDS:
            turn.reply.messages.append(
                Outbound(
                    turn.inbound.chat_id,
                    turn.t("Please write to me in a private chat to use this command."),
                )
            )

    # -- typed case actions ----------------------------------------------------------------------
    @staticmethod
    def _typed_action(turn: Turn) -> bool:
        """ "PA-0042 1": in a group from anyone (refused there when they may not act), in a
        private chat from people who may act, so a member's own text is never taken for one."""
        inbound = turn.inbound
        if inbound.callback is not None or inbound.media:
            return False
        typed = parse_typed_action(inbound.text)
        if typed is None or typed.code is None:
            return False
        person = turn.person
        may_act = person is not None and person.role in WEB_ROLES
        return inbound.chat_kind == ChatKind.GROUP or may_act

    @staticmethod
    def _group_number_typed(turn: Turn) -> bool:
        inbound = turn.inbound
        if inbound.chat_kind != ChatKind.GROUP or inbound.callback is not None or inbound.media:
            return False
        typed = parse_typed_action(inbound.text)
        return typed is not None and typed.code is None

    async def _group_number(self, turn: Turn) -> None:
        """A bare number in a group: a pick from the list just offered to this person here, or
        else a question back, since a group sees many cards."""
        if not await self.desk.on_typed_choice(turn):
            await self.desk.which_case(turn)

    # -- buttons ---------------------------------------------------------------------------------
    def _awaits_case_note(self, turn: Turn) -> bool:
        return self.desk.has_pending_input(turn) and turn.inbound.command in (
            None,
            "cancel",
            "skip",
        )

    async def _prompt_button(self, turn: Turn) -> None:
        """A button of a prompt this engine asked (forms, /my, /lang, poll questions)."""
        try:
            button = parse_callback(turn.inbound.callback or "")
        except InvalidCallback as invalid:
            if invalid.kind == Kind.POLL_ANSWER:
                turn.reply.callback_answer = CallbackAnswer()
                turn.say(turn.t("This button is not valid."))
            else:
                turn.reply.callback_answer = CallbackAnswer(
                    turn.t("This button is not valid."), True
                )
            return
        if isinstance(button, PollAnswer):
            # Poll buttons name their round and question, so an older one is still understood.
            turn.reply.callback_answer = CallbackAnswer()
            await self.polls.on_button(turn, button)
            return
        if not isinstance(button, PromptChoice):
            turn.reply.callback_answer = CallbackAnswer(turn.t("This button is not valid."), True)
            return
        if button.nonce != turn.state.nonce:
            turn.reply.callback_answer = CallbackAnswer(
                turn.t("This button is out of date. Please answer the latest question."), True
            )
            return
        turn.reply.callback_answer = CallbackAnswer()
        await self._answer(turn, Answer(key=button.key))

    # -- commands --------------------------------------------------------------------------------
    async def _command(self, turn: Turn) -> None:
        cmd = turn.inbound.command or ""
        if cmd not in OPEN_COMMANDS:
            if turn.person is None:
                await self.forms.begin_onboarding(turn, None)
                return
            # A reporter's unsent answer ends with any new command, so it cannot swallow what
            # they type next; /cancel ends just that.
            pending = turn.state.data.pop("reporter_input", None)
            if pending and cmd == "cancel":
                turn.say(turn.t("Cancelled: nothing was changed."))
                await self._reprompt_any(turn)
                return
            if pending and pending.get("what") == "pick":  # say so: their text is not filed
                turn.say(
                    turn.t(
                        "Your message was not added to any report: “{text}”. Send it again "
                        "when you want to.",
                        text=_start_of(str(pending.get("text", ""))),
                    )
                )
        if turn.state.flow == "poll" and cmd in POLL_COMMANDS:
            await self.polls.on_command(turn)
        elif desk := self.commands.get(cmd):
            await desk(turn)
        else:
            turn.say(turn.t("Sorry, I do not know the command /{command}.", command=cmd))
            if not await self._reprompt_any(turn):
                turn.say(help_text(turn.t, self._acts_on_cases(turn)))

    @staticmethod
    def _acts_on_cases(turn: Turn) -> bool:
        return turn.person is not None and turn.person.role in WEB_ROLES

    async def _help_command(self, turn: Turn) -> None:
        turn.say(help_text(turn.t, self._acts_on_cases(turn)))
        await self._reprompt_any(turn)

    async def _lang_command(self, turn: Turn) -> None:
        turn.state.scratch["lang_return"] = turn.state.flow
        turn.state.flow = "lang"
        self._ask_lang(turn)

    async def _start(self, turn: Turn) -> None:
        t = turn.t
        code = turn.inbound.command_args.strip()
        if turn.person is not None:
            turn.say(
                t("Welcome back, {name}!", name=turn.person.display_name)
                + "\n"
                + help_text(turn.t, self._acts_on_cases(turn))
            )
            await self._reprompt_any(turn)
            return
        await self.forms.begin_onboarding(turn, code or None)

    # -- the web admin's sign-in link ---------------------------------------------------------
    async def _weblogin(self, turn: Turn) -> None:
        """A one-time link into the web admin, for people whose role may use it."""
        assert turn.person is not None
        t = turn.t
        if turn.person.role not in WEB_ROLES:
            turn.say(t("The web admin is for staff, leaders and departments."))
            return
        token = await turn.store.create_web_login(turn.person.id, WEB_LOGIN_MINUTES)
        turn.say(
            t(
                "Open this link within {minutes} minutes to sign in to the web admin. It works once; do not share it:\n{url}",
                minutes=WEB_LOGIN_MINUTES,
                url=f"{self.admin_url}/login/{token}",
            )
        )

    # -- answers and the open question ---------------------------------------------------------
    async def _reprompt_any(self, turn: Turn) -> bool:
        """Repeat the open question, a poll's included."""
        if turn.state.flow == "poll":
            return await self.polls.reprompt(turn)
        return self._reprompt(turn)

    def _reprompt(self, turn: Turn) -> bool:
        """Repeat whatever question is open; False when nothing is."""
        if self.forms.reprompt(turn):
            return True
        if turn.state.flow == "lang":
            self._ask_lang(turn)
            return True
        return False

    async def _answer(self, turn: Turn, answer: Answer) -> None:
        flow = turn.state.flow
        if flow == "lang":
            await self._lang_answer(turn, answer)
            return
        if flow == "my":
            await self.my.answer(turn, answer)
            return
        if flow == "pollpick":
            await self.polls.pick(turn, answer)
            return
        if not await self.forms.answer(turn, answer):
            self._idle(turn, answer)

    async def _cancel(self, turn: Turn) -> None:
        t = turn.t
        if self.forms.cancel(turn):
            return
        turn.state.flow = None
        turn.state.clear_scratch()
        turn.state.next_nonce()
        turn.say(t("There is nothing to cancel. Send /help to see what I can do."))

    # -- plain messages --------------------------------------------------------------------------
    async def _message(self, turn: Turn) -> None:
        inbound = turn.inbound
        if turn.person is None and turn.state.flow not in ("onboarding", "lang"):
            await self.forms.begin_onboarding(turn, None)
            return
        if turn.state.flow == "poll":
            await self.polls.on_text(turn)
            return
        if turn.state.flow == "pollpick" and not inbound.media:
            await self.polls.pick(turn, self._resolve_scratch(turn, inbound.text))
            return
        if "case_choices" in turn.state.data and await self.desk.on_typed_choice(turn):
            return
        code = self.desk.pending_case(turn) if turn.state.flow is None else None
        if code and await self.desk.on_pending_case(turn, code):  # after /case PA-0042
            return
        explicit = "reporter_input" in turn.state.data
        idle = turn.state.flow is None
        if (explicit or idle) and await self.desk.reporter_text(turn):
            return
        if inbound.media:
            answer = Answer(media=inbound.media, text=inbound.text or None)
        else:
            active = self.forms.active(turn)
            if active is not None:
                answer = turn.runner.resolve(active[0], active[1], inbound.text)
            else:
                answer = self._resolve_scratch(turn, inbound.text)
        await self._answer(turn, answer)

    async def _after_my(self, turn: Turn, answer: Answer) -> None:
        """An answer given while /my was open that named no report of theirs: an answer to the
        draft, or else to a question the people handling a case asked meanwhile."""
        if answer.text is not None and (active := self.forms.active(turn)) is not None:
            answer = turn.runner.resolve(active[0], active[1], answer.text)
        elif answer.text is not None and await self.desk.reporter_text(turn):
            return
        await self._answer(turn, answer)

    def _resolve_scratch(self, turn: Turn, text: str) -> Answer:
        """Typed numbers for the /my and /lang lists, which are not forms."""
        choices: list[tuple[str, str]] = turn.state.scratch.get("choices", [])
        stripped = text.strip().rstrip(".")
        if stripped.isdecimal() and 1 <= int(stripped) <= len(choices):
            return Answer(key=choices[int(stripped) - 1][0])
        for key, label in choices:
            if fold(label) == fold(stripped) or fold(key) == fold(stripped):
                return Answer(key=key)
        return Answer(text=text)

    def _idle(self, turn: Turn, answer: Answer) -> None:
        t = turn.t
        if answer.media:
            turn.say(t("To send a photo or a file with a report, start one with /report."))
            return
        typed = parse_typed_action(answer.text or "")
        if typed is not None and turn.person is not None and turn.person.role in WEB_ROLES:
            turn.say(t("Which case? Write its code and the number, e.g. PA-0042 1."))
            return
        turn.say(t("To report an issue, send /report. Send /help to see everything I can do."))

    # -- /lang -----------------------------------------------------------------------------------
    def _ask_lang(self, turn: Turn) -> None:
        choices = [("vi", "Tiếng Việt"), ("en", "English")]
        turn.state.scratch["choices"] = choices
        turn.state.next_nonce()
        turn.say(turn.t("Choose your language:"), choices)

    async def _lang_answer(self, turn: Turn, answer: Answer) -> None:
        if answer.key not in ("vi", "en"):
            turn.say(turn.t("Please pick 1 or 2."))
            self._ask_lang(turn)
            return
        locale = answer.key
        back_to = turn.state.scratch.get("lang_return")
        turn.state.clear_scratch()
        turn.state.flow = back_to if back_to in ("onboarding", "report", "poll") else None
        turn.state.locale = locale
        if turn.person is not None:
            await turn.store.set_locale(turn.person.id, locale)
        turn.t = self.translations(locale)
        turn.runner.t = turn.t
        turn.reply.selected_label = "Tiếng Việt" if locale == "vi" else "English"
        turn.say(turn.t("Language set to English."))
        await self._reprompt_any(turn)


__all__ = ["REVIEW", "Effect", "Engine", "ReportSubmitted", "StepResult"]


def _start_of(text: str) -> str:
    """The start of a message the member wrote, to quote back in one line."""
    text = " ".join(text.split())
    return text if len(text) <= KEPT_TEXT_SHOWN else text[: KEPT_TEXT_SHOWN - 1] + "…"
