"""Answering polls and situation reports in chat: /poll, one question at a time, pause and
resume, changing answers until the deadline, and refusing answers once a round has closed.

The answers in progress live in the conversation state under the round's id, so a person can
stop, do something else and come back; nothing reaches the database until the last question.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.callbacks import PollAnswer, PollInvitation, parse_as
from handlers.context import ReportSubmitted, Turn
from handlers.formrunner import Answer
from handlers.polldefs import PollDef, Question, QuestionType, pick
from handlers.pollquestions import (
    DONE,
    Invalid,
    next_question,
    prompt,
    prune,
    read_button,
    read_typed,
    visible,
)
from handlers.ports import PollRoundView, PollTodo
from handlers.types import CallbackAnswer

KEEP = "_keep"


class PollDesk:
    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    # -- state -----------------------------------------------------------------------------------
    @staticmethod
    def _drafts(turn: Turn) -> dict[str, Any]:
        return turn.state.data.setdefault("polls", {})

    @staticmethod
    def _done(turn: Turn) -> dict[str, Any]:
        """Rounds this person finished on this messenger: their response id and answers, so they
        can change anonymous answers that the database cannot link back to them."""
        return turn.state.data.setdefault("polls_done", {})

    def _draft(self, turn: Turn, round_id: int) -> dict[str, Any]:
        return self._drafts(turn).setdefault(
            str(round_id), {"answers": {}, "skipped": [], "picked": [], "q": None}
        )

    def _finish(self, turn: Turn, round_id: int) -> None:
        self._drafts(turn).pop(str(round_id), None)
        if turn.state.data.get("poll_round") == round_id:
            turn.state.data.pop("poll_round", None)
        if turn.state.flow == "poll":
            turn.state.flow = None
        turn.state.next_nonce()

    def _when(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%H:%M %d/%m/%Y")

    @staticmethod
    def _is_open(rnd: PollRoundView, now: datetime) -> bool:
        return rnd.status == "open" and rnd.opens_at <= now < rnd.closes_at

    # -- /poll and the invitation's button -------------------------------------------------------
    async def on_invitation(self, turn: Turn) -> None:
        """The "Answer now" button on an invitation, which came through the outbox."""
        turn.reply.callback_answer = CallbackAnswer()
        button = parse_as(turn.inbound.callback, PollInvitation)
        if turn.person is None or button is None:
            turn.say(turn.t("This button is not valid."))
            return
        await self.start(turn, button.round_id)

    async def on_command(self, turn: Turn) -> None:
        """/cancel, /back and /skip while answering: about the poll's question."""
        command = turn.inbound.command
        if command == "cancel":
            self.pause(turn)
        elif command == "back":
            await self.back(turn)
        else:
            await self.skip(turn)

    async def poll_command(self, turn: Turn) -> None:
        assert turn.person is not None
        t = turn.t
        todo = [
            p
            for p in await turn.store.poll_todo(turn.person.id)
            if self._is_open(p.round, turn.now)
        ]
        if not todo:
            turn.say(t("No polls or situation reports are waiting for you."))
            return
        pending = [p for p in todo if not p.responded]
        if len(todo) == 1 or (len(pending) == 1 and len(self._drafts(turn)) <= 1):
            await self.start(turn, (pending or todo)[0].round.id)
            return
        turn.state.flow = "pollpick"
        choices = [(str(p.round.id), self._todo_label(turn, p)) for p in todo]
        turn.state.scratch["choices"] = choices
        turn.state.next_nonce()
        turn.say(t("These are waiting for you. Pick one:"), choices)

    def _todo_label(self, turn: Turn, todo: PollTodo) -> str:
        t = turn.t
        title = pick(PollDef.model_validate(todo.round.definition).title, t.locale)
        state = t("answered, you can still change it") if todo.responded else t("not answered yet")
        return t(
            "{title} · until {deadline} · {state}",
            title=title,
            deadline=self._when(self._deadline(todo.round)),
            state=state,
        )

    @staticmethod
    def _deadline(rnd: PollRoundView) -> datetime:
        """What the person is told: the due time of a situation report, the close of a poll."""
        return rnd.due_at if rnd.kind == "sitrep" else rnd.closes_at

    async def pick(self, turn: Turn, answer: Answer) -> None:
        """An answer to the /poll list."""
        turn.state.flow = None
        turn.state.clear_scratch()
        if answer.key and answer.key.isdecimal():
            await self.start(turn, int(answer.key))
        else:
            turn.say(turn.t("Please pick one of the numbers. Send /poll to see the list again."))

    # -- starting or resuming a round -------------------------------------------------------------
    async def start(self, turn: Turn, round_id: int) -> None:
        t = turn.t
        if turn.person is None:
            turn.say(t("Please register first: send /start."))
            return
        rnd = await turn.store.poll_round(round_id)
        if rnd is None or not await turn.store.invited(round_id, turn.person.id):
            turn.say(t("This poll is not available to you."))
            return
        if not self._is_open(rnd, turn.now):
            self._closed(turn, rnd)
            return
        defn = PollDef.model_validate(rnd.definition)
        fresh = str(round_id) not in self._drafts(turn)
        draft = self._draft(turn, round_id)
        if turn.state.flow == "report" and has_report_draft(turn):
            turn.say(t("Your unfinished report is kept: send /report to continue it afterwards."))
        turn.state.flow = "poll"
        turn.state.data["poll_round"] = round_id
        turn.state.clear_scratch()
        if fresh:
            earlier = await self._earlier_answers(turn, rnd)
            if earlier:
                draft["answers"] = dict(earlier)
                draft["editing"] = True
                draft["q"] = visible(defn, draft["answers"])[0].id
                turn.say(
                    t(
                        "You have already answered. You can change any answer until {deadline}: choose “Keep” to leave one as it is, or /cancel to stop.",
                        deadline=self._when(self._deadline(rnd)),
                    )
                )
            else:
                intro = pick(defn.intro, t.locale) if defn.intro else pick(defn.title, t.locale)
                turn.say(
                    intro
                    + "\n\n"
                    + t(
                        "Questions come one at a time. You can stop with /cancel and continue later with /poll, until {deadline}.",
                        deadline=self._when(self._deadline(rnd)),
                    )
                )
        else:
            turn.say(t("Let us continue where you left off."))
        await self._ask(turn, rnd, defn, draft)

    async def _earlier_answers(self, turn: Turn, rnd: PollRoundView) -> dict[str, Any] | None:
        assert turn.person is not None
        done = self._done(turn).get(str(rnd.id))
        if done:
            return dict(done["answers"])
        return await turn.store.named_response(rnd.id, turn.person.id)

    def _closed(self, turn: Turn, rnd: PollRoundView) -> None:
        turn.say(
            turn.t(
                "This poll closed at {deadline}. Your answer was not recorded.",
                deadline=self._when(rnd.closes_at),
            )
        )
        self._finish(turn, rnd.id)

    # -- asking ----------------------------------------------------------------------------------
    async def _ask(
        self, turn: Turn, rnd: PollRoundView, defn: PollDef, draft: dict[str, Any]
    ) -> None:
        q = self._current(defn, draft)
        if q is None:
            await self._complete(turn, rnd, defn, draft)
            return
        draft["q"] = q.id
        turn.state.next_nonce()
        p = prompt(defn, q, draft["answers"], draft["picked"], turn.t, turn.inbound.has_buttons)
        nonce = turn.state.nonce
        choices = [
            (PollAnswer(nonce, rnd.id, q.id, value).key, label) for value, label in p.choices
        ]
        if draft.get("editing") and q.id in draft["answers"]:
            choices.append((PollAnswer(nonce, rnd.id, q.id, KEEP).key, turn.t("Keep")))
        turn.say(p.text, choices)

    @staticmethod
    def _current(defn: PollDef, draft: dict[str, Any]) -> Question | None:
        qid = draft.get("q")
        current = defn.question(qid) if qid else None
        if current is not None and current in visible(defn, draft["answers"]):
            return current
        if draft.get("editing"):
            return None
        return next_question(defn, draft["answers"], draft["skipped"])

    async def reprompt(self, turn: Turn) -> bool:
        loaded = await self._active(turn)
        if loaded is None:
            return False
        rnd, defn, draft = loaded
        await self._ask(turn, rnd, defn, draft)
        return True

    async def _active(self, turn: Turn) -> tuple[PollRoundView, PollDef, dict[str, Any]] | None:
        round_id = turn.state.data.get("poll_round")
        if turn.state.flow != "poll" or round_id is None:
            return None
        rnd = await turn.store.poll_round(int(round_id))
        if rnd is None:
            self._finish(turn, int(round_id))
            return None
        if not self._is_open(rnd, turn.now):
            self._closed(turn, rnd)
            return None
        return rnd, PollDef.model_validate(rnd.definition), self._draft(turn, rnd.id)

    async def _open_question(
        self, turn: Turn
    ) -> tuple[PollRoundView, PollDef, dict[str, Any], Question] | None:
        """The active round and its open question; None when there is none, or when every
        question is answered (the round is then completed here)."""
        loaded = await self._active(turn)
        if loaded is None:
            return None
        rnd, defn, draft = loaded
        q = self._current(defn, draft)
        if q is None:
            await self._complete(turn, rnd, defn, draft)
            return None
        return rnd, defn, draft, q

    # -- answers ---------------------------------------------------------------------------------
    async def on_text(self, turn: Turn) -> None:
        at = await self._open_question(turn)
        if at is None:
            return
        rnd, defn, draft, q = at
        t = turn.t
        if turn.inbound.media:
            turn.say(t("This question needs a typed answer; photos and files cannot be used here."))
            await self._ask(turn, rnd, defn, draft)
            return
        if (
            draft.get("editing")
            and q.id in draft["answers"]
            and turn.inbound.text.strip().lower() in (t("Keep").lower(), "keep")
        ):
            await self._record(turn, rnd, defn, draft, q, draft["answers"][q.id])
            return
        try:
            value = read_typed(q, turn.inbound.text, t)
        except Invalid as exc:
            turn.say(str(exc))
            await self._ask(turn, rnd, defn, draft)
            return
        await self._record(turn, rnd, defn, draft, q, value)

    async def on_button(self, turn: Turn, button: PollAnswer) -> None:
        """A button of an earlier question changes that answer; anything else is refused and
        the current question asked again."""
        t = turn.t
        round_id, qid, value = button.round_id, button.question, button.value
        if turn.state.data.get("poll_round") != round_id or turn.state.flow != "poll":
            rnd = await turn.store.poll_round(round_id)
            if rnd is not None and not self._is_open(rnd, turn.now):
                self._closed(turn, rnd)
                return
            turn.say(
                t("That button is from a poll you are not answering now. Send /poll to pick it.")
            )
            return
        loaded = await self._active(turn)
        if loaded is None:
            return
        rnd, defn, draft = loaded
        q = defn.question(qid)
        current = self._current(defn, draft)
        if q is None or current is None:
            turn.say(t("This button is not valid."))
            await self._ask(turn, rnd, defn, draft)
            return
        if value == KEEP and q.id == current.id and q.id in draft["answers"]:
            await self._record(turn, rnd, defn, draft, q, draft["answers"][q.id])
            return
        if q.id == current.id and q.type == QuestionType.MULTI:
            await self._toggle(turn, rnd, defn, draft, q, value)
            return
        picked = read_button(q, value)
        if picked is None:
            turn.say(t("This button is not valid."))
            await self._ask(turn, rnd, defn, draft)
            return
        if q.id == current.id:
            await self._record(turn, rnd, defn, draft, q, picked)
            return
        if q.id in draft["answers"] and q.type != QuestionType.MULTI:
            # An earlier question's button: change that answer, then carry on where we were.
            draft["answers"][q.id] = picked
            draft["answers"] = prune(defn, draft["answers"])
            turn.say(t("Changed your answer to: {question}", question=pick(q.text, t.locale)))
        else:
            turn.say(t("That button belongs to another question. Please answer this one:"))
        await self._ask(turn, rnd, defn, draft)

    async def _toggle(
        self,
        turn: Turn,
        rnd: PollRoundView,
        defn: PollDef,
        draft: dict[str, Any],
        q: Question,
        value: str,
    ) -> None:
        picked: list[str] = draft["picked"]
        if value == DONE:
            chosen = [o.value for o in q.options if o.value in picked]
            if not chosen:
                turn.say(turn.t("Please pick at least one option, then Done."))
                await self._ask(turn, rnd, defn, draft)
                return
            await self._record(turn, rnd, defn, draft, q, chosen)
            return
        if q.option(value) is None:
            turn.say(turn.t("This button is not valid."))
        elif value in picked:
            picked.remove(value)
        else:
            picked.append(value)
        await self._ask(turn, rnd, defn, draft)

    async def _record(
        self,
        turn: Turn,
        rnd: PollRoundView,
        defn: PollDef,
        draft: dict[str, Any],
        q: Question,
        value: Any,
    ) -> None:
        turn.reply.selected_label = None
        draft["answers"][q.id] = value
        draft["answers"] = prune(defn, draft["answers"])
        draft["picked"] = []
        if q.id in draft["skipped"]:
            draft["skipped"].remove(q.id)
        draft["q"] = self._after(defn, draft, q)
        await self._ask(turn, rnd, defn, draft)

    @staticmethod
    def _after(defn: PollDef, draft: dict[str, Any], q: Question) -> str | None:
        """The question after `q`. When changing earlier answers, every visible one is walked
        in turn; otherwise the first one not answered yet."""
        if not draft.get("editing"):
            return None
        shown = visible(defn, draft["answers"])
        ids = [v.id for v in shown]
        i = ids.index(q.id) if q.id in ids else len(ids)
        for nxt in shown[i + 1 :]:
            return nxt.id
        return "__end"

    async def skip(self, turn: Turn) -> None:
        at = await self._open_question(turn)
        if at is None:
            return
        rnd, defn, draft, q = at
        if q.required:
            turn.say(turn.t("This question cannot be skipped: please answer it."))
            await self._ask(turn, rnd, defn, draft)
            return
        draft["answers"].pop(q.id, None)
        if q.id not in draft["skipped"]:
            draft["skipped"].append(q.id)
        draft["picked"] = []
        draft["q"] = self._after(defn, draft, q)
        await self._ask(turn, rnd, defn, draft)

    async def back(self, turn: Turn) -> None:
        loaded = await self._active(turn)
        if loaded is None:
            return
        rnd, defn, draft = loaded
        q = self._current(defn, draft)
        shown = visible(defn, draft["answers"])
        ids = [v.id for v in shown]
        i = ids.index(q.id) if q is not None and q.id in ids else len(ids)
        if i == 0:
            turn.say(turn.t("This is the first question. Send /cancel if you want to stop."))
        else:
            prev = shown[i - 1]
            draft["q"] = prev.id
            draft["picked"] = []
            if prev.id in draft["skipped"]:
                draft["skipped"].remove(prev.id)
        await self._ask(turn, rnd, defn, draft)

    def pause(self, turn: Turn) -> None:
        """/cancel in a poll keeps what was answered: it is a pause, not a loss."""
        round_id = turn.state.data.pop("poll_round", None)
        turn.state.flow = None
        turn.state.next_nonce()
        if round_id is not None and self._drafts(turn).get(str(round_id), {}).get("answers"):
            turn.say(
                turn.t(
                    "Paused. Your answers so far are kept: send /poll to continue before the poll closes."
                )
            )
        else:
            self._drafts(turn).pop(str(round_id), None)
            turn.say(turn.t("Stopped. Send /poll when you want to answer."))
        remind_report_draft(turn)

    # -- the end ---------------------------------------------------------------------------------
    async def _complete(
        self, turn: Turn, rnd: PollRoundView, defn: PollDef, draft: dict[str, Any]
    ) -> None:
        assert turn.person is not None
        t = turn.t
        answers = prune(defn, draft["answers"])
        done = self._done(turn).get(str(rnd.id)) or {}
        response_id = await turn.store.save_poll_response(
            rnd.id, turn.person, answers, done.get("response")
        )
        case_code = done.get("case")
        if defn.kind == "sitrep" and defn.case is not None and not case_code:
            case_code = await self._open_case(turn, rnd, defn, answers, response_id)
        self._done(turn)[str(rnd.id)] = {
            "response": response_id,
            "answers": answers,
            **({"case": case_code} if case_code else {}),
        }
        self._finish(turn, rnd.id)
        if defn.kind == "sitrep":
            lines = [
                t(
                    "Thank you. Your unit's situation report for {period} is filed.",
                    period=rnd.period,
                )
            ]
            if turn.now > rnd.due_at:
                lines.append(
                    t("It was due at {due}, so it is recorded as late.", due=self._when(rnd.due_at))
                )
            if case_code and not done.get("case"):
                lines.append(
                    t(
                        "The pressing issue you flagged is now case {code}; you will hear how it is handled.",
                        code=case_code,
                    )
                )
            turn.say("\n".join(lines))
        else:
            turn.say(
                t(
                    "Thank you, your answers are recorded. You can change them with /poll until {deadline}.",
                    deadline=self._when(rnd.closes_at),
                )
            )
        remind_report_draft(turn)

    async def _open_case(
        self,
        turn: Turn,
        rnd: PollRoundView,
        defn: PollDef,
        answers: dict[str, Any],
        response_id: int,
    ) -> str | None:
        assert turn.person is not None and defn.case is not None
        text = str(answers.get(defn.case.question) or "").strip()
        if not text:
            return None
        prefix = turn.t("[Situation report {period}]", period=rnd.period)
        report = await turn.store.submit_report(
            turn.person,
            {
                "category": defn.case.category,
                "urgency": defn.case.urgency,
                "unit": turn.person.unit_code,
                "description": f"{prefix} {text}",
                "anonymity": "named",
            },
            turn.inbound.channel,
            turn.t.locale,
        )
        await turn.store.link_case_to_response(report.id, response_id)
        turn.effects.append(ReportSubmitted(report.id))
        return report.code


def has_report_draft(turn: Turn) -> bool:
    """A report begun and not sent: the poll takes over and the draft waits for /report."""
    return turn.state.has_form("report") and bool(turn.state.form("report").get("step"))


def remind_report_draft(turn: Turn) -> None:
    """After a poll, a paused report draft is not forgotten."""
    if has_report_draft(turn):
        turn.say(
            turn.t(
                "You still have an unfinished report: send /report to continue where you left off."
            )
        )
