"""Which question a reporter's typed reply answers, when several are waiting for them.

A reporter may have a question they were asked in this chat (the state's `reporter_input`: rate,
answer, add information, what is still wrong) and cases waiting for them whose notice came
through the outbox (a staff question, "has this been resolved?"). A typed reply goes to the
newest of these prompts when it can answer it; otherwise to the only older one it can answer;
when several could take it, the reporter is asked which case it is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handlers.casework import Status
from handlers.ports import ReportView

YES = {"1", "yes", "y", "có", "co", "rồi", "roi", "đã", "da"}
NO = {"2", "no", "n", "không", "khong", "chưa", "chua"}
STARS = frozenset({"1", "2", "3", "4", "5"})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Prompt:
    """One question waiting for the reporter: asked in this chat (`what`) or by a notice."""

    case_id: int
    at: datetime
    what: str  # rate, dispute, answer, addinfo (asked here) or waiting (a notice)
    status: str = ""  # of a waiting case: needs_info or resolved


def aware(at: datetime) -> datetime:
    """SQLite hands back naive UTC times."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def asked_at(case: ReportView) -> datetime:
    """When the case's notice went out: the event that put it in the status it waits in."""
    times = [aware(e.at) for e in case.events if e.to_status == case.status]
    return max(times, default=aware(case.created_at))


def pending_prompt(pending: dict[str, Any] | None) -> Prompt | None:
    """The question asked in this chat; one saved before times were kept counts as newest."""
    if not pending or pending.get("what") == "pick":
        return None
    at = datetime.fromisoformat(pending["at"]) if pending.get("at") else datetime.max
    return Prompt(int(pending["report_id"]), aware(at), str(pending["what"]))


def prompts(pending: dict[str, Any] | None, waiting: list[ReportView]) -> list[Prompt]:
    """Every open question, newest first."""
    asked = pending_prompt(pending)
    found = [asked] if asked else []
    found += [Prompt(c.id, asked_at(c), "waiting", c.status) for c in waiting]
    return sorted(found, key=lambda p: p.at, reverse=True)


def fits(prompt: Prompt, text: str, named: frozenset[int]) -> bool:
    """Whether the reply can be an answer to this question at all; `named`: the waiting cases
    one of whose offered choices the reply names by its label."""
    folded = text.strip().lower().rstrip(".!")
    if prompt.what == "rate":
        return folded in STARS
    if prompt.what != "waiting":
        return True  # asked to type: any text, and a photo gets told to type
    if not folded:
        return False
    if prompt.status == Status.NEEDS_INFO or prompt.case_id in named:
        return True
    return folded in YES or folded in NO


def route(
    pending: dict[str, Any] | None, waiting: list[ReportView], text: str, named: frozenset[int]
) -> list[Prompt]:
    """The questions the reply goes to: one, several (ask which) or none (not an answer)."""
    found = prompts(pending, waiting)
    if not found:
        return []
    if fits(found[0], text, named):
        return found[:1]
    return [p for p in found[1:] if fits(p, text, named)]
