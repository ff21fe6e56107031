"""The engine's golden transcripts once more, on the in-memory Store: no database, no outbox,
and the same bytes as the SQL-backed run in test_golden.py.

The driver stands where the dispatcher stands: it keeps each conversation's state (through
JSON, as the database does), calls `Engine.step` and collects the effects. Posting the staff
card for a new report is the runtime's job; here it is drawn from the same core functions the
runtime uses, so the transcript's staff-chat lines match too.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from handlers.cards import staff_card
from handlers.context import Effect, ReportSubmitted
from handlers.engine import Engine
from handlers.formrunner import describe_media
from handlers.forms import Catalog, load_catalog
from handlers.i18n import Translations
from handlers.ports import DepartmentView, UnitView
from handlers.types import Inbound, Reply
from storage.memory import MemoryStore, as_store
from storage.memory import report_code as memory_report_code
from tests.chat import Chat
from tests.test_golden import FROZEN, GOLDEN, SCENARIOS

DEMO = Path(__file__).resolve().parent.parent / "handlers" / "data" / "demo"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STAFF_CHAT = ("test", "staff-room")


def _rows(name: str) -> list[dict[str, str]]:
    with (DEMO / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def demo_units() -> list[UnitView]:
    """The demo organisation, ordered by name as the unit picker shows it."""
    units = [UnitView(r["code"], r["name"], r["kind"], r["host_kind"]) for r in _rows("units.csv")]
    return sorted(units, key=lambda u: u.name)


def demo_departments() -> list[DepartmentView]:
    return [DepartmentView(r["code"], r["name"], r["kind"]) for r in _rows("departments.csv")]


@dataclass
class Handled:
    reply: Reply


@dataclass
class MemoryDispatcher:
    """What tests/chat.py needs of a dispatcher, over the engine and a memory store."""

    engine: Engine
    store: MemoryStore

    def __post_init__(self) -> None:
        self.states: dict[tuple[str, str], str] = {}
        self.effects: list[Effect] = []

    @asynccontextmanager
    async def run(self, channel: str, person_key: str, inbound: Inbound) -> AsyncIterator[Handled]:
        """One event at a time already: a test chat awaits each reply before the next."""
        yield Handled(await self.handle(inbound))

    async def handle(self, inbound: Inbound) -> Reply:
        key = (inbound.channel, inbound.user_id)
        state = json.loads(self.states.get(key, "{}"))
        result = await self.engine.step(state, inbound, as_store(self.store))
        self.states[key] = json.dumps(result.state)
        self.effects.extend(result.effects)
        return result.reply


@dataclass
class Host:
    dispatcher: MemoryDispatcher


async def post_staff_cards(
    chat: Chat, dispatcher: MemoryDispatcher, catalog: Catalog, translations: Translations
) -> None:
    """New reports reach the bound staff chat: the card, then the files, as the outbox does."""
    store = dispatcher.store
    t = translations(None)  # staff read the organisation's default language
    for effect in dispatcher.effects:
        if not isinstance(effect, ReportSubmitted) or not store.chats.get(STAFF_CHAT):
            continue
        case = store.reports[effect.report_id]
        items = store.attachments[case.id]
        locations = [
            (a["latitude"], a["longitude"])
            for a in items
            if a["kind"] == "location" and a.get("latitude") is not None
        ]
        reporter = await store.named_reporter(case.id)
        summary = describe_media(t, [{"kind": a["kind"]} for a in items])
        # Drawn as the runtime drew it when the report came in: later reports did not exist yet.
        similar = [h for h in await store.similar_open(case.id) if h.report_id < case.id]
        card = staff_card(t, catalog, case, reporter, summary, locations, TZ, FROZEN, similar)
        chat.transcript.append("<< [staff chat] " + card.replace("\n", "\n  "))
        for a in items:
            if a["kind"] in ("photo", "document", "voice") and a.get("ref"):
                chat.transcript.append(f"<< [staff chat] ({a['kind']}: {case.code})")
    dispatcher.effects.clear()


@pytest.mark.parametrize("channel", ["web", "zalo"])
@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_golden_transcript_in_memory(name: str, lang: str, channel: str) -> None:
    catalog = load_catalog(None)
    translations = Translations(lang)
    store = MemoryStore(demo_units(), demo_departments())
    store.add_invite("GOLDEN42", "member", "U007", 1)
    store.bind_chat("staff", *STAFF_CHAT)
    engine = Engine(catalog, translations, demo_units(), TZ)
    dispatcher = MemoryDispatcher(engine, store)
    chat = Chat(
        Host(dispatcher),  # type: ignore[arg-type]
        user_id="777",
        display_name="Hoàng Văn Bảy",
        username="hoangbay",
        channel=channel,
    )

    async def flush() -> None:
        await post_staff_cards(chat, dispatcher, catalog, translations)

    chat.flush_outbox = flush  # type: ignore[attr-defined]
    with time_machine.travel(FROZEN, tick=False):
        await SCENARIOS[name](chat)
    path = GOLDEN / (f"{name}.{lang}.txt" if channel == "web" else f"{name}.{channel}.{lang}.txt")
    assert chat.text() == path.read_text(encoding="utf-8")


def test_report_codes_are_made_as_the_sql_store_makes_them() -> None:
    from storage.newreport import report_code  # the SQL store, only to compare with

    assert all(report_code(n) == memory_report_code(n) for n in (1, 42, 12345))
