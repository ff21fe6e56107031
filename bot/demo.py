"""The demo's past weeks: the simulator (bot/simulate) at demo scale, seeded, ending now.

The simulation costs about a second of CPU per simulated day, so the demo plays only as many
days as it takes to show everything promised: from just before the last situation-report round
opened (the 20th) to three days after it was due (the 28th, 17:00), so units filed late, and
the opinion poll (the 25th to the 28th) closed with its results; at least a week of digests.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.simulate import Scale, simulate
from bot.simulate.wire import Speaker, Wire
from handlers.casedesk import ActionFailed
from handlers.casework import Action, Actor
from storage import demo
from storage.models import utcnow
from storage.store import SqlStore

log = logging.getLogger(__name__)

DEMO_SEED = 2026
ROUND_OPENS_DAY = 20  # handlers/data/polls/sitrep-monthly.yaml
AFTER_OPENING = timedelta(days=12)  # due on the 28th at 17:00, then late filings


def history_days(now: datetime, tz: ZoneInfo) -> int:
    """Whole days back to the local midnight before the last round that is over, late filings
    included."""
    local = now.astimezone(tz)
    start = local.replace(day=ROUND_OPENS_DAY - 1, hour=0, minute=0, second=0, microsecond=0)
    while local - start < AFTER_OPENING + timedelta(days=1):
        start = (start - timedelta(days=27)).replace(day=ROUND_OPENS_DAY - 1)
    return math.ceil((now - start.astimezone(UTC)) / timedelta(days=1))


async def demo_month(core: Any, now: datetime) -> str:
    """Run the demo organisation's past up to `now`; a line saying what it did. `core` is the
    host's bundle (typed loosely: only the command line may import bot.app)."""
    days = history_days(now, core.settings.tz)
    month = await simulate(
        core, seed=DEMO_SEED, scale=Scale.demo(), start=now - timedelta(days=days), days=days
    )
    await every_state(core)
    await report_just_filed(core, month.org.members[-1])
    tally = month.tally
    return (
        f"Its past {days} days: {tally.reports} reports ({tally.hot} hot), "
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
