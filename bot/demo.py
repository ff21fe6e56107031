"""The demo's past weeks: the simulator (bot/simulate) at demo scale, seeded, ending now.

The simulation costs CPU for every simulated day, so the demo plays as few days as show
everything promised, whatever the day of the month: its situation report opens 9 days before
now (on the hour, by the 28th) and is due 5 days later (the shipped one: 8 days, from the 20th
to the 28th), so the round is over with units that filed late, units escalated to their
secretary and to the staff, and units that never filed; its opinion poll opened 5 days before
now and closed with its results; the leaders' chat has a week of digests.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.simulate import Scale, simulate
from bot.simulate.org import DEMO_UNITS, POLLS, spread
from bot.simulate.wire import Speaker, Wire
from handlers.casedesk import ActionFailed
from handlers.casework import Action, Actor
from handlers.polldefs import PollDef, load_poll_file
from storage import demo
from storage.models import utcnow
from storage.orgimport import parse_units_csv
from storage.store import SqlStore

log = logging.getLogger(__name__)

DEMO_SEED = 2026
# The contact points file 0.1 to 8 days after the round opens, a few 8.5 to 11 days after,
# some never (bot/simulate/plan.py): due after 5 days, opened 9 days before now, those after
# the 5th day filed late, the staff were told of units 3 days late, the last ones never filed.
SITREP_OPENED = timedelta(days=9)
SITREP_DUE_AFTER = 5  # days
POLL_OPENED = timedelta(days=5)  # its 72 hours over, its results sent


@dataclass(frozen=True)
class History:
    """The simulated weeks: from `start` (the situation report's opening), `days` long, with the
    poll and situation report's definitions dated to fit in them."""

    start: datetime
    days: int
    polls: tuple[PollDef, ...]


def demo_history(now: datetime, tz: ZoneInfo, scale: Scale) -> History:
    """The shortest history ending (within the hour) at `now` that shows a whole round of each;
    the situation report is expected from the units the simulation has people in."""
    local = now.astimezone(tz)
    rows, _errors = parse_units_csv(DEMO_UNITS.read_bytes())
    units = spread(sorted(row.code for row in rows), scale.units)  # as build_organisation does
    opens = (local - SITREP_OPENED).replace(minute=0, second=0, microsecond=0)
    opens = opens.replace(day=min(opens.day, 28))  # a monthly report opens by the 28th
    polled = local - POLL_OPENED
    defs = []
    for defn in (load_poll_file(path) for path in POLLS):
        if defn.kind == "sitrep":
            when = {
                "open_day": opens.day,
                "due_day": min(opens.day + SITREP_DUE_AFTER, 31),  # the month's last day at most
                "open_time": opens.time(),
            }
            audience = defn.audience.model_copy(update={"units": units})
            defn = defn.model_copy(update={"audience": audience})
        else:
            when = {"cron": f"0 8 {polled.day} * *"}
        defs.append(defn.model_copy(update={"schedule": defn.schedule.model_copy(update=when)}))
    start = opens.astimezone(UTC)
    # From the opening itself: a moment earlier, the previous month's round would be open.
    return History(start, math.floor((now - start) / timedelta(days=1)), tuple(defs))


async def demo_month(core: Any, now: datetime) -> str:
    """Run the demo organisation's past up to `now`; a line saying what it did. `core` is the
    host's bundle (typed loosely: only the command line may import bot.app)."""
    scale = Scale.demo()
    history = demo_history(now, core.settings.tz, scale)
    month = await simulate(
        core,
        seed=DEMO_SEED,
        scale=replace(scale, polls=history.polls),
        start=history.start,
        days=history.days,
    )
    # Two members file a report as the demo starts: staff acknowledge the first (when the weeks
    # left no case acknowledged), the second is still new.
    await report_just_filed(core, month.org.members[-2])
    await every_state(core)
    await report_just_filed(core, month.org.members[-1])
    tally = month.tally
    return (
        f"Its past {history.days} days: {tally.reports} reports ({tally.hot} hot), "
        f"{tally.poll_answers} poll answers, {tally.sitreps_filed} situation reports."
    )


# What staff do on the web admin now, when the simulated weeks happened to leave no case in one
# of these states: (the state, the action that leads there, the states it starts from, its note).
FINISHING = (
    (
        "needs_info",
        Action.ASK,
        ("assigned", "acknowledged"),
        "Đề nghị cho biết thêm địa điểm và thời gian cụ thể.",
    ),
    (
        "rejected",
        Action.REJECT,
        ("acknowledged", "assigned", "new"),
        "Nội dung không thuộc phạm vi xử lý của Đảng ủy Khối.",
    ),
    ("duplicate", Action.DUPLICATE, ("acknowledged", "assigned", "new"), ""),
    ("acknowledged", Action.ACKNOWLEDGE, ("new",), ""),
    ("reopened", Action.REOPEN, ("resolved", "closed"), ""),
)


async def every_state(core: Any) -> None:
    """Cases in every state for the newcomer to look at: staff act, through the case desk as on
    the web admin, for a state the simulation did not leave (each action checked as always)."""
    async with core.sessions() as session, session.begin():
        store = SqlStore(session)
        staff = await demo.staff_member(session)
        have = await demo.case_statuses(session)
        for status, action, sources, note in FINISHING:
            found = await demo.cases_in(session, sources, 1) if status not in have else []
            case = await store.case(found[0]) if found else None
            if case is None or staff is None:
                continue
            if action == Action.DUPLICATE:
                first = await store.case(
                    (await demo.cases_in(session, ("closed", "resolved"), 1) or [0])[0]
                )
                if first is None:
                    continue
                note = first.code
            try:
                _case, effect = await core.engine.desk.act(
                    store, core.translations("vi"), Actor(staff, "staff"), case, case.version,
                    action, utcnow(), text=note,
                )  # fmt: skip
            except ActionFailed as refused:  # the demo still starts, one state short
                log.warning("demo: no case left %s: %s", status, refused)
                continue
            await core.effects.apply(session, effect)
            have.add(status)


async def report_just_filed(core: Any, member: Any) -> None:
    """A member files a report as the demo starts, through the same steps as on their
    messenger, so a case is still new (no one has acknowledged it yet)."""
    reporter = Speaker(core, Wire(), member)
    await reporter.say("/cancel")  # a draft they left in the simulated weeks
    await reporter.say("/report")
    for _category_urgency_unit in range(3):
        await reporter.choose(0)
    await reporter.say("Đề nghị sửa lại lịch trực và bổ sung bình chữa cháy ở tầng hai.")
    await reporter.say("/skip")
    await reporter.choose(0)  # named
    await reporter.choose(0)  # Send
