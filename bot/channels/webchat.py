"""The built-in web chat: HTTP JSON in, the same core, JSON out.

A session is an HttpOnly cookie; the conversation key is a hash of it, so the database never
holds a value that could be replayed as a cookie.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from bot.channels.files import new_attachment_path, scrub_image
from bot.dispatcher import Dispatcher
from bot.render import numbered_text
from handlers.i18n import N_, Translations
from handlers.types import Choice, Inbound, Media, MediaKind, Outbound
from storage.models import Conversation, WebChatMessage
from storage.store import SqlStore

log = logging.getLogger(__name__)
CHANNEL = "web"
COOKIE = "gr_chat"
STATIC = Path(__file__).resolve().parent.parent / "web_static"
ID_RE = re.compile(r"^[A-Za-z0-9\-]{8,64}$")
MAX_JSON_BYTES = 64 * 1024
NEW_COOKIE = web.RequestKey("new_cookie", str)
TOO_LARGE = N_(
    "This file is too large to accept. Please send a smaller one (a photo rather than a video, for example)."
)


def session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class WebChat:
    def __init__(
        self,
        dispatcher: Dispatcher,
        sessions: async_sessionmaker[AsyncSession],
        translations: Translations,
        attachments_dir: Path,
        max_attachment_bytes: int,
        max_text_length: int,
        secure_cookies: bool,
    ) -> None:
        self.dispatcher = dispatcher
        self.sessions = sessions
        self.translations = translations
        self.attachments_dir = attachments_dir
        self.max_attachment_bytes = max_attachment_bytes
        self.max_text_length = max_text_length
        self.secure_cookies = secure_cookies

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/", self.index),
            web.get("/static/{name}", self.static),
            web.post("/api/chat/send", self.send),
            web.post("/api/chat/upload", self.upload),
            web.get("/api/chat/updates", self.updates),
            web.get("/api/chat/history", self.history),
        ]

    # -- pages -----------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC / "index.html")
        response.headers["Cache-Control"] = "no-cache"
        self._session(request, response)
        return response

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})

    # -- session ---------------------------------------------------------------------------------
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
        async with self.sessions() as session:
            conv = (
                await session.execute(
                    select(Conversation).where(
                        Conversation.channel == CHANNEL, Conversation.user_id == key
                    )
                )
            ).scalar_one_or_none()
            person = await SqlStore(session).person_for(CHANNEL, key)
        if person is not None:
            return person.locale
        if conv is not None and conv.state.get("locale"):
            return str(conv.state["locale"])
        return self.translations.default_locale

    async def _error(
        self, request: web.Request, key: str, message: str, status: int
    ) -> web.Response:
        t = self.translations(await self._locale(key))
        return self._json(request, {"error": t(message)}, status)

    # -- talking ---------------------------------------------------------------------------------
    async def send(self, request: web.Request) -> web.Response:
        key = self._session(request)
        if request.content_length and request.content_length > MAX_JSON_BYTES:
            return await self._error(request, key, N_("Your message is too long to send."), 413)
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return await self._error(
                request, key, N_("The message could not be read. Please try again."), 400
            )
        if not isinstance(body, dict):
            return await self._error(
                request, key, N_("The message could not be read. Please try again."), 400
            )
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
            return await self._error(
                request, key, N_("The message could not be read. Please try again."), 400
            )
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
        key = self._session(request)
        if (
            request.content_length
            and request.content_length > self.max_attachment_bytes + 64 * 1024
        ):
            return await self._error(
                request,
                key,
                TOO_LARGE,
                413,
            )
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
        target = self.attachments_dir / rel
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        size = 0
        fh = await asyncio.to_thread(target.open, "wb")
        try:
            while chunk := await part.read_chunk(64 * 1024):
                size += len(chunk)
                if size > self.max_attachment_bytes:
                    break
                await asyncio.to_thread(fh.write, chunk)
        finally:
            await asyncio.to_thread(fh.close)
        if size > self.max_attachment_bytes:
            await asyncio.to_thread(target.unlink, True)
            return None
        if kind == MediaKind.PHOTO and not await asyncio.to_thread(scrub_image, target):
            await asyncio.to_thread(target.unlink, True)
            return Media(kind, mime=mime, size=size, name=name, too_large=True)
        return Media(kind, ref=rel.as_posix(), mime=mime, size=size, name=name)

    async def _run(
        self, request: web.Request, key: str, inbound: Inbound, shown: str
    ) -> web.Response:
        async with self.dispatcher.serialised(CHANNEL, key):
            reply = await self.dispatcher.handle(inbound)
            if reply is None:
                # A retry after a dropped connection: answer what we answered the first time.
                earlier = await self._replies_to(key, client_id_of(inbound))
                return self._json(
                    request,
                    {"messages": earlier, "duplicate": True, "lang": await self._locale(key)},
                )
            messages = [self._message(m) for m in reply.messages]
            await self._record(key, client_id_of(inbound), shown, messages)
        payload: dict[str, Any] = {
            "messages": messages,
            "duplicate": False,
            "lang": await self._locale(key),
        }
        if reply.callback_answer and reply.callback_answer.text:
            payload["notice"] = reply.callback_answer.text
            if not messages:
                payload["messages"] = [{"text": reply.callback_answer.text, "choices": []}]
        return self._json(request, payload)

    @staticmethod
    def _message(message: Outbound) -> dict[str, Any]:
        return {
            "text": numbered_text(message),
            "choices": [{"label": c.label, "data": c.data} for c in message.choices],
        }

    async def _record(
        self, key: str, client_id: str, shown: str, messages: list[dict[str, Any]]
    ) -> None:
        async with self.sessions() as session, session.begin():
            if shown:
                session.add(
                    WebChatMessage(
                        session_id=key,
                        client_id=client_id,
                        sender="user",
                        payload={"text": shown, "choices": []},
                    )
                )
            for m in messages:
                session.add(
                    WebChatMessage(session_id=key, client_id=client_id, sender="bot", payload=m)
                )

    async def _replies_to(self, key: str, client_id: str) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(WebChatMessage)
                    .where(
                        WebChatMessage.session_id == key,
                        WebChatMessage.client_id == client_id,
                        WebChatMessage.sender == "bot",
                    )
                    .order_by(col(WebChatMessage.id))
                )
            ).scalars()
            return [dict(r.payload) for r in rows]

    async def history(self, request: web.Request) -> web.Response:
        key = self._session(request)
        async with self.sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(WebChatMessage)
                        .where(WebChatMessage.session_id == key)
                        .order_by(col(WebChatMessage.id).desc())
                        .limit(100)
                    )
                )
                .scalars()
                .all()
            )
        messages = [{"from": r.sender, "seq": r.id, **r.payload} for r in reversed(rows)]
        return self._json(request, {"messages": messages, "lang": await self._locale(key)})

    async def updates(self, request: web.Request) -> web.Response:
        key = self._session(request)
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            after = 0
        async with self.sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(WebChatMessage)
                        .where(
                            WebChatMessage.session_id == key,
                            col(WebChatMessage.proactive).is_(True),
                            col(WebChatMessage.id) > after,
                        )
                        .order_by(col(WebChatMessage.id))
                        .limit(50)
                    )
                )
                .scalars()
                .all()
            )
        return self._json(request, {"messages": [{"seq": r.id, **r.payload} for r in rows]})

    # -- outbox delivery: a proactive message lands in the transcript, fetched by polling --------
    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        message = Outbound(
            chat_id,
            payload.get("text") or payload.get("caption") or "",
            choices=tuple(Choice(label, data) for data, label in payload.get("choices") or []),
        )
        async with self.sessions() as session, session.begin():
            session.add(
                WebChatMessage(
                    session_id=chat_id, sender="bot", proactive=True, payload=self._message(message)
                )
            )
        return None


def client_id_of(inbound: Inbound) -> str:
    return inbound.update_key.rsplit(":", 1)[-1]
