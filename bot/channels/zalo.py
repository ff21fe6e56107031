"""Zalo Bot platform adapter: Zalo events -> Inbound; Reply and outbox payloads -> Zalo sends.

No business rules live here: the adapter maps, downloads photos at the edge, and renders. Zalo
has no buttons, no message edits and no groups, so every choice goes out numbered in the text
(the core accepts a typed number everywhere) and a card edit is posted as a new message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web

from bot.channels.context import ChannelContext
from bot.channels.deferral import DeferredReplies
from bot.channels.files import CHUNK, new_attachment_path, save_capped, scrub_image
from bot.channels.http import parse_json, read_capped
from bot.channels.inflight import InFlight, Stopping
from bot.channels.polling import IdleBackoff, start_poll, stop_poll
from bot.channels.zalo_client import (
    EVENT_IMAGE,
    EVENT_STICKER,
    EVENT_TEXT,
    SECRET_HEADER,
    ZaloBotClient,
    ZaloError,
    ZaloEvent,
    ZaloRateLimited,
    parse_update,
    secret_ok,
    split_message,
    unwrap,
)
from bot.render import payload_message, typed_text
from handlers.text import labelled
from handlers.types import ChatKind, Inbound, Media, MediaKind, Reply, channel_has_buttons
from scheduler.sender import DeliveryError

log = logging.getLogger(__name__)
CHANNEL = "zalo"
HAS_BUTTONS = channel_has_buttons(CHANNEL)  # False: the Bot platform shows text only
WEBHOOK_PATH = "/zalo/webhook"
POLL_SECONDS = 25
MAX_WEBHOOK_BYTES = 1024 * 1024
SEND_ATTEMPTS = 3
DOWNLOAD_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0
MAX_KEY_LENGTH = 120  # the dedup column holds 128
_IMAGE_SUFFIXES = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
}
_SUFFIX_RE = re.compile(r"^\.[a-z0-9]{1,5}$")

T = TypeVar("T")


class DownloadFailed(Exception):
    """The photo a member sent could not be fetched from Zalo's CDN."""


class ZaloChannel:
    """One Zalo bot: a long-poll loop or a webhook route in, ``send_message`` out.

    Every event is handled in its own task, inside the person's conversation lock, so a slow
    handler never holds up other people while one person's messages still run in order (tasks
    reach the FIFO lock in the order the events arrived).
    """

    CHANNEL = CHANNEL

    def __init__(
        self,
        client: ZaloBotClient,
        ctx: ChannelContext,
    ) -> None:
        self.client = client
        self.ctx = ctx
        self.public_url = ctx.public_url.rstrip("/")
        self.poll_seconds = POLL_SECONDS
        self._poller: asyncio.Task[None] | None = None
        # Strong references: the event loop keeps only weak ones to running tasks.
        self.inflight = InFlight()
        self._http: aiohttp.ClientSession | None = None
        # Replies the messenger would not take (an outage) wait in the outbox, in order.
        self._deferred = DeferredReplies(
            ctx.dispatcher,
            CHANNEL,
            lambda m: {
                "text": m.text,
                "choices": [[c.data, c.label] for c in m.choices],
                "typed": m.typed,
            },
        )

    # -- lifecycle -------------------------------------------------------------------------------
    async def start_polling(self) -> None:
        """Drop any webhook (Zalo refuses getUpdates while one is set), then poll in the background."""
        await self.prepare_polling()
        await self.receive()

    async def prepare_polling(self) -> None:
        try:
            await self.client.delete_webhook()
        except ZaloError as exc:
            log.warning("zalo: could not delete the webhook before polling: %s", exc)

    async def receive(self) -> None:
        """Start the long poll (getUpdates allows one consumer: only the leader calls this)."""
        await self._resume()
        self._poller = start_poll(self._poller, self._poll, "zalo-poll")

    async def stop_receiving(self) -> None:
        """Stop the long poll; events already taken in are still handled."""
        await stop_poll(self._poller)
        self._poller = None

    async def start_webhook(self, url: str, secret: str) -> None:
        """Register ``url`` with Zalo; it will send ``secret`` in ``X-Bot-Api-Secret-Token``."""
        await self._resume()
        await self.client.set_webhook(url, secret)

    async def drain(self) -> None:
        """Wait until every event received so far has been handled (tests, graceful stop)."""
        await self.inflight.settle()

    async def stop(self) -> None:
        """Stop polling, let in-flight events finish (for a while), then close the connections."""
        self.inflight.stopping = True  # no new webhook event is taken in from here on
        await self.stop_receiving()
        await self.inflight.drain(STOP_GRACE_SECONDS)
        await self.client.close()
        if self._http is not None and not self._http.closed:
            await self._http.close()
        self._http = None

    async def _poll(self) -> None:
        """Long-poll forever. Errors are logged (the client redacts the token) and retried with a
        short backoff; a bad update is dropped by ``_accept``, never allowed to end the loop."""
        loop = asyncio.get_running_loop()
        idle = IdleBackoff()
        failures = 0
        while True:
            started = loop.time()
            try:
                updates = await self.client.get_updates(timeout=self.poll_seconds)
            except asyncio.CancelledError:
                raise
            except ZaloError as exc:
                failures += 1
                delay = _backoff(failures, exc)
                log.warning("zalo poll failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            except Exception as exc:
                failures += 1
                delay = _backoff(failures, None)
                reason = self.client.redact(f"{type(exc).__name__}: {exc}")
                log.error("zalo poll: unexpected error (%s); retrying in %.1fs", reason, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if not updates:
                await idle.after_empty(loop.time() - started, self.poll_seconds)
                continue
            idle.reset()
            await self._accept(updates, "poll")

    # -- webhook ---------------------------------------------------------------------------------
    def webhook_route(self, secret: str) -> web.AbstractRouteDef:
        """``POST /zalo/webhook``. After the secret check it answers 200 at once (Zalo disables
        webhooks that keep failing) and handles the event afterwards; only while this instance
        stops does it answer 503, so the event goes to another instance."""

        async def handler(request: web.Request) -> web.Response:
            if not secret_ok(secret, request.headers.get(SECRET_HEADER)):
                log.warning("zalo webhook: wrong or missing secret token from %s", request.remote)
                return web.json_response({"ok": False, "error": "forbidden"}, status=403)
            try:
                raw = await read_capped(request, MAX_WEBHOOK_BYTES)
            except web.HTTPRequestEntityTooLarge:
                log.warning("zalo webhook: ignored an over-large body")
                return web.json_response({"ok": True})
            try:
                body = parse_json(raw)
            except ValueError:
                log.warning("zalo webhook: ignored a body that is not JSON (%d bytes)", len(raw))
                return web.json_response({"ok": True})
            try:
                async with self.inflight.intake():
                    await self._accept([body], "webhook")
            except Stopping:  # refused: the balancer (or Zalo's retry) sends it to another
                return web.json_response({"ok": False, "error": "stopping"}, status=503)
            return web.json_response({"ok": True})

        return web.post(WEBHOOK_PATH, handler)

    # -- inbound ---------------------------------------------------------------------------------
    async def _accept(self, bodies: list[Any], source: str) -> None:
        """Parse (cheap), keep in the inbox, then handle each in a task. Logs never carry
        message content."""
        taken: list[tuple[str, dict[str, Any]]] = []
        for body in bodies:
            try:
                event = parse_update(body)
            except Exception as exc:  # parse_update never raises; this is belt and braces
                log.error("zalo %s: dropped an update (%s)", source, type(exc).__name__)
                continue
            if event is None:
                keys = sorted(body)[:10] if isinstance(body, Mapping) else type(body).__name__
                log.warning(
                    "zalo %s: ignored an update that is not a user message: %s", source, keys
                )
                continue
            if event.is_bot:
                continue
            if not event.is_known:
                log.warning(
                    "zalo %s: unknown event %r; answering it as unsupported content",
                    source,
                    event.event_name[:64],
                )
            taken.append((update_key(event, body), dict(body)))
        if not taken:
            return
        try:
            fresh = set(await self.ctx.dispatcher.inbox_store(CHANNEL, taken))
        except Exception as exc:
            # Zalo will not send these again: handle them now rather than lose them.
            log.error("zalo %s: could not store updates (%s)", source, type(exc).__name__)
            fresh = {key for key, _ in taken}
        for key, body in taken:
            if key in fresh:  # otherwise it is in the inbox already, taken in at start-up
                self._spawn(key, body)

    def _spawn(self, key: str, body: dict[str, Any]) -> None:
        event = parse_update(body)
        if event is None:
            return
        self.inflight.spawn(key, self._handle(event, key), f"zalo-{key[:24]}")

    async def adopt_orphans(self, received_before: datetime) -> int:
        """The leader handles events an instance kept and did not handle (it died: the
        inbox leaves out a live instance's rows), kept before `received_before`."""
        waiting = await self.ctx.dispatcher.inbox_waiting(CHANNEL, received_before)
        orphans = [(key, body) for key, body in waiting if key not in self.inflight.keys]
        for key, body in orphans:
            self._spawn(key, body)
        return len(orphans)

    async def _resume(self) -> None:
        """Handle what was received before a restart and never handled."""
        waiting = await self.ctx.dispatcher.inbox_waiting(CHANNEL)
        if waiting:
            log.info("zalo: handling %d update(s) received before the restart", len(waiting))
        for key, body in waiting:
            self._spawn(key, body)

    async def _handle(self, event: ZaloEvent, key: str) -> None:
        try:
            async with self.ctx.dispatcher.run(
                CHANNEL, event.user_id, partial(self._inbound_or_apology, event, key)
            ) as handled:
                if handled is not None:
                    # Refused, or a replay whose first copy is already stored: not kept.
                    await self.ctx.discard_unheld(handled.inbound)
                    if handled.reply is not None:
                        await self._answer(handled.reply, event.chat_id)
        except Exception as exc:  # one bad event must never take the loop or the webhook down
            reason = self.client.redact(f"{type(exc).__name__}: {exc}")
            log.error("zalo: failed to handle update %s: %s", key, reason)
        # Not reached when cancelled at a stop: the update stays in the inbox for the next start.
        await self.ctx.dispatcher.inbox_done(CHANNEL, key)

    async def _answer(self, reply: Reply, chat_id: str) -> None:
        """Committed: the answer goes out even if a stop cancels the event's task now."""
        await self.inflight.answer(self.render(reply, chat_id))

    async def _inbound_or_apology(self, event: ZaloEvent, key: str) -> Inbound | None:
        """The event mapped; None, after an apology, when its photo could not be fetched (not
        claimed either: a redelivery of this event is handled afresh)."""
        try:
            return await self.to_inbound(event, key)
        except DownloadFailed as exc:
            log.warning("zalo: photo download failed for update %s: %s", key, exc)
            await self._send_with_retry(event.chat_id, self._apology())
            return None

    async def to_inbound(self, event: ZaloEvent, key: str | None = None) -> Inbound:
        """Map a Zalo event; the photo of an image event is downloaded here, at the edge."""
        media: tuple[Media, ...] = ()
        text = event.text
        if event.event_name == EVENT_IMAGE and event.photo_url:
            media = (await self._download_photo(event.photo_url),)
        elif event.event_name == EVENT_STICKER:
            media, text = (Media(MediaKind.STICKER),), ""
        elif event.event_name != EVENT_TEXT:
            # Unsupported content (voice, files, protected users) and events we do not know.
            media, text = (Media(MediaKind.OTHER),), ""
        return Inbound(
            channel=CHANNEL,
            update_key=key or event.message_id,
            user_id=event.user_id,
            chat_id=event.chat_id,
            # The Bot platform has only private chats; anything else must never run a form.
            chat_kind=ChatKind.PRIVATE if event.chat_type.upper() == "PRIVATE" else ChatKind.GROUP,
            text=text,
            media=media,
            display_name=event.display_name,
            has_buttons=HAS_BUTTONS,
        )

    async def _download_photo(self, url: str) -> Media:
        """Store the photo under ATTACHMENTS_DIR as ``YYYY/MM/<uuid>.<ext>``; stop reading past
        the size limit and report ``too_large`` instead."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise DownloadFailed("not an http(s) URL")
        target: Path | None = None
        size = 0
        try:
            async with self._session().get(
                url, timeout=aiohttp.ClientTimeout(total=DOWNLOAD_SECONDS)
            ) as resp:
                if resp.status != 200:
                    raise DownloadFailed(f"HTTP {resp.status}")
                mime = (resp.content_type or "").lower()
                declared = resp.content_length or 0
                if declared > self.ctx.max_attachment_bytes:
                    return Media(MediaKind.PHOTO, mime=mime, size=declared, too_large=True)
                rel = new_attachment_path(_suffix(mime, url))
                target = self.ctx.attachments_dir / rel
                size = await save_capped(
                    target, lambda: resp.content.read(CHUNK), self.ctx.max_attachment_bytes
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if target is not None:
                await asyncio.to_thread(target.unlink, True)
            raise DownloadFailed(type(exc).__name__) from None
        if size > self.ctx.max_attachment_bytes:
            return Media(MediaKind.PHOTO, mime=mime, size=size, too_large=True)
        if not await asyncio.to_thread(scrub_image, target):  # too many pixels to open
            await asyncio.to_thread(target.unlink, True)
            return Media(MediaKind.PHOTO, mime=mime, size=size, too_large=True)
        return Media(MediaKind.PHOTO, ref=rel.as_posix(), mime=mime or "image/jpeg", size=size)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    def _apology(self) -> str:
        t = self.ctx.translations(None)
        return t(
            "Sorry, something went wrong on our side. Your answers so far are kept: please try again in a moment."
        )

    # -- outbound --------------------------------------------------------------------------------
    async def render(self, reply: Reply, chat_id: str) -> None:
        """Send a reply in order. Choices are numbered in the text; toasts become messages."""
        if reply.callback_answer is not None and reply.callback_answer.text.strip():
            await self._send_with_retry(chat_id, reply.callback_answer.text)
        for i, message in enumerate(reply.messages):
            if await self._deferred.queued_behind(message.chat_id):
                await self._deferred.defer(reply.messages[i:])
                return
            text = typed_text(message)
            if not text.strip():
                continue
            try:
                await self._send_with_retry(message.chat_id, text)
            except ZaloError as exc:
                if exc.permanent:
                    raise
                log.warning("zalo: reply not sent (%s); handed to the outbox", exc)
                await self._deferred.defer(reply.messages[i:])
                return

    async def _send_with_retry(self, chat_id: str, text: str) -> str | None:
        """Send chunk by chunk, retrying only the chunk that failed, so a hiccup never repeats
        what the person already read."""
        message_id: str | None = None
        for chunk in split_message(text):
            results = await _retrying(partial(self.client.send_message, chat_id, chunk))
            message_id = _last_id(results) or message_id
        return message_id

    # -- outbox delivery -------------------------------------------------------------------------
    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        """Send one outbox payload. Errors become ``DeliveryError`` for the worker to retry or
        record; nothing is retried here, so a rate limit is honoured by the outbox's schedule."""
        try:
            kind = payload.get("kind", "text")
            if kind in ("text", "card", "card_edit"):
                # Zalo cannot edit: an edited card is posted again as a new message.
                text = typed_text(payload_message(chat_id, payload))
                return _last_id(await self.client.send_message(chat_id, text))
            return await self._deliver_file(chat_id, str(kind), payload)
        except ZaloRateLimited as exc:
            raise DeliveryError(str(exc), retry_after=exc.retry_after) from exc
        except ZaloError as exc:
            # 401/403 and bad requests are permanent; 5xx, timeouts and network errors are not.
            raise DeliveryError(str(exc), permanent=exc.permanent) from exc

    async def _deliver_file(self, chat_id: str, kind: str, payload: dict[str, Any]) -> str | None:
        """Zalo takes photos by URL only: link to our ``/files/`` route when PUBLIC_URL is set,
        otherwise send the caption with a note that a file is attached (seen in the web admin)."""
        rel = str(payload.get("path") or "")
        caption = str(payload.get("caption") or "").strip()
        path = self._attachment(rel)
        if not await asyncio.to_thread(path.is_file):
            raise DeliveryError(f"attachment file missing: {rel}", permanent=True)
        if self.public_url:
            url = f"{self.public_url}/files/{quote(rel)}"
            if kind == "photo":
                result = await self.client.send_photo(chat_id, url, caption or None)
                return _last_id([result])
            text = f"{caption}\n📎 {url}" if caption else f"📎 {url}"
        else:
            note = f"📎 {labelled(self._t('Attachments'), self._file_count(kind))}"
            text = f"{caption}\n{note}" if caption else note
        return _last_id(await self.client.send_message(chat_id, text))

    def _attachment(self, rel: str) -> Path:
        """The stored file for a payload path; refuses anything that leaves ATTACHMENTS_DIR."""
        pure = PurePosixPath(rel)
        if not rel or pure.is_absolute() or ".." in pure.parts:
            raise DeliveryError(f"invalid attachment path: {rel!r}", permanent=True)
        return self.ctx.attachments_dir / pure

    def _t(self, message: str) -> str:
        return self.ctx.translations(None)(message)

    def _file_count(self, kind: str) -> str:
        t = self.ctx.translations(None)
        if kind == "photo":
            return t.n("{count} photo", "{count} photos", 1)
        if kind == "voice":
            return t.n("{count} voice message", "{count} voice messages", 1)
        return t.n("{count} document", "{count} documents", 1)


# -- helpers -------------------------------------------------------------------------------------
def update_key(event: ZaloEvent, body: Any) -> str:
    """The deduplication key: Zalo's message id; without one, a hash of the message itself (the
    same for a wrapped and a bare body, so a redelivery in the other shape is still a replay)."""
    message = _message_of(body)
    has_id = isinstance(message, Mapping) and (message.get("message_id") or message.get("msg_id"))
    if has_id and len(event.message_id) <= MAX_KEY_LENGTH:
        return event.message_id
    basis = message if isinstance(message, Mapping) else body
    canonical = json.dumps(basis, sort_keys=True, ensure_ascii=False, default=str)
    return "h:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _message_of(body: Any) -> Any:
    """The ``message`` object, unwrapping ``{ok, result}`` the way ``parse_update`` does."""
    inner = unwrap(body)
    return inner.get("message") if inner is not None else None


def _suffix(mime: str, url: str) -> str:
    if mime in _IMAGE_SUFFIXES:
        return _IMAGE_SUFFIXES[mime]
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    return suffix if _SUFFIX_RE.match(suffix) else ".jpg"


def _last_id(results: list[dict[str, Any]]) -> str | None:
    for result in reversed(results):
        if result.get("message_id") is not None:
            return str(result["message_id"])
    return None


def _backoff(failures: int, exc: ZaloError | None) -> float:
    if isinstance(exc, ZaloRateLimited) and exc.retry_after:
        return min(60.0, exc.retry_after)
    if exc is not None and exc.permanent:
        return 30.0  # a wrong token or a webhook still set: no point hammering the API
    return min(30.0, 0.25 * 2 ** min(failures, 7))


async def _retrying(call: Callable[[], Awaitable[T]]) -> T:
    """Retry a send a few times on rate limits and transient failures (interactive replies)."""
    for attempt in range(SEND_ATTEMPTS - 1):
        try:
            return await call()
        except ZaloRateLimited as exc:
            await asyncio.sleep(min(10.0, exc.retry_after or 1.0))
        except ZaloError as exc:
            if exc.permanent:
                raise
            await asyncio.sleep(0.5 * 2**attempt)
    return await call()
