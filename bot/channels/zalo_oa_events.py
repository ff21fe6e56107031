"""Zalo Official Account webhook: what staff type in Zalo group chats, as core events.

`POST /zalo/oa/webhook` receives the OA's events. Only what can be trusted goes further:

- the `X-ZEvent-Signature` must match sha256(app id + raw body + timestamp + OA secret key),
  compared in constant time (`zalo_oa.verify_signature`);
- the event's own `timestamp` must be recent: a captured event replayed later is refused, and a
  replay within the window is dropped by the dispatcher's deduplication record (in the database,
  so it holds across instances);
- the OA's own messages (`oa_send_*`, the echoes of what we post) are ignored;
- `user_send_group_text` and `user_send_group_image` go on only from a group bound to a role
  (`grassroots chat bind staff --channel zalo-oa --chat GROUP_ID`) and from a person registered
  as staff, handler or leader whose Zalo account in the OA is linked. Anyone else is ignored
  without a reply, and logged without who they are or what they wrote. The one thing an
  unlinked member of a bound group may send is `/link CODE`, which is how a staff member's OA
  account gets linked to them in the first place.

Events are kept in the inbox before the answer (a crash loses nothing) and handled in tasks,
through `Dispatcher.run` like every channel: one person at a time, in order, deduplicated.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiohttp import web

from bot.channels.context import ChannelContext
from bot.channels.http import parse_json, read_capped
from bot.channels.inflight import InFlight, Stopping
from bot.channels.zalo_groups import CHANNEL, ZaloGroups
from bot.channels.zalo_oa import SIGNATURE_HEADER, verify_signature
from handlers.types import ChatKind, Inbound, Media, MediaKind, Reply, channel_has_buttons
from scheduler.sender import DeliveryError

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/zalo/oa/webhook"
MAX_WEBHOOK_BYTES = 256 * 1024
# How old a signed event may be. Zalo posts events at once; older ones are replays.
MAX_AGE = timedelta(minutes=5)
MAX_SKEW = timedelta(minutes=1)  # a sender's clock a little ahead of ours
GROUP_TEXT = "user_send_group_text"
GROUP_IMAGE = "user_send_group_image"
MAX_KEY_LENGTH = 120
STOP_GRACE_SECONDS = 10.0


class Roster(Protocol):
    """Who may be heard in an OA group (storage/bindings.py `OARoster`)."""

    async def may_act(self, oa_user_id: str, group_id: str) -> bool:
        """A staff member, handler or leader linked to this OA user, in a bound group."""
        ...

    async def group_bound(self, group_id: str) -> bool: ...


@dataclass(frozen=True)
class GroupEvent:
    """One user message in an OA group, as far as we use it."""

    event_name: str
    sender_id: str
    group_id: str
    message_id: str
    text: str
    timestamp: datetime | None
    reply_to: str | None = None  # the message it quotes, e.g. a case card

    @property
    def is_link(self) -> bool:
        """`/link CODE`: an unlinked staff member's way to link their OA account."""
        head, _, code = self.text.strip().partition(" ")
        return head.lower() == "/link" and bool(code.strip())


def parse_event(body: Mapping[str, Any]) -> GroupEvent | None:
    """The group message in an OA webhook body; None for anything else (echoes included)."""
    name = str(body.get("event_name") or "")
    if name not in (GROUP_TEXT, GROUP_IMAGE):
        return None
    sender = body.get("sender")
    recipient = body.get("recipient")
    message = body.get("message")
    if not (isinstance(sender, Mapping) and isinstance(message, Mapping)):
        return None
    group = ""
    if isinstance(recipient, Mapping):
        group = str(recipient.get("group_id") or recipient.get("id") or "")
    group = group or str(message.get("conversation_id") or "")
    sender_id = str(sender.get("id") or "")
    if not group or not sender_id or len(sender_id) > 64 or len(group) > 64:
        return None
    text = message.get("text")
    # A reply quotes the message it answers (`quote_msg`, as integrations in the wild read
    # it); a quoted case card names the case for a bare action number.
    quote = message.get("quote_msg")
    quoted = quote.get("msg_id") if isinstance(quote, Mapping) else None
    return GroupEvent(
        event_name=name,
        sender_id=sender_id,
        group_id=group,
        message_id=str(message.get("msg_id") or message.get("message_id") or ""),
        text=text.strip() if isinstance(text, str) else "",
        timestamp=_timestamp(body.get("timestamp")),
        reply_to=str(quoted)[:MAX_KEY_LENGTH] if quoted else None,
    )


def _timestamp(value: Any) -> datetime | None:
    """Zalo's `timestamp`: milliseconds since the epoch, as a string or a number."""
    try:
        millis = int(str(value))
    except (TypeError, ValueError):
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def event_key(event: GroupEvent, raw: bytes) -> str:
    """The deduplication key: the message id; without one, a hash of the signed body."""
    if event.message_id and len(event.message_id) <= MAX_KEY_LENGTH:
        return f"oa:{event.message_id}"
    return "oa:h:" + hashlib.sha256(raw).hexdigest()[:40]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OAGroupEvents:
    """The OA webhook route and the handling of the group messages it lets through."""

    def __init__(
        self,
        ctx: ChannelContext,
        groups: ZaloGroups,
        roster: Roster,
        app_id: str,
        oa_secret_key: str,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.ctx = ctx
        self.groups = groups
        self.roster = roster
        self.app_id = app_id
        self._secret = oa_secret_key
        self._clock = clock
        self.inflight = InFlight()

    # -- lifecycle -------------------------------------------------------------------------------
    async def resume(self) -> None:
        """Handle what was received before a restart and never handled."""
        for key, body in await self.ctx.dispatcher.inbox_waiting(CHANNEL):
            event = parse_event(body)
            if event is not None:
                self._spawn(key, event)

    async def drain(self) -> None:
        """Wait until every event received so far has been handled (tests, graceful stop)."""
        await self.inflight.settle()

    async def stop(self) -> None:
        """Let events in progress finish, for a while; an event cut short stays in the inbox."""
        await self.inflight.drain(STOP_GRACE_SECONDS)  # no new event is taken in from here on
        await self.groups.close()

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        """The outbox's sender for the channel: the groups' own (this object stands for the
        whole channel in the runner, receiving and sending)."""
        return await self.groups.deliver(chat_id, payload)

    # -- the route -------------------------------------------------------------------------------
    def route(self) -> web.AbstractRouteDef:
        return web.post(WEBHOOK_PATH, self.webhook)

    async def webhook(self, request: web.Request) -> web.Response:
        """Refuse what is not signed or not fresh (403); answer everything else 200 at once
        and handle it afterwards. While this instance stops: 503, so the balancer (or the OA's
        retry) sends the event to another instance."""
        try:
            raw = await read_capped(request, MAX_WEBHOOK_BYTES)
        except web.HTTPRequestEntityTooLarge:
            log.warning("zalo-oa webhook: refused an over-large body")
            return web.json_response({"error": "too large"}, status=413)
        try:
            body = parse_json(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            log.warning("zalo-oa webhook: refused a body that is not a JSON object")
            return web.json_response({"error": "bad request"}, status=400)
        timestamp = str(body.get("timestamp") or "")
        signature = request.headers.get(SIGNATURE_HEADER)
        if not verify_signature(self.app_id, raw, timestamp, self._secret, signature):
            log.warning("zalo-oa webhook: refused an event with a wrong or missing signature")
            return web.json_response({"error": "forbidden"}, status=403)
        if not self._fresh(_timestamp(timestamp)):
            log.warning("zalo-oa webhook: refused a signed event outside the time window")
            return web.json_response({"error": "stale"}, status=403)
        try:
            async with self.inflight.intake():
                await self._accept(body, raw)
        except Stopping:
            return web.json_response({"error": "stopping"}, status=503)
        return web.json_response({"error": 0})

    def _fresh(self, at: datetime | None) -> bool:
        now = self._clock()
        return at is not None and now - MAX_AGE <= at <= now + MAX_SKEW

    async def _accept(self, body: dict[str, Any], raw: bytes) -> None:
        name = str(body.get("event_name") or "")[:64]
        event = parse_event(body)
        if event is None:
            if not name.startswith("oa_send_"):  # our own posts echo back: nothing to say
                log.info("zalo-oa webhook: ignored an event %r", name)
            return
        if not await self._heard(event):
            return
        key = event_key(event, raw)
        try:
            fresh = set(await self.ctx.dispatcher.inbox_store(CHANNEL, [(key, body)]))
        except Exception as exc:
            log.error("zalo-oa: could not keep an event (%s); handling it now", type(exc).__name__)
            fresh = {key}
        if key in fresh:  # otherwise it is in the inbox already and handled from there
            self._spawn(key, event)

    async def _heard(self, event: GroupEvent) -> bool:
        """Whether this sender is listened to in this group (see the module's docstring)."""
        try:
            if await self.roster.may_act(event.sender_id, event.group_id):
                return True
            if event.is_link and await self.roster.group_bound(event.group_id):
                return True
        except Exception as exc:
            log.error("zalo-oa: could not check a group sender (%s)", type(exc).__name__)
            return False
        log.info("zalo-oa: ignored a group message from someone who is not registered staff")
        return False

    def _spawn(self, key: str, event: GroupEvent) -> None:
        self.inflight.spawn(key, self._handle(key, event), f"zalo-oa-{key[:24]}")

    async def adopt_orphans(self, received_before: datetime) -> int:
        """The leader handles events an instance kept and did not handle (it died: the
        inbox leaves out a live instance's rows), kept before `received_before`."""
        orphans = 0
        for key, body in await self.ctx.dispatcher.inbox_waiting(CHANNEL, received_before):
            event = parse_event(body)
            if event is not None and key not in self.inflight.keys:
                self._spawn(key, event)
                orphans += 1
        return orphans

    async def _handle(self, key: str, event: GroupEvent) -> None:
        try:
            inbound = to_inbound(event, key)
            async with self.ctx.dispatcher.run(CHANNEL, event.sender_id, inbound) as handled:
                if handled is not None and handled.reply is not None:
                    await self.inflight.answer(self._answer(event.group_id, handled.reply))
        except Exception as exc:  # one bad event must never take the webhook down
            log.error("zalo-oa: failed to handle event %s: %s", key, type(exc).__name__)
        await self.ctx.dispatcher.inbox_done(CHANNEL, key)

    async def _answer(self, group_id: str, reply: Reply) -> None:
        """The answer to a staff member's message, in the group; what the OA would not take
        now waits in the outbox."""
        payloads = [
            {"text": m.text, "choices": [[c.data, c.label] for c in m.choices], "typed": m.typed}
            for m in reply.messages
            # Only what is addressed to this group: a message for someone's private chat (a
            # revealed identity) must never be posted to everyone here.
            if m.text.strip() and m.chat_id == group_id
        ]
        for done, payload in enumerate(payloads):
            try:
                await self.groups.deliver(group_id, payload)
            except DeliveryError as exc:
                log.warning("zalo-oa: reply deferred to the outbox (%s)", exc)
                await self.ctx.dispatcher.defer(CHANNEL, group_id, payloads[done:])
                return


def to_inbound(event: GroupEvent, key: str) -> Inbound:
    """A group message as the core sees it. `/link CODE` is handled as in a private chat: the
    code links the person who sent it, whatever chat it came from (the answer still goes to
    the group, and the code is single-use)."""
    media: tuple[Media, ...] = ()
    if event.event_name == GROUP_IMAGE:
        media = (Media(MediaKind.OTHER),)  # staff photos in a group are not case material
    return Inbound(
        channel=CHANNEL,
        update_key=key,
        user_id=event.sender_id,
        chat_id=event.group_id,
        chat_kind=ChatKind.PRIVATE if event.is_link else ChatKind.GROUP,
        text=event.text,
        media=media,
        has_buttons=channel_has_buttons(CHANNEL),
        reply_to=event.reply_to,
    )


__all__ = ["WEBHOOK_PATH", "GroupEvent", "OAGroupEvents", "Roster", "event_key", "parse_event"]
