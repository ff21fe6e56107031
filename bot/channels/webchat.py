"""The built-in web chat: HTTP JSON in, the same core, JSON out.

A session is an HttpOnly cookie; the conversation key is a hash of it, so the database never
holds a value that could be replayed as a cookie.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import secrets
import uuid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import BodyPartReader, web

from bot.channels.context import ChannelContext
from bot.channels.files import CHUNK, new_attachment_path, save_capped, scrub_image
from bot.channels.http import client_address, parse_json, read_capped
from bot.render import numbered_text
from handlers.callbacks import Kind, kind_of
from handlers.forms import StepType
from handlers.i18n import N_
from handlers.state import State
from handlers.types import Choice, Inbound, Media, MediaKind, Outbound

log = logging.getLogger(__name__)
CHANNEL = "web"
COOKIE = "gr_chat"
STATIC = Path(__file__).resolve().parent.parent / "web_static"
ID_RE = re.compile(r"^[A-Za-z0-9\-]{8,64}$")
MAX_JSON_BYTES = 64 * 1024
NEW_COOKIE = web.RequestKey("new_cookie", str)
UNREADABLE = N_("The message could not be read. Please try again.")
NOT_EXPECTED = N_(
    "I was not expecting a file or a photo here. You can add attachments later in the report, at the attachments question."
)
CROSS_SITE = N_("This request did not come from this page. Please reload the page and try again.")
TOO_MANY_FILES = N_("You have sent many files in a short time. Please wait a while and try again.")
UPLOADS_PER_HOUR = 20  # per visitor and per address: a report carries at most 10 files
# The live stream asks the database for new messages this often: a row written by whichever
# instance delivered it reaches the page well within a second.
LIVE_POLL_SECONDS = 0.3
LIVE_PING_SECONDS = 15.0  # a comment line keeps proxies from closing an idle stream
LIVE_STREAM_SECONDS = 55.0  # then the browser reconnects (Last-Event-ID): no stream lives forever
TOO_LARGE = N_(
    "This file is too large to accept. Please send a smaller one (a photo rather than a video, for example)."
)


PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    # Only our own script and style files: nothing inline, nothing from elsewhere.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


Payload = dict[str, Any]


class Transcripts(Protocol):
    """What the web chat keeps per visitor session (`key`): the transcript the page shows again
    after a reload, and what the visitor's conversation says (storage.transcripts). `record`
    takes what the visitor sent as their page shows it ("" for nothing) and the replies."""

    async def locale_of(self, key: str) -> str | None: ...

    async def state_of(self, key: str) -> dict[str, Any]: ...

    async def record(
        self, key: str, client_id: str, shown: str, replies: list[Payload]
    ) -> None: ...

    async def add_proactive(self, key: str, message: Payload) -> None: ...

    async def replies_to(self, key: str, client_id: str) -> list[Payload]: ...

    async def recent(self, key: str, limit: int = 100) -> list[Payload]: ...

    async def proactive_after(self, key: str, after: int, limit: int = 50) -> list[Payload]: ...


def session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class WebChat:
    def __init__(
        self,
        ctx: ChannelContext,
        transcripts: Transcripts,
        secure_cookies: bool,
        trust_proxy: bool = False,
    ) -> None:
        self.ctx = ctx
        self.transcripts = transcripts
        self.secure_cookies = secure_cookies
        self.public_origin = _origin(ctx.public_url)
        self.trust_proxy = trust_proxy
        # Counted in the database, so a session's budget holds across instances.
        self.upload_guard = ctx.dispatcher.guard("upload", UPLOADS_PER_HOUR, 3600.0)
        self.closing = asyncio.Event()  # set on shutdown: open live streams end at once

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/", self.index),
            web.get("/static/{name}", self.static),
            web.post("/api/chat/send", self.send),
            web.post("/api/chat/upload", self.upload),
            web.get("/api/chat/updates", self.updates),
            web.get("/api/chat/history", self.history),
            web.get("/api/chat/live", self.live),
        ]

    async def stop(self) -> None:
        self.closing.set()

    # -- pages -----------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)
        self._session(request, response)
        return response

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})

    # -- session ---------------------------------------------------------------------------------
    def _same_site(self, request: web.Request) -> bool:
        """Browsers say where a request comes from. Refusing other sites means a page elsewhere
        can neither talk in a visitor's chat nor reset their cookie with a new one."""
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site is not None:
            return fetch_site == "same-origin"
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser (browsers send Origin with every POST)
        ours = {_origin(f"{request.scheme}://{request.host}"), self.public_origin} - {""}
        return _origin(origin) in ours

    def _existing(self, request: web.Request) -> str | None:
        """The visitor's session key, if they already have a cookie; never makes one."""
        token = request.cookies.get(COOKIE, "")
        return session_key(token) if re.fullmatch(r"[A-Za-z0-9_\-]{20,64}", token) else None

    def _session(self, request: web.Request, response: web.StreamResponse | None = None) -> str:
        token = request.cookies.get(COOKIE, "")
        if not re.fullmatch(r"[A-Za-z0-9_\-]{20,64}", token):
            token = secrets.token_urlsafe(32)
            request[NEW_COOKIE] = token
        if response is not None and NEW_COOKIE in request:
            self._set_cookie(response, request[NEW_COOKIE])
        return session_key(token)

    def _set_cookie(self, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(
            COOKIE,
            token,
            max_age=180 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=self.secure_cookies,
            path="/",
        )

    def _json(self, request: web.Request, body: dict[str, Any], status: int = 200) -> web.Response:
        response = web.json_response(body, status=status)
        if NEW_COOKIE in request:
            self._set_cookie(response, request[NEW_COOKIE])
        return response

    async def _locale(self, key: str) -> str:
        locale = await self.transcripts.locale_of(key)
        return locale if locale is not None else self.ctx.translations.default_locale

    async def _error(
        self, request: web.Request, key: str | None, message: str, status: int
    ) -> web.Response:
        """A refusal in the visitor's language; only a request from this site gets a cookie."""
        locale = await self._locale(key) if key else self.ctx.translations.default_locale
        return self._json(request, {"error": self.ctx.translations(locale)(message)}, status)

    async def _expects_file(self, key: str) -> bool:
        """True while the visitor's report is at a question that takes attachments."""
        state = State(await self.transcripts.state_of(key))
        form = self.ctx.dispatcher.engine.catalog.forms.get("report")
        if form is None or state.flow != "report" or not state.has_form("report"):
            return False
        step_id = state.form("report").get("step")
        return any(s.id == step_id and s.type == StepType.MEDIA for s in form.steps)

    # -- talking ---------------------------------------------------------------------------------
    async def send(self, request: web.Request) -> web.Response:
        if not self._same_site(request):
            return await self._error(request, self._existing(request), CROSS_SITE, 403)
        if request.content_type != "application/json":  # no plain HTML form can send JSON
            return await self._error(request, self._existing(request), UNREADABLE, 415)
        key = self._session(request)
        try:
            body = parse_json(await read_capped(request, MAX_JSON_BYTES))
        except web.HTTPRequestEntityTooLarge:
            return await self._error(request, key, N_("Your message is too long to send."), 413)
        except ValueError:
            return await self._error(request, key, UNREADABLE, 400)
        if not isinstance(body, dict):
            return await self._error(request, key, UNREADABLE, 400)
        client_id = str(body.get("id") or "")
        if not ID_RE.match(client_id):
            client_id = uuid.uuid4().hex
        text = body.get("text")
        callback = body.get("callback")
        location = body.get("location")
        media: tuple[Media, ...] = ()
        shown = ""
        if isinstance(location, dict):
            try:
                lat, lon = float(location["latitude"]), float(location["longitude"])
            except (KeyError, TypeError, ValueError):
                return await self._error(request, key, N_("The location could not be read."), 400)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                return await self._error(request, key, N_("The location could not be read."), 400)
            media = (Media(MediaKind.LOCATION, latitude=lat, longitude=lon),)
            shown = f"📍 {lat:.5f}, {lon:.5f}"
            text = ""
        elif isinstance(callback, str) and callback:
            text = ""
        elif isinstance(text, str):
            callback = None
            shown = text
        else:
            return await self._error(request, key, UNREADABLE, 400)
        inbound = Inbound(
            channel=CHANNEL,
            update_key=f"{key}:{client_id}",  # ids are the page's: scope them
            user_id=key,
            chat_id=key,
            text=text or "",
            callback=callback if isinstance(callback, str) and callback else None,
            media=media,
        )
        return await self._run(request, key, inbound, shown)

    async def upload(self, request: web.Request) -> web.Response:
        if not self._same_site(request):
            return await self._error(request, self._existing(request), CROSS_SITE, 403)
        key = self._session(request)
        address = client_address(request, self.trust_proxy)
        if await self.upload_guard.check(key) or await self.upload_guard.check(f"ip:{address}"):
            return await self._error(request, key, TOO_MANY_FILES, 429)
        if (
            request.content_length
            and request.content_length > self.ctx.max_attachment_bytes + 64 * 1024
        ):
            return await self._error(request, key, TOO_LARGE, 413)
        if not await self._expects_file(key):
            return await self._error(request, key, NOT_EXPECTED, 409)
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError):
            return await self._error(
                request, key, N_("The file could not be read. Please try again."), 400
            )
        client_id = uuid.uuid4().hex
        stored: Media | None = None
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "id":
                value = (await part.read(decode=True)).decode("ascii", "ignore")
                client_id = value if ID_RE.match(value) else client_id
            elif part.name == "file":
                stored = await self._store_upload(part)
                if stored is None:
                    return await self._error(
                        request,
                        key,
                        TOO_LARGE,
                        413,
                    )
        if stored is None:
            return await self._error(
                request, key, N_("The file could not be read. Please try again."), 400
            )
        inbound = Inbound(
            channel=CHANNEL,
            update_key=f"{key}:{client_id}",
            user_id=key,
            chat_id=key,
            media=(stored,),
        )
        return await self._run(request, key, inbound, f"📎 {stored.name or stored.kind.value}")

    async def _store_upload(self, part: BodyPartReader) -> Media | None:
        mime = (
            (part.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip()
        )
        name = Path(part.filename or "file").name[:200]
        kind = (
            MediaKind.PHOTO
            if mime.startswith("image/")
            else MediaKind.VOICE
            if mime.startswith("audio/")
            else MediaKind.DOCUMENT
        )
        if mime.startswith("video/"):
            kind = MediaKind.VIDEO
        suffix = Path(name).suffix.lower()[:10] or ".bin"
        rel = new_attachment_path(suffix)
        target = self.ctx.attachments_dir / rel
        size = await save_capped(
            target, lambda: part.read_chunk(CHUNK), self.ctx.max_attachment_bytes
        )
        if size > self.ctx.max_attachment_bytes:
            return None
        if kind == MediaKind.PHOTO and not await asyncio.to_thread(scrub_image, target):
            await asyncio.to_thread(target.unlink, True)
            return Media(kind, mime=mime, size=size, name=name, too_large=True)
        return Media(kind, ref=rel.as_posix(), mime=mime, size=size, name=name)

    async def _run(
        self, request: web.Request, key: str, inbound: Inbound, shown: str
    ) -> web.Response:
        async with self.ctx.dispatcher.run(CHANNEL, key, inbound) as handled:
            assert handled is not None  # given an Inbound, there is always one to handle
            await self.ctx.discard_unheld(inbound)
            reply = handled.reply
            if reply is None:
                # A retry after a dropped connection: answer what we answered the first time.
                earlier = await self.transcripts.replies_to(key, client_id_of(inbound))
                return self._json(
                    request,
                    {"messages": earlier, "duplicate": True, "lang": await self._locale(key)},
                )
            messages = [self._message(m) for m in reply.messages]
            await self.transcripts.record(key, client_id_of(inbound), shown, messages)
        payload: dict[str, Any] = {
            "messages": messages,
            "duplicate": False,
            "lang": await self._locale(key),
            "prompt": await self._open_prompt(key),
        }
        if reply.callback_answer and reply.callback_answer.text:
            payload["notice"] = reply.callback_answer.text
            if not messages:
                payload["messages"] = [{"text": reply.callback_answer.text, "choices": []}]
        return self._json(request, payload)

    async def _open_prompt(self, key: str) -> str:
        """The token of the visitor's open prompt: the page keeps enabled the prompt buttons
        that carry it (and every case or poll button), and disables only the stale ones. With no
        flow open (a report just sent, say) no prompt button leads anywhere: "" matches none."""
        state = State(await self.transcripts.state_of(key))
        return state.nonce if state.flow else ""

    @staticmethod
    def _message(message: Outbound) -> dict[str, Any]:
        body: dict[str, Any] = {
            "text": numbered_text(message),
            "choices": [{"label": c.label, "data": c.data} for c in message.choices],
        }
        kinds = {kind_of(c.data) for c in message.choices}
        if kinds == {Kind.PROMPT}:
            body["prompt"] = message.choices[0].data.partition(":")[0]
        elif kinds and kinds <= {Kind.CASE, Kind.REPORTER}:
            # A card's buttons go stale only when a newer version of the same card arrives.
            prefix, case, _, version = message.choices[0].data.split(":")[:4]
            if version.isdecimal():
                body["card"], body["version"] = f"{prefix}:{case}", int(version)
        return body

    async def history(self, request: web.Request) -> web.Response:
        key = self._existing(request)
        if key is None:
            return self._json(
                request, {"messages": [], "lang": self.ctx.translations.default_locale}
            )
        messages = await self.transcripts.recent(key, 100)
        return self._json(
            request,
            {
                "messages": messages,
                "lang": await self._locale(key),
                "prompt": await self._open_prompt(key),
            },
        )

    async def updates(self, request: web.Request) -> web.Response:
        key = self._existing(request)
        if key is None:
            return self._json(request, {"messages": []})
        messages = await self.transcripts.proactive_after(
            key, _cursor(request.query.get("after")), 50
        )
        return self._json(request, {"messages": messages})

    async def live(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: each outbox message of this visitor as it lands in the transcript.

        The stream asks the database, not this process, what is new: the row may have been
        written by another instance (the delivery leader). A short poll of one indexed query
        works the same on SQLite and PostgreSQL, where LISTEN/NOTIFY would need a connection of
        its own per instance and a fallback on SQLite anyway. Each event's id is the message's
        seq, so a browser that reconnects (Last-Event-ID) resumes without a gap or a repeat.
        """
        key = self._existing(request)
        if key is None:
            raise web.HTTPNoContent()  # tells EventSource not to reconnect: the page polls
        after = _cursor(request.headers.get("Last-Event-ID") or request.query.get("after"))
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: do not hold events back
            }
        )
        await response.prepare(request)
        try:
            await response.write(b"retry: 1000\n\n")
            await self._stream(response, key, after)
        except ConnectionError:
            pass  # the page went away
        return response

    async def _stream(self, response: web.StreamResponse, key: str, after: int) -> None:
        loop = asyncio.get_running_loop()
        ends = loop.time() + LIVE_STREAM_SECONDS
        pinged = loop.time()
        while not self.closing.is_set() and loop.time() < ends:
            for message in await self.transcripts.proactive_after(key, after, 50):
                after = int(message["seq"])
                data = json.dumps(message, ensure_ascii=False)
                await response.write(f"id: {after}\ndata: {data}\n\n".encode())
                pinged = loop.time()
            if loop.time() - pinged > LIVE_PING_SECONDS:
                await response.write(b": ping\n\n")
                pinged = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), LIVE_POLL_SECONDS)

    # -- outbox delivery: a proactive message lands in the transcript, pushed or polled ---------
    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        message = Outbound(
            chat_id,
            payload.get("text") or payload.get("caption") or "",
            choices=tuple(Choice(label, data) for data, label in payload.get("choices") or []),
        )
        body = self._message(message)
        if payload.get("kind") == "photo" and payload.get("path"):
            body["photo"] = str(payload["path"])  # a chart, shown by the group chat's page
        await self.transcripts.add_proactive(chat_id, body)
        return None


def _origin(url: str) -> str:
    """scheme://host[:port] in lower case, or "" for anything else (such as "null")."""
    parts = urlsplit(url.strip().lower())
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""


def _cursor(value: str | None) -> int:
    """A message seq from the page (query or Last-Event-ID); 0 for anything unreadable."""
    return int(value) if value and value.isdecimal() and len(value) <= 18 else 0


def client_id_of(inbound: Inbound) -> str:
    return inbound.update_key.rsplit(":", 1)[-1]
