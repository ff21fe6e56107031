"""Telegram adapter (python-telegram-bot 22): native updates -> Inbound; Reply -> Bot API calls.

No business rules live here: the adapter maps, downloads attachments at the edge, and renders.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder
from telegram.warnings import PTBUserWarning

from bot.channels.context import ChannelContext
from bot.channels.deferral import DeferredReplies
from bot.channels.files import IMAGE_SUFFIXES, new_attachment_path, scrub_image
from bot.channels.inflight import InFlight
from bot.channels.names import family_name_first
from bot.channels.polling import IdleBackoff, digest, start_poll, stop_poll
from bot.channels.telegram_http import AiohttpRequest
from bot.render import choice_numbers, numbered_text
from handlers.text import split_text, utf16_units
from handlers.types import ChatKind, Choice, Inbound, Media, MediaKind, Outbound, Reply
from scheduler.sender import DeliveryError

log = logging.getLogger(__name__)
# Polling is ours on purpose (see TelegramChannel), through PTB's request and error handling;
# so are the answers' calls (`TelegramChannel._call`), which need only the API's plain JSON.
warnings.filterwarnings("ignore", "Please use 'Bot[.]", PTBUserWarning)
CHANNEL = "telegram"
TEXT_LIMIT = 4096
BUTTON_LABEL_LIMIT = 60
SEND_ATTEMPTS = 4
POLL_SECONDS = 25
STOP_GRACE_SECONDS = 10.0
ALLOWED = ["message", "callback_query"]


def build_application(
    token: str, api_url: str, concurrency: int
) -> Application[Any, Any, Any, Any, Any, Any]:
    """PTB builds requests and parses answers; fetching updates is ours (see `_poll`)."""
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .concurrent_updates(concurrency)
        .request(AiohttpRequest(max(8, concurrency)))
        .updater(None)
        .build()
    )


class TelegramChannel:
    """Owns the PTB application; `start_polling`/`start_webhook` take updates in.

    Every update fetched is written to the inbox before it is acknowledged (before the next
    getUpdates with a higher offset, or before the webhook's 200) and cleared once handled, so a
    crash loses none; the restarted bot handles what is left. PTB's own Updater acknowledges
    before handling and stops for good at an update it cannot parse, so polling is done here."""

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        ctx: ChannelContext,
        commands: list[tuple[str, str]] | None = None,
    ) -> None:
        self.commands = [BotCommand(name, text[:256]) for name, text in commands or []]
        self.app = app
        self.ctx = ctx
        self.poll_seconds = POLL_SECONDS
        self._slots = asyncio.Semaphore(max(1, app.concurrent_updates))
        self._poller: asyncio.Task[None] | None = None
        self.inflight = InFlight()
        # Replies the messenger would not take (an outage) wait in the outbox, in order.
        self._deferred = DeferredReplies(
            ctx.dispatcher,
            CHANNEL,
            lambda m: {
                "kind": "text" if m.numbered else "card",
                "text": m.text,
                "choices": [[c.data, c.label] for c in m.choices],
            },
        )

    @property
    def bot(self) -> Bot:
        return self.app.bot

    # -- lifecycle -------------------------------------------------------------------------------
    async def start_polling(self) -> None:
        await self.prepare_polling()
        await self.receive()

    async def prepare_polling(self) -> None:
        """What every instance does in polling mode: it can send, but does not fetch updates."""
        await self.app.initialize()
        # Emulators and self-hosted servers may lack these: the bot works without them.
        await self._optional(self.app.bot.delete_webhook(), "deleteWebhook")
        await self._optional(self.app.bot.set_my_commands(self.commands), "setMyCommands")

    async def receive(self) -> None:
        """Start the long poll (getUpdates allows one consumer: only the leader calls this)."""
        await self._resume()
        self._poller = start_poll(self._poller, self._poll, "telegram-poll")

    async def stop_receiving(self) -> None:
        """Stop the long poll; updates already taken in are still handled."""
        await stop_poll(self._poller)
        self._poller = None

    async def start_webhook(self, url: str, secret: str) -> None:
        await self.app.initialize()
        await self._optional(self.app.bot.set_my_commands(self.commands), "setMyCommands")
        await self._resume()
        await self.app.bot.set_webhook(url, secret_token=secret or None, allowed_updates=ALLOWED)

    async def _optional(self, call: Any, name: str) -> None:
        try:
            await call
        except TelegramError as exc:
            log.warning("telegram %s failed (%s); carrying on without it", name, exc)

    async def drain(self) -> None:
        """Wait until every update taken in so far has been handled (tests, graceful stop)."""
        await self.inflight.settle()

    async def stop(self) -> None:
        self.inflight.stopping = True  # no new webhook update is taken in from here on
        await self.stop_receiving()
        await self.inflight.drain(STOP_GRACE_SECONDS)
        await self.app.shutdown()
        # After a start that failed half-way PTB shuts nothing down: close our session anyway.
        await self.app.bot.request.shutdown()

    # -- intake ----------------------------------------------------------------------------------
    async def _poll(self) -> None:
        """Long-poll forever. A batch is stored before the next call acknowledges it; a failure
        to store it leaves the offset where it was, so the batch is fetched again."""
        loop = asyncio.get_running_loop()
        idle = IdleBackoff()
        offset: int | None = None
        failures = 0
        while True:
            started = loop.time()
            try:
                raw = await self.bot.do_api_request(
                    "getUpdates",
                    api_kwargs={
                        "offset": offset,
                        "timeout": self.poll_seconds,
                        "allowed_updates": ALLOWED,
                    },
                    read_timeout=self.poll_seconds + 10,
                )
            except TelegramError as exc:
                failures += 1
                delay = _poll_backoff(failures, exc)
                reason = str(exc).replace(self.bot.token, "<token>")[:200]
                log.warning("telegram poll failed (%s); retrying in %.1fs", reason, delay)
                await asyncio.sleep(delay)
                continue
            except Exception as exc:  # never let the one poll loop end: nobody would be served
                failures += 1
                delay = min(30.0, 0.25 * 2 ** min(failures, 7))
                log.error(
                    "telegram poll: unexpected %s; retrying in %.1fs", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            updates = [
                u
                for u in (raw if isinstance(raw, list) else [])
                if isinstance(u, dict) and isinstance(u.get("update_id"), int)
            ]
            if not updates:
                await idle.after_empty(loop.time() - started, self.poll_seconds)
                continue
            idle.reset()
            keyed = [(update_key(self.bot.id, u), u) for u in updates]
            try:
                fresh = set(await self.ctx.dispatcher.inbox_store(CHANNEL, keyed))
            except Exception as exc:
                log.error("telegram: could not store fetched updates (%s)", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            offset = max(int(u["update_id"]) for u in updates) + 1
            for key, update in keyed:
                if key in fresh:  # otherwise it is in the inbox already, taken in at start-up
                    self._spawn(key, update)

    async def _resume(self) -> None:
        """Handle what was fetched before a restart and never handled."""
        waiting = await self.ctx.dispatcher.inbox_waiting(CHANNEL)
        if waiting:
            log.info("telegram: handling %d update(s) fetched before the restart", len(waiting))
        for key, raw in waiting:
            self._spawn(key, raw)

    async def feed_webhook(self, data: dict[str, Any]) -> None:
        """Store a webhook body (before our 200 acknowledges it), then handle it."""
        # While stopping: Stopping (503), so the balancer or Telegram sends it to another.
        async with self.inflight.intake():
            key = update_key(self.bot.id, data)
            if await self.ctx.dispatcher.inbox_store(CHANNEL, [(key, data)]):
                self._spawn(key, data)

    async def adopt_orphans(self, received_before: datetime) -> int:
        """The leader handles updates an instance kept and did not handle (it died: the
        inbox leaves out a live instance's rows), kept before `received_before`."""
        waiting = await self.ctx.dispatcher.inbox_waiting(CHANNEL, received_before)
        orphans = [(key, raw) for key, raw in waiting if key not in self.inflight.keys]
        for key, raw in orphans:
            self._spawn(key, raw)
        return len(orphans)

    def _spawn(self, key: str, raw: dict[str, Any]) -> None:
        """Handle in a task: tasks reach each person's FIFO lock in the order updates came."""
        self.inflight.spawn(key, self._process(key, raw), f"telegram-{key[:32]}")

    async def _process(self, key: str, raw: dict[str, Any]) -> None:
        try:
            event = Tap.of(raw) or Update.de_json(raw, self.bot)
        except Exception as exc:
            # Skipped and cleared, so it neither blocks the people after it nor comes back.
            log.warning(
                "telegram: skipped update %s, which could not be read (%s)",
                digest(raw),
                type(exc).__name__,
            )
            await self.ctx.dispatcher.inbox_done(CHANNEL, key)
            return
        try:
            await self._on_update(event, key)
        except Exception as exc:  # one bad update must never stop the others
            log.error("telegram: failed to handle update %s (%s)", digest(raw), type(exc).__name__)
        await self.ctx.dispatcher.inbox_done(CHANNEL, key)

    # -- inbound ---------------------------------------------------------------------------------
    async def _on_update(self, event: Update | Tap, key: str | None = None) -> None:
        tap: Tap | None = None
        if isinstance(event, Tap):
            tap, user_id, is_bot = event, event.user_id, event.is_bot
            to_inbound = partial(self.tap_inbound, event, key or "")
        else:
            user = event.effective_user
            if user is None or event.message is None:
                return  # edits, channel posts, membership changes: nothing to do
            user_id, is_bot = user.id, user.is_bot
            to_inbound = partial(self.to_inbound, event, key)
        if is_bot:
            return
        async with self.ctx.dispatcher.run(
            CHANNEL, str(user_id), to_inbound, gate=self._slots
        ) as handled:
            if handled is None:
                return
            await self.ctx.discard_unheld(handled.inbound)
            if handled.reply is None:
                if tap is not None:
                    await self._safe(
                        self._call("answerCallbackQuery", {"callback_query_id": tap.id})
                    )
                return
            await self.inflight.answer(self.render(handled.reply, tap))

    async def tap_inbound(self, tap: Tap, key: str) -> Inbound | None:
        """A button press as the core's event (see `Tap`); None without a chat to answer in."""
        if tap.chat_id is None:
            return None
        return Inbound(
            channel=CHANNEL,
            update_key=key,
            user_id=str(tap.user_id),
            chat_id=str(tap.chat_id),
            chat_kind=ChatKind.PRIVATE if tap.private else ChatKind.GROUP,
            display_name=family_name_first(
                _text(tap.user.get("first_name")), _text(tap.user.get("last_name"))
            ),
            username=_text(tap.user.get("username")),
            language_code=_text(tap.user.get("language_code")),
            callback=tap.data,
            callback_message_id=None if tap.message_id is None else str(tap.message_id),
        )

    async def to_inbound(self, update: Update, key: str | None = None) -> Inbound | None:
        user = update.effective_user
        chat = update.effective_chat
        if user is None or chat is None:
            return None
        # Some Bot API emulators call every chat "private": a negative id is a group regardless.
        private = chat.type == "private" and chat.id > 0
        common: dict[str, Any] = {
            "channel": CHANNEL,
            "update_key": key or update_key(self.bot.id, update.to_dict()),
            "user_id": str(user.id),
            "chat_id": str(chat.id),
            "chat_kind": ChatKind.PRIVATE if private else ChatKind.GROUP,
            "display_name": family_name_first(_text(user.first_name), _text(user.last_name)),
            "username": _text(user.username),
            "language_code": _text(user.language_code),
        }
        query = update.callback_query
        if query is not None:
            return Inbound(
                **common,
                callback=_text(query.data),
                callback_message_id=str(query.message.message_id) if query.message else None,
            )
        message = update.message
        assert message is not None
        media = await self._media(message, common["chat_kind"] == ChatKind.PRIVATE)
        replied = message.reply_to_message  # a reply to a case card names that case
        return Inbound(
            **common,
            text=_text(message.text) or _text(message.caption),
            media=media,
            reply_to=str(replied.message_id) if replied is not None else None,
        )

    async def _media(self, message: Message, download: bool) -> tuple[Media, ...]:
        if message.location is not None:
            loc = message.location
            return (Media(MediaKind.LOCATION, latitude=loc.latitude, longitude=loc.longitude),)
        if message.sticker is not None:
            return (Media(MediaKind.STICKER),)
        found: tuple[MediaKind, Any, str, str] | None = None
        if message.photo:
            found = (MediaKind.PHOTO, message.photo[-1], "image/jpeg", "")
        elif message.document is not None:
            doc = message.document
            found = (MediaKind.DOCUMENT, doc, doc.mime_type or "", doc.file_name or "")
        elif message.voice is not None:
            found = (MediaKind.VOICE, message.voice, message.voice.mime_type or "audio/ogg", "")
        elif message.video or message.animation or message.video_note or message.audio:
            return (Media(MediaKind.VIDEO if message.video else MediaKind.OTHER),)
        elif message.contact or message.poll or message.dice or message.venue or message.game:
            return (Media(MediaKind.OTHER),)
        if found is None:
            return ()
        kind, item, mime, name = found
        size = int(getattr(item, "file_size", 0) or 0)
        if size > self.ctx.max_attachment_bytes:
            return (Media(kind, mime=mime, size=size, name=name, too_large=True),)
        ref = await self._download(item.file_id, kind, name) if download else ""
        if download and not ref:  # a picture with too many pixels to open: not kept
            return (Media(kind, mime=mime, size=size, name=name, too_large=True),)
        return (Media(kind, ref=ref, mime=mime, size=size, name=name),)

    async def _download(self, file_id: str, kind: MediaKind, name: str) -> str:
        """Store the file under ATTACHMENTS_DIR with an unguessable name; returns the relative
        path, or "" for a picture too large to open (it is deleted)."""
        tg_file = await self.bot.get_file(file_id)
        suffix = Path(name or tg_file.file_path or "").suffix.lower()[:10]
        if not suffix:
            suffix = {MediaKind.PHOTO: ".jpg", MediaKind.VOICE: ".ogg"}.get(kind, ".bin")
        rel = new_attachment_path(suffix)
        target = self.ctx.attachments_dir / rel
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        await tg_file.download_to_drive(target)
        image = kind == MediaKind.PHOTO or (kind == MediaKind.DOCUMENT and suffix in IMAGE_SUFFIXES)
        if image and not await asyncio.to_thread(scrub_image, target):
            await asyncio.to_thread(target.unlink, True)
            return ""
        return rel.as_posix()

    # -- outbound --------------------------------------------------------------------------------
    async def render(self, reply: Reply, tap: Tap | None) -> None:
        if tap is not None:
            answer = reply.callback_answer
            acknowledge = self._safe(
                self._call(
                    "answerCallbackQuery",
                    {
                        "callback_query_id": tap.id,
                        "text": (answer.text or None) if answer else None,
                        "show_alert": answer.alert if answer else None,
                    },
                )
            )
            # Both go out at once: on a slow connection every sequential round trip shows.
            if reply.retire_keyboard:
                await asyncio.gather(acknowledge, self._retire_keyboard(tap, reply.selected_label))
            else:
                await acknowledge
        for i, message in enumerate(reply.messages):
            if await self._deferred.queued_behind(message.chat_id):
                await self._deferred.defer(reply.messages[i:])
                return
            try:
                await self.send(message)
            except BadRequest:
                raise  # a NetworkError too, but the outbox could not send it either
            except (RetryAfter, TimedOut, NetworkError) as exc:
                log.warning("telegram: reply not sent (%s); handed to the outbox", exc)
                await self._deferred.defer(reply.messages[i:])
                return

    async def _retire_keyboard(self, tap: Tap, selected: str | None) -> None:
        """Take the buttons off a tapped prompt so they cannot be tapped twice."""
        if tap.prompt is None:  # too old for the bot to see (or edit)
            return
        where = {"chat_id": tap.chat_id, "message_id": tap.message_id}
        if selected and tap.prompt:
            text = f"{tap.prompt}\n\n✓ {selected}"
            if len(text) <= TEXT_LIMIT:  # no reply_markup: the edit takes the buttons off
                await self._safe(self._call("editMessageText", {**where, "text": text}))
                return
        await self._safe(self._call("editMessageReplyMarkup", where))

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        """A Bot API call with plain JSON parameters (None left out), answering the API's plain
        JSON: PTB's own methods build their objects for the request and a whole `Message` from
        each edit's answer, which cost as much CPU as the call (docs/performance.md, intake).
        PTB still encodes the request and raises its errors."""
        try:
            return await self.bot.do_api_request(method, api_kwargs=params)
        except EndPointNotFound as exc:  # how do_api_request words a rejected token
            raise InvalidToken(str(exc)) from exc

    async def send(self, message: Outbound, wait_on_flood: bool = True) -> str | None:
        """Send, split at the limit with the buttons on the last part; returns its message id.

        From the outbox (`wait_on_flood=False`) a flood wait on the first part is raised, so the
        worker reschedules the row through its pacer instead of a sleep-and-resend beside it;
        later parts still wait here, so the parts already sent are not sent again."""
        chunks = split_text(numbered_text(message), TEXT_LIMIT, utf16_units)
        markup = reply_markup(message)
        sent = None
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            sent = await self._with_retry(
                lambda c=chunk, m=(markup if last else None): self._send_text(
                    message.chat_id, c, m
                ),
                wait_on_flood=wait_on_flood or i > 0,
            )
        return sent

    async def _send_text(self, chat_id: str, text: str, markup: dict[str, Any] | None) -> str:
        """sendMessage, keeping only the new message's id (see `_call`)."""
        params: dict[str, Any] = {"chat_id": chat_id, "text": text, "reply_markup": markup}
        return str((await self._call("sendMessage", params))["message_id"])

    async def edit(
        self, message_id: str, message: Outbound, wait_on_flood: bool = True
    ) -> str | None:
        """Edit a card in place; if it is gone, post it again and return the new id."""
        text = numbered_text(message)
        if len(text) > TEXT_LIMIT:
            text = text[: TEXT_LIMIT - 1] + "…"
        try:
            await self._with_retry(
                lambda: self.bot.edit_message_text(
                    text,
                    chat_id=message.chat_id,
                    message_id=int(message_id),
                    reply_markup=keyboard(message),
                ),
                wait_on_flood=wait_on_flood,
            )
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return message_id
            if "not found" in str(exc).lower() or "can't be edited" in str(exc).lower():
                return await self.send(message, wait_on_flood)
            raise
        return message_id

    async def _with_retry(self, call: Any, wait_on_flood: bool = True) -> Any:
        for attempt in range(SEND_ATTEMPTS):
            try:
                return await call()
            except RetryAfter as exc:
                if not wait_on_flood:
                    raise
                await asyncio.sleep(_seconds(exc.retry_after))
            except BadRequest:
                raise  # a subclass of NetworkError, but retrying cannot help
            except (TimedOut, NetworkError):
                if attempt == SEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        return await call()

    async def _safe(self, awaitable: Any) -> None:
        try:
            await awaitable
        except TelegramError as exc:  # "message is not modified", an expired query, …
            log.debug("ignored telegram error: %s", exc)

    # -- outbox delivery -------------------------------------------------------------------------
    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        try:
            kind = payload.get("kind", "text")
            if kind in ("text", "card", "card_edit"):
                message = Outbound(
                    chat_id,
                    payload["text"],
                    choices=tuple(
                        Choice(label, data) for data, label in payload.get("choices") or []
                    ),
                    numbered=kind == "text",
                )
                if kind == "card_edit" and payload.get("message_id"):
                    return await self.edit(str(payload["message_id"]), message, False)
                return await self.send(message, wait_on_flood=False)
            path = self.ctx.attachments_dir / payload["path"]
            caption = payload.get("caption") or None
            data = await asyncio.to_thread(path.read_bytes)
            filename = f"{caption or 'file'}{path.suffix}"
            if kind == "photo":
                sent = await self.bot.send_photo(chat_id, data, caption=caption, filename=filename)
            elif kind == "voice":
                sent = await self.bot.send_voice(chat_id, data, caption=caption, filename=filename)
            else:
                sent = await self.bot.send_document(
                    chat_id, data, caption=caption, filename=filename
                )
            return str(sent.message_id)
        except RetryAfter as exc:
            raise DeliveryError(str(exc), retry_after=_seconds(exc.retry_after)) from exc
        except Forbidden as exc:
            raise DeliveryError(str(exc), permanent=True) from exc
        except BadRequest as exc:
            raise DeliveryError(str(exc), permanent="not found" in str(exc).lower()) from exc
        except FileNotFoundError as exc:
            raise DeliveryError(f"attachment file missing: {exc.filename}", permanent=True) from exc
        except (TimedOut, NetworkError) as exc:
            raise DeliveryError(str(exc)) from exc


class Tap(NamedTuple):
    """A button press (a callback query), read straight from the update's JSON: PTB's objects
    for it (the query, the tapped prompt's whole `Message` with its keyboard) cost more CPU
    than the rest of the adapter's work on a step (docs/performance.md, intake). Messages
    still go through PTB's `Update`, which the downloads need."""

    id: str
    user_id: int
    is_bot: bool
    user: dict[str, Any]
    chat_id: int | None  # the prompt's chat; None for a prompt the update does not carry
    private: bool
    message_id: int | None
    prompt: str | None  # the prompt's text; None if the bot may no longer see it (date 0)
    data: str

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Tap | None:
        """The press in `raw`, or None for an update that is not one or that lacks what PTB
        would refuse it without (then PTB reads it, and skips it if it cannot)."""
        query = raw.get("callback_query")
        user = query.get("from") if isinstance(query, dict) else None
        if not (isinstance(query, dict) and isinstance(user, dict)):
            return None
        if not isinstance(query.get("id"), str) or type(user.get("id")) is not int:
            return None
        message = query.get("message")
        message = message if isinstance(message, dict) else {}
        chat = message.get("chat")
        chat = chat if isinstance(chat, dict) else {}
        chat_id = chat.get("id")
        if type(chat_id) is not int or type(message.get("message_id")) is not int:
            chat_id, chat, message = None, {}, {}
        seen = bool(message.get("date"))  # Telegram's mark of an inaccessible message: date 0
        return cls(
            id=query["id"],
            user_id=user["id"],
            is_bot=user.get("is_bot") is True,
            user=user,
            chat_id=chat_id,
            # Some Bot API emulators call every chat "private": a negative id is a group.
            private=chat.get("type") == "private" and chat_id is not None and chat_id > 0,
            message_id=message.get("message_id"),
            prompt=_text(message.get("text")) if seen else None,
            data=_text(query.get("data")),
        )


def update_key(bot_id: int, raw: dict[str, Any]) -> str:
    """The deduplication key of an update: bot, update id and when it happened.

    Update ids are not unique for ever: a new bot starts its own, Telegram picks them afresh
    after a week without updates, an emulator restarts them when it restarts. A replay (a
    webhook retry, an unacknowledged poll) repeats the update byte for byte, so adding the
    message's date (or the callback query's id, unique per press) tells a replay from a new
    update that happens to reuse an id, with no window during which the two could be confused."""
    message = raw.get("message")
    query = raw.get("callback_query")
    stamp: object = ""
    if isinstance(message, dict):
        stamp = message.get("date", "")
    elif isinstance(query, dict):
        stamp = query.get("id", "")
    return f"{bot_id}:{raw.get('update_id')}:{str(stamp)[:64]}"


def _text(*parts: object) -> str:
    """The string fields of an update, joined; python-telegram-bot keeps whatever JSON type a
    field came with, and a forged or buggy update must not crash the core."""
    return " ".join(p for p in parts if isinstance(p, str) and p)


def reply_markup(message: Outbound) -> dict[str, Any] | None:
    """`keyboard` (or a forced reply) as the JSON the Bot API takes: building PTB's objects
    and serialising them again was 8% of the worker's CPU in a profile of a poll round."""
    if message.choices:
        numbers = choice_numbers(message.choices)
        rows = [
            [{"text": _button_label(n, c.label), "callback_data": c.data}]
            for n, c in zip(numbers, message.choices, strict=True)
        ]
        return {"inline_keyboard": rows}
    return {"force_reply": True, "selective": False} if message.force_reply else None


def keyboard(message: Outbound) -> InlineKeyboardMarkup | None:
    if not message.choices:
        return None
    numbers = choice_numbers(message.choices)  # a case action's button shows its typed number
    rows = [
        [InlineKeyboardButton(_button_label(n, c.label), callback_data=c.data)]
        for n, c in zip(numbers, message.choices, strict=True)
    ]
    return InlineKeyboardMarkup(rows)


def _button_label(number: int, label: str) -> str:
    text = f"{number}. {label}"
    return text if len(text) <= BUTTON_LABEL_LIMIT else text[: BUTTON_LABEL_LIMIT - 1] + "…"


def _poll_backoff(failures: int, exc: TelegramError) -> float:
    if isinstance(exc, RetryAfter):
        return min(60.0, _seconds(exc.retry_after))
    if isinstance(exc, (InvalidToken, Forbidden, Conflict)):
        return 30.0  # a revoked token or another poller: no point hammering the API
    return min(30.0, 0.25 * 2 ** min(failures, 7))


def _seconds(value: Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)
