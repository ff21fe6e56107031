"""The SLA clock: it pauses while a case waits for the reporter (`needs_info`), as Zammad's
pending states do. A case's effective due time is its set due time plus the time it has waited
since the due time was last set (a date set by hand already allows for what came before).

Everything that says "overdue" uses this one rule: the scoreboard, the nudges, the digest, the
admin case list, the chat's /cases and the case card (docs/scoreboard.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from handlers.casework import OPEN, Action, Status

OPEN_VALUES = frozenset(s.value for s in OPEN)


class ClockEvent(Protocol):
    """What the rule reads of a case event (storage's rows and the core's EventView both fit)."""

    @property
    def at(self) -> datetime: ...
    @property
    def action(self) -> str: ...
    @property
    def to_status(self) -> str: ...


def waiting_time(events: Iterable[ClockEvent], start: datetime, end: datetime) -> timedelta:
    """How long in [start, end) the case waited for the reporter (status needs_info)."""
    total = timedelta(0)
    waiting_since: datetime | None = None
    for e in events:
        if e.at >= end:
            break
        if e.to_status == Status.NEEDS_INFO and waiting_since is None:
            waiting_since = e.at
        elif e.to_status != Status.NEEDS_INFO and waiting_since is not None:
            total += max(timedelta(0), e.at - max(waiting_since, start))
            waiting_since = None
    if waiting_since is not None:
        total += max(timedelta(0), end - max(waiting_since, start))
    return total


def effective_due(
    due_at: datetime | None, events: Sequence[ClockEvent], at: datetime
) -> datetime | None:
    """The due time as it stands at `at` (events oldest first)."""
    if due_at is None:
        return None
    set_at = [e.at for e in events if e.action == Action.SET_DUE and e.at <= at]
    start = set_at[-1] if set_at else datetime.min.replace(tzinfo=UTC)
    return due_at + waiting_time(events, start, at)


def overdue(
    status: str, due_at: datetime | None, events: Sequence[ClockEvent], now: datetime
) -> bool:
    """Open, and past its effective due time. The set due time is a cheap first test: the
    pauses only ever move it later."""
    if status not in OPEN_VALUES or due_at is None or due_at >= now:
        return False
    due = effective_due(due_at, events, now)
    return due is not None and due < now
