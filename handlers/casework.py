"""Case rules: the status machine and who may do what. Pure data and functions, no I/O.

Every action is checked here on the server, whatever a button claimed: callback data only names
the case, the action and the card version it was pressed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from handlers.i18n import N_


class Status(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    NEEDS_INFO = "needs_info"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    REOPENED = "reopened"


class Action(StrEnum):
    ACKNOWLEDGE = "ack"
    ASSIGN = "assign"
    ASK = "ask"
    SET_DUE = "due"
    RESOLVE = "resolve"
    REJECT = "reject"
    DUPLICATE = "dup"
    REOPEN = "reopen"
    HAND_BACK = "handback"
    REVEAL = "reveal"
    # The reporter's own actions.
    ANSWER = "answer"
    ADD_INFO = "addinfo"
    CONFIRM = "confirm"  # "yes, it is resolved"
    DISPUTE = "dispute"  # "no, it is not"
    # The clock's.
    AUTO_CLOSE = "autoclose"


OPEN = frozenset(
    {Status.NEW, Status.ACKNOWLEDGED, Status.ASSIGNED, Status.NEEDS_INFO, Status.REOPENED}
)
WORKING = frozenset({Status.ACKNOWLEDGED, Status.ASSIGNED, Status.NEEDS_INFO, Status.REOPENED})
FINISHED = frozenset({Status.RESOLVED, Status.CLOSED, Status.REJECTED, Status.DUPLICATE})

# Where each action may start. Targets that depend on the case are computed in `target`.
ALLOWED_FROM: dict[Action, frozenset[Status]] = {
    Action.ACKNOWLEDGE: frozenset({Status.NEW, Status.REOPENED}),
    Action.ASSIGN: frozenset({Status.NEW, Status.ACKNOWLEDGED, Status.ASSIGNED, Status.REOPENED}),
    Action.ASK: WORKING - {Status.NEEDS_INFO},
    Action.SET_DUE: OPEN,
    Action.RESOLVE: WORKING,
    Action.REJECT: OPEN,
    Action.DUPLICATE: OPEN,
    Action.REOPEN: FINISHED,
    Action.HAND_BACK: frozenset({Status.ASSIGNED, Status.NEEDS_INFO}),
    Action.REVEAL: frozenset(Status),
    Action.ANSWER: frozenset({Status.NEEDS_INFO}),
    Action.ADD_INFO: OPEN,
    Action.CONFIRM: frozenset({Status.RESOLVED}),
    Action.DISPUTE: frozenset({Status.RESOLVED}),
    Action.AUTO_CLOSE: frozenset({Status.RESOLVED}),
}

# Actions that need a line of text from the actor before they can happen.
NEEDS_TEXT = frozenset(
    {Action.ASK, Action.RESOLVE, Action.REJECT, Action.DUPLICATE, Action.HAND_BACK}
)
# Changes the reporter hears about.
PUBLIC = frozenset(
    {
        Action.ACKNOWLEDGE,
        Action.ASSIGN,
        Action.ASK,
        Action.RESOLVE,
        Action.REJECT,
        Action.DUPLICATE,
        Action.REOPEN,
    }
)

STAFF_ROLES = frozenset({"staff", "admin"})
HANDLER_ROLE = "handler"
LEADER_ROLE = "leader"
# Who may use the web admin (and ask for a sign-in link with /weblogin); what each may do
# there is decided by the same rules as in chat.
WEB_ROLES = STAFF_ROLES | {HANDLER_ROLE, LEADER_ROLE}

# The staff card's buttons, in order; a department's card offers fewer.
STAFF_BUTTONS = (
    Action.ACKNOWLEDGE,
    Action.ASSIGN,
    Action.ASK,
    Action.SET_DUE,
    Action.RESOLVE,
    Action.REJECT,
    Action.DUPLICATE,
    Action.REOPEN,
)
DEPARTMENT_BUTTONS = (Action.ACKNOWLEDGE, Action.ASK, Action.RESOLVE, Action.HAND_BACK)
HANDLER_ACTIONS = frozenset(DEPARTMENT_BUTTONS)
# The number that types each action ("PA-0042 5"), the same on every card, in every chat and
# status: a number read on an older card can be refused, but never means another action.
ACTION_NUMBERS: dict[Action, int] = {
    Action.ACKNOWLEDGE: 1,
    Action.ASSIGN: 2,
    Action.ASK: 3,
    Action.SET_DUE: 4,
    Action.RESOLVE: 5,
    Action.REJECT: 6,
    Action.DUPLICATE: 7,
    Action.REOPEN: 8,
    Action.HAND_BACK: 9,
    Action.REVEAL: 10,
}


@dataclass(frozen=True)
class Actor:
    person_id: int | None
    role: str
    department_code: str | None = None
    can_reveal: bool = False
    is_reporter: bool = False


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need to know about a case."""

    status: Status
    department_code: str | None
    anonymity: str


class Refusal(Exception):
    """An action the machine or the actor's role does not allow. `reason` is a msgid."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def may_view(actor: Actor, case: CaseFacts) -> bool:
    if actor.role in STAFF_ROLES or actor.role == LEADER_ROLE or actor.is_reporter:
        return True
    # A handler whose department is gone sees nothing, not every unassigned case.
    return (
        actor.role == HANDLER_ROLE
        and actor.department_code is not None
        and actor.department_code == case.department_code
    )


def check(actor: Actor, action: Action, case: CaseFacts) -> None:
    """Raise Refusal unless this actor may do this action on this case now."""
    if case.status not in ALLOWED_FROM[action]:
        raise Refusal(N_("This action is not possible while the case is {status}."))
    if action == Action.REVEAL:
        if case.anonymity == "anonymous":
            raise Refusal(N_("Nobody can see who sent an anonymous report."))
        if case.anonymity == "confidential" and not actor.can_reveal:
            raise Refusal(N_("You are not allowed to see who sent confidential reports."))
        if not (actor.role in STAFF_ROLES or actor.role == LEADER_ROLE or actor.can_reveal):
            raise Refusal(N_("Only staff may do this."))
        return
    if action in (Action.ANSWER, Action.ADD_INFO, Action.CONFIRM, Action.DISPUTE):
        if not actor.is_reporter:
            raise Refusal(N_("Only the person who sent the report may do this."))
        return
    if action == Action.AUTO_CLOSE:
        return
    if actor.role in STAFF_ROLES:
        if action == Action.HAND_BACK:
            raise Refusal(N_("Only the department handling the case may hand it back."))
        return
    if actor.role == HANDLER_ROLE:
        if action not in HANDLER_ACTIONS:
            raise Refusal(
                N_("Departments may acknowledge, ask the reporter, resolve or hand back.")
            )
        if not case.department_code or case.department_code != actor.department_code:
            raise Refusal(N_("This case is not assigned to your department."))
        return
    raise Refusal(N_("Only staff may do this."))


def target(action: Action, case: CaseFacts, department_after: str | None = None) -> Status:
    """The status after the action; unchanged for actions that only annotate."""
    if action == Action.ACKNOWLEDGE:
        return Status.ASSIGNED if case.department_code else Status.ACKNOWLEDGED
    if action == Action.ASSIGN:
        return Status.ASSIGNED
    if action == Action.ASK:
        return Status.NEEDS_INFO
    if action == Action.ANSWER:
        return Status.ASSIGNED if case.department_code else Status.ACKNOWLEDGED
    if action == Action.RESOLVE:
        return Status.RESOLVED
    if action == Action.REJECT:
        return Status.REJECTED
    if action == Action.DUPLICATE:
        return Status.DUPLICATE
    if action in (Action.REOPEN, Action.DISPUTE):
        return Status.REOPENED
    if action == Action.HAND_BACK:
        return Status.ACKNOWLEDGED
    if action in (Action.CONFIRM, Action.AUTO_CLOSE):
        return Status.CLOSED
    return case.status


def buttons_for(case: CaseFacts, audience: str) -> list[Action]:
    """Buttons a card shows: only actions the machine allows from the current status."""
    actions = DEPARTMENT_BUTTONS if audience == "department" else STAFF_BUTTONS
    shown = [a for a in actions if case.status in ALLOWED_FROM[a]]
    if audience != "department" and case.anonymity == "confidential":
        shown.append(Action.REVEAL)
    return shown
