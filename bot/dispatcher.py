"""Runs one inbound event through the core in one transaction.

Deduplication record, conversation state, domain change and outbox rows commit together, so a
crash at any point leaves either all of them or none.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.effects import EffectApplier
from bot.locks import KeyedLocks
from handlers.engine import Engine
from handlers.i18n import Translations
from handlers.types import Inbound, Outbound, Reply
from scheduler.telemetry import NO_TELEMETRY, Telemetry, UpdateOutcome
from storage import attachments, inbox, ratelimit
from storage.conversations import (
    ConcurrentUpdate,
    PersonLock,
    StateRow,
    hold_person,
    load_conversation,
    one_writer,
    retryable,
)
from storage.db import Session, Sessions, database_busy, shared_writer
from storage.event_start import EventKeys, EventStart, end_event, start_event
from storage.outbox import enqueue
from storage.seal import keyed_digest, open_payload, seal_payload, shared_secret
from storage.store import SqlStore

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 4
ToInbound = Callable[[], Awaitable[Inbound | None]]


@dataclass(frozen=True)
class Handled:
    """An event the core has handled, and its answer (None for a replay, handled before)."""

    inbound: Inbound
    reply: Reply | None


class Dispatcher:
    def __init__(
        self,
        sessions: Sessions,
        engine: Engine,
        translations: Translations,
        effects: EffectApplier,
        on_commit: Callable[[], None] = lambda: None,
        person_lock: PersonLock = "advisory",
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.sessions = sessions
        # Across instances (PostgreSQL) a person is also held in the database, for the length
        # of the event's transaction; in this process the KeyedLocks keep waiters off the pool.
        self.person_lock = person_lock
        self.engine = engine
        self.translations = translations
        self.effects = effects
        self.on_commit = on_commit
        self.telemetry = telemetry
        self.locks = KeyedLocks()
        # This instance's number (storage/liveness.py), recorded on the inbox rows it keeps;
        # set by the runner on PostgreSQL, None on SQLite.
        self.instance: int | None = None
        # Inbox keys the handling transaction already cleared, until the adapter's `inbox_done`
        # (which always follows) takes them out again: bounded by the events in progress.
        self._cleared: set[tuple[str, str]] = set()
        # SQLite has one writer, taken at an event's first statement: events queue for it here.
        # Shared with the delivery worker through the session factory (storage/db.py).
        self._writer = shared_writer(sessions) or (asyncio.Lock() if one_writer(sessions) else None)
        self.flood = self.guard("flood", 30, 10.0)

    @asynccontextmanager
    async def run(
        self,
        channel: str,
        person_key: str,
        to_inbound: Inbound | ToInbound,
        gate: AbstractAsyncContextManager[Any] | None = None,
    ) -> AsyncIterator[Handled | None]:
        """The adapters' one way in. Holds this person's conversation, so their events run one
        at a time and in the order they came; inside it maps the native event (`to_inbound`: a
        download at the edge keeps that order too; None means nothing to handle), handles it,
        and keeps holding while the adapter answers, so answers go out in order as well.
        `gate` (an adapter's own cap on events in progress) is taken after the person's lock,
        so people waiting for their turn do not fill it."""
        async with self.locks.hold(f"{channel}:{person_key}"), gate or nullcontext():
            inbound = to_inbound if isinstance(to_inbound, Inbound) else await to_inbound()
            if inbound is None:
                yield None
                return
            handling = asyncio.ensure_future(self.handle(inbound))
            try:
                reply = await asyncio.shield(handling)
            except asyncio.CancelledError:
                # A stop cut in while the event was in hand: its transaction may have
                # committed, and a replay would then answer nothing. Finish it, let the
                # adapter answer, and only then end as asked.
                yield Handled(inbound, await handling)
                raise
            yield Handled(inbound, reply)

    async def handle(self, inbound: Inbound) -> Reply | None:
        """The reply to send, or None for an update already processed (a replay)."""
        started = time.perf_counter()
        reply, outcome = await self._handle(inbound)
        self.telemetry.update_handled(inbound.channel, outcome, time.perf_counter() - started)
        return reply

    async def _handle(self, inbound: Inbound) -> tuple[Reply | None, UpdateOutcome]:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await self._once(inbound)
            except ConcurrentUpdate:
                log.info("conversation changed concurrently; retrying update %s", _tag(inbound))
                await asyncio.sleep(0.01 * attempt)
            except Exception as exc:
                if not (database_busy(exc) or retryable(exc)) or attempt == MAX_ATTEMPTS:
                    # Never let one bad update take the process down; the answers so far are
                    # kept because the transaction rolled back to the last good state.
                    log.exception(
                        "failed to handle update %s on %s", _tag(inbound), inbound.channel
                    )
                    return self._apology(inbound), "error"
                # SQLite's one writer was taken for longer than its busy timeout, under a burst
                # (or PostgreSQL chose this event as a deadlock's victim): the transaction
                # rolled back whole, so trying again loses and repeats nothing.
                log.warning("database busy; retrying update %s", _tag(inbound))
                await asyncio.sleep(0.2 * attempt)
        return self._apology(inbound), "error"

    async def _once(self, inbound: Inbound) -> tuple[Reply | None, UpdateOutcome]:
        key = (inbound.channel, inbound.update_key)
        async with self._write_turn(), self.sessions() as session, session.begin():
            # First the person, then the deduplication key: an instance handling the same
            # update (or this person's previous one) elsewhere is waited for, then seen.
            await hold_person(session, inbound.channel, inbound.user_id, self.person_lock)
            # The update leaves the inbox in the transaction that handles it (no second write
            # transaction per update for `inbox_done`), is counted in the person's rate window
            # and claimed, and the conversation read: on SQLite in one trip to its thread.
            event = EventKeys(
                *key,
                inbound.user_id,
                self.flood.counted(f"{inbound.channel}:{inbound.user_id}"),
                timedelta(seconds=self.flood.window),
                self.flood.limit,
                load=self.person_lock != "row",
            )
            start = await start_event(session, event)
            reply, outcome, effects = await self._step(session, inbound, start)
        if start.cleared:
            self._cleared.add(key)
        if effects:
            self.on_commit()
        return reply, outcome

    async def _step(
        self, session: Session, inbound: Inbound, start: EventStart
    ) -> tuple[Reply | None, UpdateOutcome, bool]:
        """The event inside its transaction: (reply, outcome, whether it queued effects)."""
        # Counted in the event's own transaction, under the person's lock: one upsert,
        # and no second commit on the hot path.
        verdict = self.flood.verdict(start.hits)
        if verdict is not None:
            return self._flooded(inbound, verdict), "throttled", False
        if not start.claimed:
            log.info("update %s on %s already handled; dropped", _tag(inbound), inbound.channel)
            return None, "duplicate", False
        row, state, store = await self._load(session, inbound, start)
        result = await self.engine.step(state, inbound, store)
        for effect in result.effects:
            await self.effects.apply(session, effect)
        if result.state != state or row is None:
            # Last, so that on SQLite the commit goes with it in one trip to the database.
            conversation = (inbound.channel, inbound.user_id, inbound.chat_id)
            await end_event(session, row, conversation, result.state, start.trip)
        return result.reply, "ok", bool(result.effects)

    async def _load(
        self, session: Session, inbound: Inbound, start: EventStart
    ) -> tuple[StateRow | None, dict[str, Any], SqlStore]:
        """The conversation, and a store that already knows who is talking (read by
        `start_event`), except where the conversation row is locked (PostgreSQL, "row")."""
        channel, user_id = inbound.channel, inbound.user_id
        if self.person_lock == "row":
            row, state = await load_conversation(session, channel, user_id, for_update=True)
            return row, state, SqlStore(session)
        return start.row, start.state, SqlStore(session, {(channel, user_id): start.person})

    def _write_turn(self) -> AbstractAsyncContextManager[Any]:
        return self._writer or nullcontext()

    def guard(self, name: str, limit: int, window: float) -> FloodGuard:
        """A budget counted in this database, so shared by every instance (pages, uploads)."""
        return FloodGuard(self.sessions, name, limit, window)

    # -- the inbox: what a channel fetched is kept until it is handled ---------------------------
    async def inbox_store(
        self, channel: str, updates: list[tuple[str, dict[str, Any]]]
    ) -> list[str]:
        """Keep fetched updates before they are acknowledged; returns the keys that are new."""
        async with self._write_turn(), self.sessions() as session, session.begin():
            # Sealed: until handled it holds who wrote what, perhaps a hidden reporter's words.
            sealed = [(key, seal_payload(session, raw)) for key, raw in updates]
            return await inbox.store(session, channel, sealed, self.instance)

    async def inbox_waiting(
        self, channel: str, received_before: datetime | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        opened = []
        async with self.sessions() as session:
            for key, raw in await inbox.waiting(session, channel, received_before):
                try:
                    opened.append((key, open_payload(session, raw)))
                except Exception as exc:  # sealed under a key this run does not hold
                    log.error(
                        "inbox: cannot open a kept update (%s); left for later", type(exc).__name__
                    )
        return opened

    async def inbox_done(self, channel: str, key: str) -> None:
        """Forget a handled update. If this fails it is handled again after a restart, where
        the deduplication record makes it a no-op."""
        if (channel, key) in self._cleared:
            self._cleared.discard((channel, key))  # cleared with the event's own commit
            return
        try:
            async with self._write_turn(), self.sessions() as session, session.begin():
                await inbox.done(session, channel, key)
        except Exception as exc:
            log.warning("could not clear a handled update from the inbox: %s", type(exc).__name__)

    # -- replies that could not be sent -------------------------------------------------------------
    async def defer(self, channel: str, chat_id: str, payloads: list[dict[str, Any]]) -> None:
        """Hand replies the messenger would not take to the outbox, which retries them after the
        outage, in order with everything else queued for that chat."""
        async with self.sessions() as session, session.begin():
            for payload in payloads:
                # Sealed: a reply can carry a hidden reporter's report code next to their chat.
                sealed = seal_payload(session, payload)
                await enqueue(session, f"reply:{uuid.uuid4().hex}", channel, chat_id, sealed)
        self.on_commit()

    async def queued_for(self, channel: str, chat_id: str) -> bool:
        """Whether the outbox still holds messages to this chat (a reply must not overtake them)."""
        async with self.sessions() as session:
            return await inbox.queued_for(session, channel, chat_id) > 0

    # -- received files --------------------------------------------------------------------------
    async def unheld_files(self, refs: list[str], conversation: tuple[str, str]) -> list[str]:
        """Of the files just received in `conversation` (channel, user id), those neither a
        draft nor a report holds: the core refused them, and the adapter deletes them."""
        async with self.sessions() as session:
            return await attachments.unheld(session, refs, conversation)

    def _flooded(self, inbound: Inbound, verdict: str) -> Reply:
        """One person flooding us must not hold up everyone else or fill the database: the
        first refused event of a burst is answered, the rest dropped quietly."""
        if verdict != "first":
            return Reply()
        t = self.translations(None)
        text = t("Too many messages at once. Please wait a moment, then send your answer again.")
        return Reply([Outbound(inbound.chat_id, text)])

    def _apology(self, inbound: Inbound) -> Reply:
        t = self.translations(None)
        text = t(
            "Sorry, something went wrong on our side. Your answers so far are kept: please try again in a moment."
        )
        return Reply(messages=[Outbound(inbound.chat_id, text)])


def _tag(inbound: Inbound) -> str:
    """A short tag to find an update in the logs; web keys embed a session, so hash them all."""
    return hashlib.sha256(f"{inbound.channel}:{inbound.update_key}".encode()).hexdigest()[:12]


class FloodGuard:
    """At most `limit` events per key (a person, an address) in a window of `window` seconds;
    beyond that they are refused, with one polite message per burst. Counted in the database
    (storage.ratelimit.bump: one row per key, which expires), so every instance shares the
    counts and a restart forgives no one."""

    def __init__(self, sessions: Sessions, name: str, limit: int = 30, window: float = 10.0):
        self.sessions = sessions
        self.name = name
        self.limit = limit
        self.window = window
        self._secret: tuple[object, bytes | None] = (object(), None)  # (sealer, its secret)

    async def check(self, key: str) -> str | None:
        """None to go ahead; "first" for the first refused event of a burst; "more" after."""
        async with self.sessions() as session, session.begin():
            return await self.count(session, key)

    async def count(self, session: Session, key: str) -> str | None:
        """`check`, inside a transaction the caller holds."""
        hits = await ratelimit.bump(session, self.counted(key), timedelta(seconds=self.window))
        return self.verdict(hits)

    def counted(self, key: str) -> str:
        """The row's key for `key`."""
        # Keys name people (a user id, an address): the table keeps only a keyed digest, so a
        # dump cannot tie a burst of activity to a hidden report's time. The secret is read
        # here, not at construction, as the seal key is installed after the dispatcher is built.
        return f"{self.name}:{keyed_digest(self._key_secret(), key)}"

    def verdict(self, hits: int) -> str | None:
        """None within the limit; "first" for the first refused event of a burst; "more" after."""
        if hits <= self.limit:
            return None
        return "first" if hits == self.limit + 1 else "more"

    def _key_secret(self) -> bytes | None:
        """Derived once per seal key, not per event (a throwaway session and an HKDF each)."""
        sealer = (self.sessions.kw.get("info") or {}).get("sealer")
        if self._secret[0] is not sealer:
            self._secret = (sealer, shared_secret(self.sessions, "grassroots rate window"))
        return self._secret[1]
