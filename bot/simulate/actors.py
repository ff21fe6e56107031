"""The people of the month acting through the real engine: a reporter filing (or abandoning) a
report, staff acknowledging and assigning it, a department asking and resolving, the reporter
answering and confirming, collaborators and contact points answering the poll and the
situation report."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.simulate.context import SimCore as Core
from bot.simulate.org import LEADERS_CHAT, STAFF_CHAT, Department, Organisation, Person
from bot.simulate.plan import ANONYMITY, CasePlan
from bot.simulate.wire import CODE, SimulationError, Speaker, Wire
from handlers.casework import ACTION_NUMBERS, Action

DESCRIPTIONS = (
    "Công nhân phân xưởng {n} bị nợ lương hai tháng, có nguy cơ ngừng việc tập thể.",
    "Dư luận trong đơn vị băn khoăn về việc sắp xếp lại bộ máy, đề nghị cấp ủy thông tin rõ.",
    "Thủ tục cấp phép tại bộ phận một cửa kéo dài, người dân phải đi lại nhiều lần (vụ {n}).",
    "Công ty chậm đóng bảo hiểm xã hội cho {n} người lao động từ đầu năm.",
    "Có ý kiến phản ánh cán bộ phụ trách gây khó khăn khi giải quyết hồ sơ số {n}.",
)
ANSWER = "Dạ, việc xảy ra ở phân xưởng 2, từ tuần trước; có khoảng 30 người liên quan."
NOTE = "Đã làm việc với đơn vị; đơn vị cam kết khắc phục trong tuần."
STILL_WRONG = "Mới khắc phục được một phần, vẫn còn nhiều người chưa được giải quyết."
QUESTION = "Đồng chí cho biết thêm tên đơn vị và thời gian cụ thể?"
# After a rejection's reason, the case desk asks where the reporter may turn instead.
REDIRECT = "Ủy ban nhân dân phường nơi cư trú"


def now() -> datetime:
    return datetime.now(UTC)


async def file_report(core: Core, wire: Wire, case: CasePlan, draft_open: bool) -> None:
    """The reporter walks the report form on their messenger; an abandoned draft stops early.
    Someone who left a draft earlier is offered to continue it: they cancel it first."""
    reporter = Speaker(core, wire, case.reporter)
    if draft_open:
        await reporter.say("/cancel")
    steps = [
        lambda: reporter.say("/report"),
        lambda: reporter.choose(case.category, case.typed),
        lambda: reporter.choose(1 if case.hot else 0, case.typed),
        lambda: reporter.choose(0, case.typed),  # my unit
        lambda: reporter.say(DESCRIPTIONS[case.n % len(DESCRIPTIONS)].format(n=case.n + 1)),
        lambda: reporter.say("/skip"),
        lambda: reporter.choose(ANONYMITY.index(case.anonymity), case.typed),
        lambda: reporter.choose(0, case.typed),  # Send
    ]
    for number, step in enumerate(steps):
        if case.abandon_at_step == number:
            case.events.append("abandoned")
            return
        await step()
    found = CODE.search(reporter.reply_text())
    if found is None:
        raise SimulationError(f"report {case.n} got no code: {reporter.reply_text()!r}")
    case.code, case.filed_at = found[0], now()


def _card_data(wire: Wire, channel: str, chat_id: str, code: str, action: Action) -> str:
    for data, _label in wire.card_buttons.get((channel, chat_id, code), []):
        if f":{action.value}:" in data:
            return data
    raise SimulationError(f"{code}: no {action.value} button on its card in {chat_id}")


async def staff_act(
    core: Core, wire: Wire, staff: Person, case: CasePlan, action: Action, arg: str = ""
) -> str:
    """A staff member taps an action on the case's card in the staff chat; `arg` is the note
    or the department's name the action asks for next. Returns the answer's text."""
    assert case.code is not None
    speaker = Speaker(core, wire, staff, STAFF_CHAT[1])
    await speaker.tap(_card_data(wire, *STAFF_CHAT, case.code, action))
    if action == Action.ASSIGN:
        await speaker.choose_label(arg)
    elif arg:
        await speaker.say(arg)
    if action == Action.REJECT:
        await speaker.say(REDIRECT)
    return speaker.reply_text()


async def department_act(
    core: Core, wire: Wire, dept: Department, case: CasePlan, action: Action, note: str
) -> str:
    """A handler acts in the department's chat: taps on Telegram, types "PA-0042 5" on Zalo."""
    assert case.code is not None
    speaker = Speaker(core, wire, dept.handlers[case.n % len(dept.handlers)], dept.chat_id)
    if speaker.person.typed:
        await speaker.say(f"{case.code} {ACTION_NUMBERS[action]}")
    else:
        await speaker.tap(_card_data(wire, dept.channel, dept.chat_id, case.code, action))
    await speaker.say(note)
    return speaker.reply_text()


async def reporter_reply(core: Core, wire: Wire, case: CasePlan, action: Action) -> str:
    """The reporter answers "was it resolved?" from the buttons of the message they got:
    yes confirms, no disputes."""
    assert case.code is not None
    speaker = Speaker(core, wire, case.reporter)
    asked = [
        s.choices
        for s in wire.to(case.reporter.channel, case.reporter.user_id)
        if case.code in s.text and any(d.startswith("r:") for d, _ in s.choices)
    ]
    word = "yes" if action == Action.CONFIRM else "no"
    for n, (data, _label) in enumerate(asked[-1] if asked else ()):
        if f":{word}:" in data:
            if case.typed or speaker.person.typed:  # the number, on the message's own prompt
                await speaker.say(str(n + 1))
            else:
                await speaker.tap(data)
            if action == Action.DISPUTE:  # asked what is still wrong
                await speaker.say(STILL_WRONG)
            if case.code not in speaker.reply_text():
                raise SimulationError(
                    f"{case.code}: {action.value} not taken: {speaker.reply_text()!r}"
                )
            return speaker.reply_text()
    raise SimulationError(f"{case.code}: the reporter was never asked whether it is resolved")


async def reporter_answer(core: Core, wire: Wire, case: CasePlan, waiting: bool = True) -> str:
    """The reporter answers the question about this case: from the question's "answer" button
    where there are buttons (someone with several cases waiting answers the one asked), typed
    on a messenger without them. While the case waits for it, an answer the case did not take
    is an error, not an answer: the tally's clock must not restart on it. (Once the department
    has moved on, the late answer is just said.)"""
    assert case.code is not None
    speaker = Speaker(core, wire, case.reporter)
    if not waiting:
        await speaker.say(ANSWER)
        return speaker.reply_text()
    buttons = [
        data
        for s in wire.to(case.reporter.channel, case.reporter.user_id)
        if case.code in s.text
        for data, _label in s.choices
        if data.startswith("r:") and ":answer:" in data
    ]
    if buttons and not (case.typed or speaker.person.typed):
        await speaker.tap(buttons[-1])
    await speaker.say(ANSWER)
    if case.code not in speaker.reply_text():
        raise SimulationError(f"{case.code}: the answer was not taken: {speaker.reply_text()!r}")
    return speaker.reply_text()


def hot_alerts(wire: Wire) -> dict[str, datetime]:
    """When each case's hot alert reached the leaders' chat."""
    alerts: dict[str, datetime] = {}
    for sent in wire.to(*LEADERS_CHAT):
        if "🔥" in sent.text and (code := CODE.search(sent.text)):
            alerts.setdefault(code[0], sent.at)
    return alerts


def is_member(org: Organisation, person: Person) -> bool:
    return person in org.members


async def answer_poll(core: Core, wire: Wire, person: Person, kind: str, typed: bool) -> str:
    """A collaborator answers the opinion poll, or a contact point files the unit's situation
    report, starting from the invitation's button (or /poll where there are no buttons)."""
    speaker = Speaker(core, wire, person)
    invitation = [
        d
        for d, _ in wire.last_buttons.get((person.channel, person.user_id), [])
        if d.startswith("poll:")
    ]
    if invitation and not person.typed:
        await speaker.tap(invitation[0])
    else:
        await speaker.say("/poll")
    if kind == "sitrep":
        await speaker.say("Cán bộ, đảng viên cơ bản ổn định; một số lo lắng về sắp xếp bộ máy.")
        await speaker.choose(1, typed)  # no pressing issue
        await speaker.say("/skip" if typed else "Đề nghị tăng cường thông tin tới cơ sở.")
        return speaker.reply_text()
    await speaker.choose(person.person_id % 3, typed)  # mood
    if person.typed:  # the concerns, several numbers at once where there are no buttons
        await speaker.say("1, 3")
    else:
        await speaker.choose(0)
        await speaker.choose(2)
        await speaker.choose(len(speaker.choices()) - 1)  # Done
    await speaker.choose(2 + person.person_id % 3, typed)  # confidence, 3 to 5
    await speaker.choose(1, typed)  # no pressing incident
    if "/skip" in speaker.reply_text():  # an optional last question ("other views"): none
        await speaker.say("/skip")
    return speaker.reply_text()
