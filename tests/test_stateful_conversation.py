"""Random conversations through the real engine and store, checked after every step.

A hypothesis state machine plays one person on one messenger's rendering (buttons on Telegram
and the web, typed numbers on Zalo) who sends commands, numbers, labels, free text of any
length, media, stale and forged buttons, /cancel, /back and /skip, while staff act on their
cases, poll invitations arrive and the person links a second messenger, all mid-form.

After every step: no exception or apology; every private message gets an answer; every stored
draft answer is one its question accepts, and only the question being answered changed; no draft
disappears except by the person's own cancel or by being sent; case statuses move only along
the case state machine; no hidden reporter's identity reaches staff-facing text or the logs.

CI runs a fixed, bounded set of examples (profile "ci", see tests/conftest.py). For a longer,
random search: HYPOTHESIS_PROFILE=long uv run pytest tests/test_stateful_conversation.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from bot.app import Core
from handlers.casework import Action
from handlers.engine import COMMANDS
from handlers.formrunner import EDIT_MENU, REVIEW
from handlers.forms import StepType
from handlers.ports import Registration
from handlers.text import fold
from handlers.types import ACCEPTED_MEDIA, ChatKind, Media, MediaKind, Reply
from scheduler.polls import run_polls
from storage.conversations import load_conversation
from storage.models import Report, ReportEvent
from storage.store import SqlStore
from tests.chat import Chat
from tests.stateful_harness import (
    STAFF_ID,
    STAFF_ROOM,
    LogRecorder,
    Transport,
    build_template,
    core_from,
    payload_text,
)

FROZEN = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 09:00 in Hanoi, a poll round just opened
NAME, USERNAME = "Đinh Thị Lan", "dinhthilan"
CHANNELS = ("telegram", "zalo", "web")

# The case state machine as DESIGN draws it, plus the shortcuts handlers/casework.py allows
# (assign straight from new, resolve without a department, hand back, staff reopening).
EDGES = {
    ("", "new"),
    ("new", "acknowledged"),
    ("new", "assigned"),
    ("acknowledged", "assigned"),
    ("acknowledged", "needs_info"),
    ("assigned", "needs_info"),
    ("needs_info", "assigned"),
    ("needs_info", "acknowledged"),
    ("assigned", "acknowledged"),
    ("reopened", "acknowledged"),
    ("reopened", "assigned"),
    ("reopened", "needs_info"),
    ("resolved", "closed"),
    ("resolved", "reopened"),
    ("closed", "reopened"),
    ("rejected", "reopened"),
    ("duplicate", "reopened"),
}
EDGES |= {(s, "resolved") for s in ("acknowledged", "assigned", "needs_info", "reopened")}
EDGES |= {
    (s, end)
    for s in ("new", "acknowledged", "assigned", "needs_info", "reopened")
    for end in ("rejected", "duplicate")
}

free_text = st.one_of(
    st.text(max_size=60),
    st.text(st.characters(codec="utf-8"), min_size=10, max_size=120),
    st.sampled_from(["", " ", "0", "1.", " 2 ", "-1", "99", "١", "²", "tai chinh", "Chi bộ"]),
    st.integers(3990, 4010).map(lambda n: "ư" * n),
)
media_item = st.builds(
    Media,
    kind=st.sampled_from(list(MediaKind)),
    ref=st.sampled_from(["a.jpg", "2026/11/b.pdf", ""]),
    mime=st.sampled_from(["image/jpeg", "application/pdf", ""]),
    size=st.integers(0, 10**9),
    name=st.text(max_size=300),
    latitude=st.none() | st.floats(-90, 90),
    longitude=st.none() | st.floats(-180, 180),
    too_large=st.booleans(),
)
commands = st.sampled_from(
    [
        "/start",
        "/start NOSUCHCODE",
        "/report",
        "/report@grassroots_bot",
        "/my",
        "/help",
        "/lang",
        "/poll",
        "/cases",
        "/case PA-0001",
        "/weblogin",
        "/frobnicate",
        "/",
        "phản ánh",
        "Ngôn ngữ",
        "của tôi",
    ]
)
forged = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "c:1:ack:0",
            "c:1:resolve:1",
            "r:1:confirm:0",
            "r:1:dispute:3",
            "r:1:answer:1",
            "r:999:addinfo:0",
            "r:x:y",
            "poll:1",
            "poll:abc",
            "x:pq:1:mood:stable",
            "0:confirm",
            "000000:edit:description",
        ]
    ),
)


class Conversations(RuleBasedStateMachine):
    template: Path  # set by the test below

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.tmp = tempfile.TemporaryDirectory()
        self.clock = time_machine.travel(FROZEN, tick=False)
        self.clock.start()
        self.logs = LogRecorder().__enter__()
        self.transport = Transport()
        self.core: Core | None = None
        self.outbox_dirty = False
        self.seen = 0  # transport messages already checked
        self.last_event = 0
        self.statuses: dict[int, str] = {}
        self.drafts: dict[str, Any] = {}
        self.report_count = 0
        self.my_buttons: list[str] = []  # every button the person was ever shown
        self.staff_buttons: list[str] = []
        self.delivered: list[str] = []  # buttons that reached the person through the outbox

    def _queued(self) -> None:
        self.outbox_dirty = True

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    # -- set-up ----------------------------------------------------------------------------------
    @initialize(
        channel=st.sampled_from(CHANNELS),
        registered=st.sampled_from([True, True, False]),
        locale=st.sampled_from(["vi", "en"]),
        profile=st.sampled_from([NAME, NAME, " L ", "", "x" * 150]),
        cases=st.sampled_from([1, 2, 0]),
    )
    def start(self, channel: str, registered: bool, locale: str, profile: str, cases: int) -> None:
        self.core = self.run(core_from(self.template, Path(self.tmp.name)))
        for name in CHANNELS:
            self.core.senders[name] = self.transport.sender(name)
        self.core.dispatcher.on_commit = self._queued
        self.me = Chat(self.core, "u5000x", channel, profile, USERNAME)
        other = next(c for c in CHANNELS if c != channel)
        self.other = Chat(self.core, "u6000x", other, profile, USERNAME + "2")
        self.staff = Chat(self.core, STAFF_ID, "telegram", "Cán bộ Ban", "", ChatKind.GROUP)
        self.staff.chat_id = STAFF_ROOM
        self.apologies = {
            self.core.translations(lang)(
                "Sorry, something went wrong on our side. Your answers so far are kept: please try again in a moment."
            )
            for lang in ("vi", "en")
        }
        if registered:

            async def register() -> None:
                assert self.core is not None
                async with self.core.sessions() as session, session.begin():
                    await SqlStore(session).register(
                        Registration(
                            channel, "u5000x", USERNAME, NAME, "U007", "collaborator", locale, None
                        )
                    )
                await run_polls(self.core)  # the person is invited to this month's poll

            self.run(register())
        self.after(None, None)
        for number in range(cases if registered else 0):
            # Cases to act on from the first step: staff and reporter buttons need them.
            for text in ("/report", "1", "2", "1", f"Sự việc số {number} cần phản ánh.", "/skip"):
                self.me_send(self.me.say(text), text)
            for text in (str(number % 3 + 1), "1"):
                self.me_send(self.me.say(text), text)

    def teardown(self) -> None:
        if os.environ.get("STATEFUL_DEBUG"):
            print("reports", self.statuses, "sent", len(self.transport.sent))
        try:
            if self.core is not None:
                self.run(self.core.close())
            self.runner.close()
        finally:
            self.logs.__exit__()
            self.clock.stop()
            self.tmp.cleanup()

    # -- the person ------------------------------------------------------------------------------
    def me_send(self, coro: Any, typed: str = "") -> None:
        self.run(coro)
        self.after(self.me.last_reply, typed)

    @rule(text=commands)
    def command(self, text: str) -> None:
        self.me_send(self.me.say(text), text)

    @rule(which=st.sampled_from(["/cancel", "/back", "/skip", "hủy", "bỏ qua", "quay lại"]))
    def cancel_back_skip(self, which: str) -> None:
        self.me_send(self.me.say(which), which)

    @rule(n=st.integers(-1, 14))
    def type_number(self, n: int) -> None:
        self.me_send(self.me.say(str(n)), str(n))

    @rule(text=free_text)
    def type_text(self, text: str) -> None:
        self.me_send(self.me.say(text), text)

    @precondition(lambda self: self.me.last_choices)
    @rule(data=st.data(), how=st.sampled_from(["press", "label", "LABEL"]))
    def choose(self, data: st.DataObject, how: str) -> None:
        index = data.draw(st.integers(1, len(self.me.last_choices)))
        if how == "press":
            self.me_send(self.me.press(index))
            return
        label = self.me.last_choices[index - 1][0]
        label = label.upper() if how == "LABEL" else label
        self.me_send(self.me.say(label), label)

    @rule(data=st.data())
    def answer_sensibly(self, data: st.DataObject) -> None:
        """What most people do: answer the question asked, so forms finish and cases exist."""
        self._sensible(data)

    @rule(data=st.data())
    def send_a_whole_report(self, data: st.DataObject) -> None:
        self.me_send(self.me.say("/report"), "/report")
        for _ in range(12):
            if "report" not in self.drafts:
                break
            self._sensible(data)

    def _sensible(self, data: st.DataObject) -> None:
        flow = self.drafts.get("report") or self.drafts.get("onboarding") or {}
        step = flow.get("step")
        if step == "description":
            text = data.draw(
                st.text(min_size=10, max_size=50).filter(lambda s: len(s.strip()) >= 10)
            )
            self.me_send(self.me.say(text), text)
        elif step == "name":
            self.me_send(self.me.say(NAME), NAME)
        elif step == REVIEW:
            self.me_send(self.me.say("1"), "1")
        elif self.me.last_choices:
            index = data.draw(st.integers(1, min(3, len(self.me.last_choices))))
            self.me_send(self.me.press(index))
        else:
            self.me_send(self.me.say("/report"), "/report")

    @rule(items=st.lists(media_item, min_size=1, max_size=3), caption=free_text)
    def send_media(self, items: list[Media], caption: str) -> None:
        self.me_send(self.me.media(*items, caption=caption), caption)

    @precondition(lambda self: self.my_buttons)
    @rule(data=st.data())
    def stale_button(self, data: st.DataObject) -> None:
        self.me_send(self.me.press_data(data.draw(st.sampled_from(self.my_buttons))))

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def press_a_delivered_button(self, data: st.DataObject) -> None:
        """A poll invitation, a staff question or "is it resolved?", pressed mid-form."""
        self.me_send(self.me.press_data(data.draw(st.sampled_from(self.delivered))))

    @rule(payload=forged)
    def forged_button(self, payload: str) -> None:
        self.me_send(self.me.press_data(payload))

    @rule()
    def link_a_second_messenger(self) -> None:
        """/link mid-form: the code arrives here and is redeemed on the other messenger."""
        out = self.run(self.me.say("/link"))
        self.after(self.me.last_reply, "/link")
        code = next((m.group(1) for t in out if (m := re.search(r"/link (\S+)", t))), None)
        if code is not None:
            self.run(self.other.say(f"/link {code}"))
            self.after(self.other.last_reply, "", who=self.other)

    # -- staff and the clock's side of a case, arriving mid-form ---------------------------------
    @precondition(lambda self: self.statuses)
    @rule(
        data=st.data(),
        action=st.sampled_from([a.value for a in Action] + ["ack", "assign", "ask", "resolve"]),
        arg=st.sampled_from(["", "", "SCT", "BTC", "NOPE", "24h", "type", "7d"]),
        stale=st.booleans(),
        note=st.none() | st.just("Đề nghị bổ sung thông tin về thời gian.") | free_text,
    )
    def staff_presses(
        self, data: st.DataObject, action: str, arg: str, stale: bool, note: str | None
    ) -> None:
        case_id = data.draw(st.sampled_from(sorted(self.statuses)))
        version = self.run(self._version(case_id)) - (1 if stale else 0)
        payload = f"c:{case_id}:{action}:{version}" + (f":{arg}" if arg else "")
        self.run(self.staff.press_data(payload))
        self.after(self.staff.last_reply, "", who=self.staff)
        if note is not None:  # the reason, question or answer the press asked for
            self.run(self.staff.say(note))
            self.after(self.staff.last_reply, "", who=self.staff)

    @precondition(lambda self: self.statuses)
    @rule(
        data=st.data(),
        action=st.sampled_from(["ack", "assign:SCT", "ask", "resolve", "reject", "dup", "reopen"]),
    )
    def staff_works_a_case(self, data: st.DataObject, action: str) -> None:
        """What staff usually do: a current card's button, then the note it asks for."""
        case_id = data.draw(st.sampled_from(sorted(self.statuses)))
        name, _, arg = action.partition(":")
        version = self.run(self._version(case_id))
        self.run(
            self.staff.press_data(f"c:{case_id}:{name}:{version}" + (f":{arg}" if arg else ""))
        )
        self.after(self.staff.last_reply, "", who=self.staff)
        notes = {"dup": ["PA-0001"], "reject": ["Không thuộc thẩm quyền.", "UBND phường"]}
        for note in notes.get(name, ["Đã kiểm tra, xin đồng chí cho biết thêm chi tiết."]):
            self.run(self.staff.say(note))
            self.after(self.staff.last_reply, "", who=self.staff)

    @precondition(lambda self: self.staff_buttons)
    @rule(data=st.data())
    def staff_presses_a_delivered_button(self, data: st.DataObject) -> None:
        self.run(self.staff.press_data(data.draw(st.sampled_from(self.staff_buttons))))
        self.after(self.staff.last_reply, "", who=self.staff)

    @precondition(lambda self: self.statuses)
    @rule(
        text=st.one_of(
            free_text,
            st.sampled_from(["PA-0001", "pa-0002", "15/01/2027 09:30", "31/02/2027", "/cancel"]),
        )
    )
    def staff_types(self, text: str) -> None:
        self.run(self.staff.say(text))
        self.after(self.staff.last_reply, "", who=self.staff)

    @precondition(lambda self: self.statuses)
    @rule(text=st.sampled_from(["/cases", "/case PA-0001", "/case pa-0002", "/case"]))
    def staff_lists(self, text: str) -> None:
        self.run(self.staff.say(text))
        self.after(self.staff.last_reply, "", who=self.staff)

    async def _version(self, case_id: int) -> int:
        assert self.core is not None
        async with self.core.sessions() as session:
            return (await session.get(Report, case_id)).version  # type: ignore[union-attr]

    # -- checks after every step -----------------------------------------------------------------
    def after(self, reply: Reply | None, typed: str | None, who: Chat | None = None) -> None:
        """Deliver what the step queued, then check every invariant against what changed."""
        assert self.core is not None and self.core.delivery is not None
        if self.outbox_dirty or typed is None:
            self.outbox_dirty = False
            self.run(self.core.delivery.run_once())
        who = who or self.me
        fresh = self.transport.sent[self.seen :]
        self.seen = len(self.transport.sent)
        for _, chat_id, payload in fresh:
            mine = chat_id in (self.me.user_id, self.other.user_id)
            pool = self.delivered if mine else self.staff_buttons
            pool.extend(str(data) for data, _ in payload.get("choices", []) or [])
        if who is self.me and self.me.last_choices:
            self.my_buttons.extend(d for _, d in self.me.last_choices)
        self._no_errors(reply)
        if typed is not None:
            self._answered(reply, who, typed, fresh)
        state, reports, events = self.run(self._snapshot())
        if who is self.me:
            self._drafts_kept(state, reports, typed or "")
        self._statuses_follow_the_machine(reports, events)
        self._no_hidden_identity(fresh, reports)
        self._no_identity_in_logs()

    def _no_identity_in_logs(self) -> None:
        secrets = [USERNAME, self.me.user_id, self.other.user_id, NAME]
        for record in self.logs.records:
            message = record.getMessage()
            for secret in secrets:
                assert secret not in message, f"{secret!r} in a log record: {message[:300]}"
        self.logs.records.clear()

    def _no_errors(self, reply: Reply | None) -> None:
        errors = [r for r in self.logs.records if r.levelno >= logging.ERROR]
        assert not errors, "\n".join(
            logging.Formatter().format(r) for r in errors
        )  # a traceback, with its cause
        texts = [m.text for m in reply.messages] if reply else []
        assert not self.apologies & set(texts), texts

    def _answered(
        self, reply: Reply | None, who: Chat, typed: str, fresh: list[tuple[str, str, Any]]
    ) -> None:
        assert reply is not None, "a fresh update was treated as a replay"
        if who.chat_kind == ChatKind.GROUP and who.last_reply is not None:
            # In groups plain chatter is ignored by design; a press or a command is answered.
            last = next((line for line in reversed(who.transcript) if line.startswith("> ")), "")
            command = last[3:].split(maxsplit=1)[0].split("@")[0].lower() if last[3:] else ""
            if not last.startswith("> [") and not (last.startswith("> /") and command in COMMANDS):
                return
        toast = reply.callback_answer.text if reply.callback_answer else ""
        delivered = any(chat_id == who.chat_id for _, chat_id, _ in fresh)
        assert reply.messages or toast or delivered, f"no answer to {who.transcript[-1:]}"

    async def _snapshot(self) -> tuple[dict[str, Any], list[Report], list[ReportEvent]]:
        assert self.core is not None
        async with self.core.sessions() as session:
            _, state = await load_conversation(session, self.me.channel, self.me.user_id)
            reports = list((await session.execute(select(Report).order_by(Report.id))).scalars())
            events = list(
                (
                    await session.execute(
                        select(ReportEvent)
                        .where(ReportEvent.id > self.last_event)  # type: ignore[operator]
                        .order_by(ReportEvent.id)  # type: ignore[arg-type]
                    )
                ).scalars()
            )
        return state, reports, events

    def _drafts_kept(self, state: dict[str, Any], reports: list[Report], typed: str) -> None:
        assert self.core is not None
        catalog = self.core.catalog
        drafts = state.get("forms", {})
        own_cancel = self.core.catalog.aliases.get(fold(typed)) == "cancel" or typed.startswith(
            "/cancel"
        )
        new_reports = reports[self.report_count :]
        self.report_count = len(reports)
        for form_id, before in self.drafts.items():
            after = drafts.get(form_id)
            if after is None:
                answers = before["answers"]
                sent = form_id == "report" and any(
                    (r.description, r.category, r.urgency, r.anonymity)
                    == tuple(
                        answers.get(k) for k in ("description", "category", "urgency", "anonymity")
                    )
                    for r in new_reports
                )
                registered = form_id == "onboarding" and self.run(self._registered())
                # At the review and the consent question, Cancel and "I do not agree" are the
                # person's own way of stopping.
                chose_to_stop = before.get("step") in (REVIEW, "privacy")
                assert sent or registered or own_cancel or chose_to_stop, (
                    f"the {form_id} draft {before} was lost on {self.me.transcript[-1][:200]!r}"
                )
                continue
            step = before.get("step")
            for key, value in before["answers"].items():
                assert key in after["answers"], f"{form_id}.{key} was lost"
                if after["answers"][key] != value:
                    media_caption = key == "attachments" and catalog.forms[form_id].step(
                        str(step)
                    ).type in (StepType.TEXT, StepType.MEDIA)
                    assert key == step or media_caption, (
                        f"{form_id}.{key} changed while answering {step}"
                    )
        for form_id, fs in drafts.items():
            form = catalog.forms[form_id]
            for key, value in fs["answers"].items():
                self._accepted(form_id, form.step(key), value)
            assert fs.get("step") in {s.id for s in form.steps} | {REVIEW, EDIT_MENU, None}
        self.drafts = {k: _copy(v) for k, v in drafts.items()}

    async def _registered(self) -> bool:
        assert self.core is not None
        async with self.core.sessions() as session:
            return await SqlStore(session).person_for(self.me.channel, self.me.user_id) is not None

    def _accepted(self, form_id: str, step: Any, value: Any) -> None:
        """An answer kept in a draft is one its question would accept."""
        assert self.core is not None
        where = f"{form_id}.{step.id}={value!r:.120}"
        if value is None or value == []:
            assert step.optional or step.id in ("name", "unit"), where  # preset by invites
            return
        if step.type == StepType.CHOICE:
            if step.source == "categories":
                allowed = {c.code for c in self.core.catalog.categories}
            else:
                allowed = {o.value for o in step.options}
            if step.must_be:
                allowed = {step.must_be}
            assert value in allowed, where
        elif step.type == StepType.TEXT:
            limit = min(step.max_length, self.core.settings.max_text_length)
            assert isinstance(value, str) and step.min_length <= len(value) <= limit, where
        elif step.type == StepType.UNIT:
            assert value in {u.code for u in self.core.engine.units}, where
        elif step.type == StepType.MEDIA:
            assert len(value) <= step.max_items, where
            assert all(MediaKind(item["kind"]) in ACCEPTED_MEDIA for item in value), where

    def _statuses_follow_the_machine(
        self, reports: list[Report], events: list[ReportEvent]
    ) -> None:
        for event in events:
            edge = (event.from_status, event.to_status)
            before = self.statuses.get(event.report_id, "")
            assert event.from_status == before, f"event {edge} on a case that was {before}"
            assert edge in EDGES or edge[0] == edge[1], f"{edge} is not a move of the machine"
            self.statuses[event.report_id] = event.to_status
            self.last_event = event.id or self.last_event
        for report in reports:
            assert report.id is not None
            assert self.statuses.get(report.id) == report.status, (
                f"{report.code} is {report.status} but its history ends at "
                f"{self.statuses.get(report.id)}"
            )

    def _no_hidden_identity(self, fresh: list[tuple[str, str, Any]], reports: list[Report]) -> None:
        hidden = [r.code for r in reports if r.anonymity != "named"]
        if not hidden:
            return
        secrets = [USERNAME, self.me.user_id, self.other.user_id, NAME]
        mine = {self.me.user_id, self.other.user_id}
        staff_side = [payload_text(p) for _, chat_id, p in fresh if chat_id not in mine]
        if self.staff.last_reply is not None:
            staff_side += [m.text for m in self.staff.last_reply.messages]
        for text in staff_side:
            for secret in secrets:
                if secret in text:
                    # A named case's card may show its reporter (and name other cases, say
                    # the one it duplicates); a hidden case's card never.
                    about = re.search(r"PA-\d{4}", text)
                    assert about is None or about.group() not in hidden, (
                        f"{secret!r} shown with a hidden case: {text[:300]}"
                    )

    @invariant()
    def nothing_left_unchecked(self) -> None:
        if self.core is not None:
            assert self.seen == len(self.transport.sent)


def _copy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("template"))


def test_random_conversations_keep_every_promise(template: Path) -> None:
    machine = type("Machine", (Conversations,), {"template": template})
    profile = settings.default
    run_state_machine_as_test(
        machine, settings=settings(profile, max_examples=max(1, profile.max_examples // 6))
    )
