"""The organisation a simulation runs over: its size (`Scale`), and building it in the database
(units, departments, people with their roles and messengers, the staff, leaders' and department
chats, the monthly poll and situation report)."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from handlers.polldefs import PollDef, load_poll_file
from handlers.ports import Registration
from storage import admin
from storage.db import Sessions
from storage.deptimport import import_departments
from storage.orgimport import import_units, parse_units_csv
from storage.polls import import_poll
from storage.registrations import register_many
from storage.store import SqlStore

DATA = Path(__file__).resolve().parent.parent.parent / "handlers" / "data"
DEMO_UNITS = DATA / "demo" / "units.csv"
DEMO_DEPARTMENTS = DATA / "demo" / "departments.csv"
POLLS = (DATA / "polls" / "opinion-monthly.yaml", DATA / "polls" / "sitrep-monthly.yaml")
# Departments beyond the demo's seven, for the province's thirteen.
MORE_DEPARTMENTS = (
    ("SYT", "Sở Y tế"),
    ("SGDDT", "Sở Giáo dục và Đào tạo"),
    ("STNMT", "Sở Tài nguyên và Môi trường"),
    ("SXD", "Sở Xây dựng"),
    ("STC", "Sở Tài chính"),
    ("SNV", "Sở Nội vụ"),
)
STAFF_CHAT = ("telegram", "-1001000000001")
LEADERS_CHAT = ("telegram", "-1001000000002")
# Messengers of the members, by share: Telegram, Zalo (typed answers only), the web chat.
HOUSEKEEPING = ("index_reports", "sweep_files")
MEMBER_CHANNELS = (("telegram", 0.5), ("zalo", 0.35), ("web", 0.15))


@dataclass(frozen=True)
class Scale:
    """How big the simulated organisation is and how busy its month.

    `reports_per_month` counts filed reports (abandoned drafts come on top); `job_minutes` is
    how often the polls and nudges jobs run at most (the product runs them every minute and
    every 15; both work from state, so a coarser step only delays a reminder by up to that many
    minutes, and keeps runs fast)."""

    name: str
    members: int
    departments: int
    reports_per_month: int
    units: int = 113  # the first N units of the demo organisation (113: all of them)
    staff: int = 4
    leaders: int = 3
    handlers_per_department: int = 2
    hot_share: float = 0.10
    abandoned_share: float = 0.08
    job_minutes: int = 15
    # Jobs left out (housekeeping with no promise to check), and digests only in the last N days.
    skip_jobs: tuple[str, ...] = ()
    digest_days: int | None = None
    # The poll and situation report's definitions; none: the shipped files (POLLS).
    polls: tuple[PollDef, ...] = ()

    @classmethod
    def province(cls) -> Scale:
        """The issue's province: 113 units, 4,899 members, 13 departments."""
        return cls("province", members=4899, departments=13, reports_per_month=320)

    @classmethod
    def demo(cls) -> Scale:
        """The demo organisation (handlers/data/demo) with people in 25 of its units and
        its jobs every 6 hours: its 9 to 12 days of history (bot/demo.py) play in about 10 s of
        CPU, most of it the product's own work per message and the week of digests."""
        return cls(
            "demo",
            members=100,
            departments=7,
            reports_per_month=60,
            units=25,
            job_minutes=360,
            skip_jobs=HOUSEKEEPING,
            digest_days=7,
        )

    @classmethod
    def small(cls) -> Scale:
        """A few units and people, for tests: a week in a few seconds of CPU."""
        return cls(
            "small",
            members=24,
            departments=3,
            reports_per_month=40,
            units=6,
            staff=2,
            leaders=1,
            handlers_per_department=1,
            job_minutes=60,
            skip_jobs=HOUSEKEEPING,
        )


def poll_definitions(scale: Scale) -> tuple[PollDef, ...]:
    """The poll and situation report the organisation runs: the scale's own, or the shipped."""
    return scale.polls or tuple(load_poll_file(path) for path in POLLS)


@dataclass(frozen=True)
class Person:
    """Someone the simulator speaks as: their messenger, their id on it, their role."""

    person_id: int
    channel: str
    user_id: str
    role: str
    unit: str | None = None
    department: str | None = None

    @property
    def typed(self) -> bool:
        """Zalo shows no buttons: numbers are typed."""
        return self.channel in ("zalo", "zalo-oa")


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    channel: str
    chat_id: str
    handlers: tuple[Person, ...]


@dataclass
class Organisation:
    units: list[tuple[str, str, str]]  # code, kind, host kind
    departments: list[Department]
    staff: list[Person]
    leaders: list[Person]
    members: list[Person]  # everyone who may report: members, collaborators, contacts
    contacts: dict[str, list[Person]] = field(default_factory=dict)  # by unit
    collaborators: list[Person] = field(default_factory=list)

    @property
    def host_kinds(self) -> dict[str, str]:
        return {code: host for code, _kind, host in self.units}


def _department_rows(count: int) -> list[tuple[str, str, str]]:
    rows = [
        tuple(line.split(",", 2))
        for line in DEMO_DEPARTMENTS.read_text(encoding="utf-8").splitlines()[1:]
    ]
    extra = [(code, name, "external") for code, name in MORE_DEPARTMENTS]
    return [(c, n, k) for c, n, k in (rows + extra)[:count]]


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    lines = ["code,name,kind"] + [f"{c},{n},{k}" for c, n, k in rows]
    return ("\n".join(lines) + "\n").encode()


class Builder:
    """Lays out the people of the organisation, each with a messenger, then registers them all
    at once (`register`): their person ids are known only after that."""

    def __init__(self, store: SqlStore, rng: random.Random) -> None:
        self.store = store
        self.rng = rng
        self.count = 0
        self.registrations: list[Registration] = []

    def _channel(self) -> str:
        pick = self.rng.random()
        for channel, share in MEMBER_CHANNELS:
            if pick < share:
                return channel
            pick -= share
        return MEMBER_CHANNELS[-1][0]

    def person(
        self,
        role: str,
        unit: str | None,
        channel: str | None = None,
        invite: str | None = None,
        department: str | None = None,
    ) -> Person:
        """Someone to register; their `person_id` is 0 until `register` gives it."""
        self.count += 1
        channel = channel or self._channel()
        user_id = {"telegram": f"{700_000_000 + self.count}", "zalo": f"z{self.count:07d}"}.get(
            channel, f"{channel[:2]}{self.count:07d}"
        )
        self.registrations.append(
            Registration(
                channel=channel,
                external_id=user_id,
                username="",
                display_name=f"{ROLE_NAMES.get(role, 'Thành viên')} {self.count}",
                unit_code=unit,
                role=role,
                locale="vi",
                invite_code=invite,
            )
        )
        return Person(0, channel, user_id, role, unit, department)

    async def register(self, org: Organisation) -> Organisation:
        """Everyone laid out, registered in one batch; `org` with their person ids."""
        ids = await register_many(self.store.session, self.registrations)
        known = {
            (r.channel, r.external_id): pid for r, pid in zip(self.registrations, ids, strict=True)
        }

        def placed(people: list[Person]) -> list[Person]:
            return [replace(p, person_id=known[p.channel, p.user_id]) for p in people]

        return Organisation(
            org.units,
            [replace(d, handlers=tuple(placed(list(d.handlers)))) for d in org.departments],
            placed(org.staff),
            placed(org.leaders),
            placed(org.members),
            {unit: placed(people) for unit, people in org.contacts.items()},
            placed(org.collaborators),
        )


ROLE_NAMES = {
    "staff": "Cán bộ",
    "leader": "Lãnh đạo",
    "handler": "Chuyên viên",
    "secretary": "Bí thư",
    "contact": "Đầu mối",
    "collaborator": "Cộng tác viên",
}


def _units_csv(count: int) -> bytes:
    """The first `count` units of the demo organisation, parents dropped (a cut list may lose
    them)."""
    rows, errors = parse_units_csv(DEMO_UNITS.read_bytes())
    assert not errors, errors
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "name", "kind", "host_kind", "parent_code"])
    for row in rows[:count]:
        writer.writerow([row.code, row.name, row.kind, row.host_kind, ""])
    return out.getvalue().encode()


async def _units(store: SqlStore, scale: Scale) -> list[tuple[str, str, str]]:
    """The organisation's units: those already there (the demo seeded them), else imported."""
    existing = await admin.units(store.session)
    if not existing:
        imported = await import_units(store.session, _units_csv(scale.units))
        if not imported.ok:
            raise RuntimeError("; ".join(imported.errors))
        existing = await admin.units(store.session)
    by_code = {u.code: u for u in existing}
    chosen = [by_code[code] for code in spread(sorted(by_code), scale.units)]
    return [(u.code, u.kind, u.host_kind) for u in chosen]


def spread(codes: list[str], count: int) -> list[str]:
    """`count` of the sorted unit codes, evenly spaced: the demo's 25 units then come from
    agencies and enterprises alike (the file lists agencies first), so its charts show both."""
    if count >= len(codes):
        return codes
    return [codes[i * len(codes) // count] for i in range(count)]


async def _departments(builder: Builder, scale: Scale, rng: random.Random) -> list[Department]:
    """Each department has its handlers and a chat: Telegram groups and Zalo OA groups in turn
    (so staff act by tapping in some and by typing "PA-0042 5" in others)."""
    session = builder.store.session
    rows = _department_rows(scale.departments)
    result = await import_departments(session, _csv(rows))
    if not result.ok:
        raise RuntimeError("; ".join(result.errors))
    departments = []
    for n, (code, name, _kind) in enumerate(rows):
        channel = "telegram" if n % 2 == 0 else "zalo-oa"
        chat_id = f"-100200000{n:04d}" if channel == "telegram" else f"oa-group-{n:04d}"
        await admin.bind_chat(session, f"department:{code}", channel, chat_id)
        handlers = []
        for _ in range(scale.handlers_per_department):
            invite = await admin.create_invite(session, "handler", None, 1, code)
            handlers.append(builder.person("handler", None, channel, invite.code, code))
        departments.append(Department(code, name, channel, chat_id, tuple(handlers)))
    return departments


def _people(builder: Builder, org: Organisation, members: int) -> None:
    """Per unit a secretary, one or two contact points and a collaborator; the other members
    spread over the units."""
    for code, _kind, _host in org.units:
        builder.person("secretary", code)
        contacts = [builder.person("contact", code) for _ in range(builder.rng.choice((1, 2)))]
        org.contacts[code] = contacts
        collaborator = builder.person("collaborator", code)
        org.collaborators.append(collaborator)
        org.members.extend([*contacts, collaborator])
    while len(org.members) + len(org.units) < members:
        code = builder.rng.choice(org.units)[0]
        org.members.append(builder.person("member", code))


async def build_organisation(sessions: Sessions, scale: Scale, seed: int) -> Organisation:
    """Everything the month needs in the database, in one transaction."""
    rng = random.Random(seed)
    async with sessions() as session, session.begin():
        store = SqlStore(session)
        builder = Builder(store, rng)
        units = await _units(store, scale)
        departments = await _departments(builder, scale, rng)
        staff = [builder.person("staff", None, "telegram") for _ in range(scale.staff)]
        leaders = [builder.person("leader", None, "telegram") for _ in range(scale.leaders)]
        await admin.bind_chat(session, "staff", *STAFF_CHAT)
        await admin.bind_chat(session, "leaders", *LEADERS_CHAT)
        org = Organisation(units, departments, staff, leaders, [])
        _people(builder, org, scale.members)
        org = await builder.register(org)
        for defn in poll_definitions(scale):
            await import_poll(session, defn)
    return org
