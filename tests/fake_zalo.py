"""A fake Zalo server (Bot platform + Official Account API) for offline tests.

Why: the Zalo client and adapter must be exercised over real HTTP (JSON bodies, status codes,
long polls, webhooks, token refresh races) without touching the internet. This module serves:

- the Bot platform under ``/bot{token}/{method}``: getMe, getUpdates (long poll; an empty poll
  answers error 408), setWebhook/deleteWebhook/getWebhookInfo, sendMessage (1–2,000 characters),
  sendPhoto (by URL), sendSticker, sendChatAction;
- the OA API: ``POST /v3.0/oa/group/message`` (``access_token`` header; text, or an image by
  the attachment id ``POST /v2.0/oa/upload/image`` gave), and the OAuth refresh
  ``POST /v4/oa/access_token`` (``secret_key`` header, single-use refresh tokens);
- OA webhook events: ``oa_group_event`` builds what a group member's message looks like and
  ``deliver_oa_webhook`` posts it, signed with ``X-ZEvent-Signature`` (or forged);
- ``GET /files/{name}``: small files (a real PNG by default) for photo URLs in and out.

Point the bot client at ``fake.url`` (``api_url``) with ``fake.bot_token``, and the OA client at
``fake.url`` for both ``api_url`` and ``oauth_url``; seed its token store with
``fake.issue_oa_tokens()``.

Standalone use (for subprocess tests)::

    python -m tests.fake_zalo --port 8082

prints the root URL and the bot token on the first line of stdout and serves until killed.
Out-of-process tests drive it through the small ``/_control/*`` JSON endpoints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import secrets
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession, web

from tests.fake_telegram import tiny_png

JSONDict = dict[str, Any]

BOT_TOKEN = "1459232241454765289:fakeZaloBotTokenAbCdEf0123456789"
BOT_ID = "1459232241454765289"
BOT_ACCOUNT_NAME = "bot.GrassrootsTest"
OA_APP_ID = "2553928453557884079"
OA_APP_SECRET = "fake-app-secret-key-0123"
OA_SECRET_KEY = "fake-oa-secret-key-4567"

MAX_TEXT_LEN = 2000
SECRET_HEADER = "X-Bot-Api-Secret-Token"
SIGNATURE_HEADER = "X-ZEvent-Signature"

# Names ``fail_next`` accepts for the OA endpoints (bot methods use their own names).
OA_GROUP_MESSAGE = "oa.group.message"
OA_REFRESH = "oa.access_token"
OA_UPLOAD_IMAGE = "oa.upload.image"

BOT_METHODS = (
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "sendMessage",
    "sendPhoto",
    "sendSticker",
    "sendChatAction",
)
# OA error codes the fake answers with (HTTP 200, like the real API).
OA_TOKEN_INVALID = -216
OA_TOKEN_EXPIRED = -124
OA_INVALID_PARAM = -201
OAUTH_INVALID_REFRESH = -14014
OAUTH_INVALID_SECRET = -14002

_DEFAULT_DESCRIPTIONS = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    408: "Request timeout",
    429: "Quota exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}
_CONTROL_HELP = {
    "POST /_control/user_text": "json {user_id, text, display_name?, chat_id?}",
    "POST /_control/user_image": "json {user_id, photo_url?, caption?}",
    "POST /_control/fail_next": "json {method, status?, error_code?, times?, delay?, body?}",
    "GET /_control/sent": "?chat_id= (optional) -> recorded bot messages",
    "GET /_control/wait_messages": "?chat_id=&count=&timeout= -> messages or 408",
    "GET /_control/group_messages": "?group_id= -> recorded OA group messages",
    "POST /_control/oa_tokens": "-> a fresh valid OA token pair",
}


class ZaloApiError(Exception):
    """An error the fake answers the Bot API with: ``{ok: false, error_code, description}``."""

    def __init__(self, code: int, description: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status if status is not None else code

    def response(self) -> web.Response:
        body = {"ok": False, "error_code": self.code, "description": self.description}
        return web.json_response(body, status=self.status)


@dataclass
class _Fault:
    """One queued fault: an HTTP status/error code, a raw body, a delay, or a mix."""

    status: int | None
    error_code: int | None
    description: str | None
    body: str | None
    delay: float
    remaining: int


def zalo_units(text: str) -> int:
    """Zalo counts text in UTF-16 code units (its servers run on the JVM)."""
    return len(text.encode("utf-16-le")) // 2


def _now_ms() -> int:
    return int(time.time() * 1000)


def _hex_id(nbytes: int = 10) -> str:
    """Zalo message and user ids look like 20 hex characters."""
    return secrets.token_hex(nbytes)


class FakeZalo:
    """In-process fake of the Zalo Bot platform and OA API (aiohttp based).

    Tests inject user activity with ``user_text``/``user_image``/…, the client polls
    ``getUpdates`` (or receives the events through ``deliver_webhook``), and tests assert on
    ``messages_to(chat_id)`` and ``group_messages(group_id)``.
    """

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        oa_app_id: str = OA_APP_ID,
        oa_app_secret: str = OA_APP_SECRET,
        oa_secret_key: str = OA_SECRET_KEY,
        oa_token_lifetime: int = 90_000,
        updates_as_list: bool = False,
        shutdown_timeout: float = 0.5,
    ) -> None:
        """``updates_as_list`` makes getUpdates answer a list of every pending update instead
        of one update object per call (the real API's documented shape)."""
        self.bot_token = bot_token
        self.oa_app_id = oa_app_id
        self.oa_app_secret = oa_app_secret
        self.oa_secret_key = oa_secret_key
        self.oa_token_lifetime = oa_token_lifetime
        self.updates_as_list = updates_as_list
        # Some servers answer getUpdates at once, whatever its ``timeout`` says.
        self.ignore_timeout = False
        self._shutdown_timeout = shutdown_timeout
        self.bot_info: JSONDict = {
            "id": BOT_ID,
            "account_name": BOT_ACCOUNT_NAME,
            "account_type": "BASIC",
            "can_join_groups": False,
        }

        # Public recordings -----------------------------------------------------------------
        self.calls: Counter[str] = Counter()
        self.requests: list[JSONDict] = []  # every bot API call: {"method", "params", "token"}
        self.sent: list[JSONDict] = []  # sendMessage/sendPhoto/sendSticker records
        self.chat_actions: list[JSONDict] = []
        self.webhook: JSONDict = {"url": "", "secret_token": None, "updated_at": 0}
        self.injected: list[JSONDict] = []
        self.poll_answers: list[str] = []  # "update" or "408" for every finished getUpdates
        self.oa_sent: list[JSONDict] = []  # OA group messages, with the token used
        self.oa_rejections: list[JSONDict] = []  # OA calls refused for their access token
        self.refresh_calls: list[JSONDict] = []  # {"refresh_token", "ok", "error"?}
        self.oa_uploads: dict[str, bytes] = {}  # attachment id -> the uploaded image
        self.files: dict[str, tuple[bytes, str]] = {"photo.png": (tiny_png(), "image/png")}
        self.file_downloads: Counter[str] = Counter()

        # Internal state --------------------------------------------------------------------
        self._pending: list[JSONDict] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._access_tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self._refresh_tokens: set[str] = set()
        self._spent_refresh_tokens: set[str] = set()
        self._by_chat: dict[str, list[JSONDict]] = {}
        self._by_group: dict[str, list[JSONDict]] = {}
        self._update_event = asyncio.Event()
        self._sent_event = asyncio.Event()
        self._seq = itertools.count(1)
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._url = ""
        self._handlers = {name.lower(): getattr(self, f"_api_{name}") for name in BOT_METHODS}
        self._canonical = {name.lower(): name for name in BOT_METHODS}

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; ``port=0`` picks a free port. Returns the root URL."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_bot)
        app.router.add_post("/v3.0/oa/group/message", self._handle_group_message)
        app.router.add_post("/v2.0/oa/upload/image", self._handle_upload_image)
        app.router.add_post("/v4/oa/access_token", self._handle_refresh)
        app.router.add_get("/files/{name}", self._handle_file)
        app.router.add_get("/", self._handle_root)
        for name in ("user_text", "user_image", "fail_next", "oa_tokens"):
            app.router.add_post(f"/_control/{name}", self._control_handler(name))
        for name in ("sent", "wait_messages", "group_messages"):
            app.router.add_get(f"/_control/{name}", self._control_handler(name))
        self._closing = False
        # handler_cancellation: a poll whose client went away must not swallow an update.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=self._shutdown_timeout,
            handler_cancellation=True,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self._url

    async def stop(self) -> None:
        """Stop serving; pending long polls are released first so shutdown is instant."""
        self._closing = True
        self._wake_pollers()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> FakeZalo:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT``: the ``api_url`` for both clients."""
        if not self._url:
            raise RuntimeError("FakeZalo is not started")
        return self._url

    def file_url(self, name: str = "photo.png") -> str:
        """The URL at which ``/files/{name}`` is served."""
        return f"{self.url}/files/{name}"

    def add_file(self, name: str, content: bytes, content_type: str = "image/png") -> str:
        """Serve ``content`` at ``/files/{name}``; returns its URL."""
        self.files[name] = (content, content_type)
        return self.file_url(name)

    # ------------------------------------------------------------------ faults
    def fail_next(
        self,
        method: str,
        status: int | None = 429,
        *,
        error_code: int | None = None,
        times: int = 1,
        delay: float = 0.0,
        description: str | None = None,
        body: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        ``method`` is a bot method (``sendMessage``) or ``OA_GROUP_MESSAGE``/``OA_REFRESH``.
        ``status`` is the HTTP status (``None``: only delay); ``error_code`` defaults to it;
        ``body`` replaces the JSON answer with raw text (a proxy's HTML error page);
        ``delay`` sleeps first, to provoke client timeouts or widen race windows.
        """
        self._faults.setdefault(method.lower(), []).append(
            _Fault(status, error_code, description, body, delay, times)
        )

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Slow down (but do not fail) the next ``times`` calls of ``method``."""
        self.fail_next(method, status=None, delay=seconds, times=times)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault

    async def _apply_fault(self, method: str) -> web.Response | None:
        fault = self._take_fault(method)
        if fault is None:
            return None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status is None:
            return None
        if fault.body is not None:
            return web.Response(text=fault.body, status=fault.status, content_type="text/html")
        code = fault.error_code if fault.error_code is not None else fault.status
        description = fault.description or _DEFAULT_DESCRIPTIONS.get(fault.status, "Error")
        if method.lower().startswith("oa."):
            return web.json_response({"error": code, "message": description}, status=fault.status)
        return ZaloApiError(code, description, fault.status).response()

    # ------------------------------------------------------------------ recordings / waiting
    def messages_to(self, chat_id: str) -> list[JSONDict]:
        """Messages the bot sent to ``chat_id``, in order."""
        return list(self._by_chat.get(str(chat_id), []))

    def texts_to(self, chat_id: str) -> list[str]:
        """Just the text (or caption) of each message to ``chat_id``."""
        return [m.get("text") or m.get("caption") or "" for m in self.messages_to(chat_id)]

    def group_messages(self, group_id: str) -> list[JSONDict]:
        """OA messages posted to ``group_id``, in order."""
        return list(self._by_group.get(str(group_id), []))

    def group_texts(self, group_id: str) -> list[str]:
        return [m["text"] for m in self.group_messages(group_id)]

    @property
    def pending_updates(self) -> list[JSONDict]:
        return copy.deepcopy(self._pending)

    def dump(self, limit: int = 30) -> str:
        """Human-readable summary of recorded traffic, for timeout and assert messages."""
        lines = [f"calls: {dict(self.calls)}", f"pending updates: {len(self._pending)}"]
        lines.append(f"last {min(limit, len(self.sent))} of {len(self.sent)} sent messages:")
        for rec in self.sent[-limit:]:
            body = rec.get("text") if rec.get("text") is not None else rec.get("caption")
            lines.append(f"  [{rec['method']} chat={rec['chat_id']}] {body!r}")
        lines.append(
            f"OA group messages: {len(self.oa_sent)}; refreshes: {len(self.refresh_calls)}"
        )
        return "\n".join(lines)

    async def wait_for_messages(
        self,
        chat_id: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - the API contract tests rely on
    ) -> list[JSONDict]:
        """Wait until at least ``count`` messages to ``chat_id`` exist; returns them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        key = str(chat_id)
        while len(self._by_chat.get(key, [])) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                have = len(self._by_chat.get(key, []))
                raise TimeoutError(
                    f"waited {timeout}s for {count} message(s) to chat {chat_id}, got {have}."
                    f"\n{self.dump()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sent_event.wait(), remaining)
        return self.messages_to(chat_id)

    async def wait_for_group_messages(
        self,
        group_id: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors wait_for_messages
    ) -> list[JSONDict]:
        """Wait until at least ``count`` OA messages to ``group_id`` exist."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._by_group.get(str(group_id), [])) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"waited {timeout}s for {count} group message(s) to {group_id}.\n{self.dump()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sent_event.wait(), remaining)
        return self.group_messages(group_id)

    def _notify_sent(self) -> None:
        self._sent_event.set()
        self._sent_event = asyncio.Event()

    def _wake_pollers(self) -> None:
        self._update_event.set()
        self._update_event = asyncio.Event()

    # ------------------------------------------------------------------ user activity
    def raw_update(self, update: JSONDict) -> JSONDict:
        """Queue any event as-is for getUpdates (unless a webhook is set: then the test
        delivers it with ``deliver_webhook``, as Zalo would push it)."""
        update = copy.deepcopy(update)
        self.injected.append(update)
        if not self.webhook.get("url"):
            self._pending.append(update)
            self._wake_pollers()
        return copy.deepcopy(update)

    def _user_event(
        self,
        event_name: str,
        user_id: str,
        display_name: str,
        chat_id: str | None,
        content: JSONDict,
    ) -> JSONDict:
        message: JSONDict = {
            "from": {"id": str(user_id), "display_name": display_name, "is_bot": False},
            "chat": {"id": str(chat_id or user_id), "chat_type": "PRIVATE"},
            **content,
            "message_id": _hex_id(),
            "date": _now_ms(),
        }
        return self.raw_update({"event_name": event_name, "message": message})

    def user_text(
        self,
        user_id: str,
        text: str,
        display_name: str = "Người dùng thử",
        chat_id: str | None = None,
    ) -> JSONDict:
        """A user sends ``text``; returns the event (unwrapped)."""
        return self._user_event(
            "message.text.received", user_id, display_name, chat_id, {"text": text}
        )

    def user_image(
        self,
        user_id: str,
        photo_url: str | None = None,
        caption: str | None = None,
        display_name: str = "Người dùng thử",
        chat_id: str | None = None,
    ) -> JSONDict:
        """A user sends a photo; by default one the fake serves at ``/files/photo.png``."""
        content: JSONDict = {"photo_url": photo_url or self.file_url("photo.png")}
        if caption is not None:
            content["caption"] = caption
        return self._user_event("message.image.received", user_id, display_name, chat_id, content)

    def user_sticker(
        self,
        user_id: str,
        sticker_id: str = "0e078a2fb66a5f34067b",
        display_name: str = "Người dùng thử",
        chat_id: str | None = None,
    ) -> JSONDict:
        """A user sends a sticker (content the bot does not understand)."""
        content = {"sticker": sticker_id, "url": f"https://zalo-api.zadn.vn/sticker/{sticker_id}"}
        return self._user_event("message.sticker.received", user_id, display_name, chat_id, content)

    def user_unsupported(
        self,
        user_id: str,
        display_name: str = "Người dùng thử",
        chat_id: str | None = None,
    ) -> JSONDict:
        """A message type the platform does not forward (voice, file, protected users…)."""
        return self._user_event("message.unsupported.received", user_id, display_name, chat_id, {})

    def user_event(
        self,
        event_name: str,
        user_id: str,
        content: JSONDict | None = None,
        display_name: str = "Người dùng thử",
        chat_id: str | None = None,
    ) -> JSONDict:
        """A user event with any name (e.g. one Zalo adds later) and message content."""
        return self._user_event(event_name, user_id, display_name, chat_id, dict(content or {}))

    async def deliver_webhook(
        self, update: JSONDict, wrapped: bool = True, url: str | None = None
    ) -> int:
        """POST ``update`` to the registered webhook with the secret header; returns the status.

        ``wrapped`` sends ``{"ok": true, "result": update}``; otherwise the bare event, since
        Zalo has been seen to send both.
        """
        target = url or self.webhook.get("url")
        if not target:
            raise RuntimeError("no webhook registered (setWebhook was never called)")
        body = {"ok": True, "result": update} if wrapped else update
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers[SECRET_HEADER] = str(self.webhook["secret_token"])
        async with (
            ClientSession() as session,
            session.post(
                target, data=json.dumps(body, ensure_ascii=False).encode(), headers=headers
            ) as resp,
        ):
            await resp.read()
            return resp.status

    # ------------------------------------------------------------------ OA tokens
    def issue_oa_tokens(self, lifetime: int | None = None) -> JSONDict:
        """A fresh valid pair, shaped like the OAuth answer: access_token, refresh_token,
        expires_in (a string of seconds, as Zalo sends it)."""
        life = self.oa_token_lifetime if lifetime is None else lifetime
        access = "AT-" + secrets.token_urlsafe(24)
        refresh = "RT-" + secrets.token_urlsafe(24)
        self._access_tokens[access] = time.time() + life
        self._refresh_tokens.add(refresh)
        return {"access_token": access, "refresh_token": refresh, "expires_in": str(life)}

    def expire_access_token(self, token: str | None = None) -> None:
        """Expire ``token`` (default: every access token) now; the API then answers -124."""
        for key in [token] if token else list(self._access_tokens):
            if key in self._access_tokens:
                self._access_tokens[key] = 0.0

    def revoke_refresh_token(self, token: str | None = None) -> None:
        """Invalidate ``token`` (default: every refresh token), as a revoked app would."""
        for key in [token] if token else list(self._refresh_tokens):
            self._refresh_tokens.discard(key)
            self._spent_refresh_tokens.add(key)

    def oa_signature(self, raw_body: bytes, timestamp: str) -> str:
        """The ``X-ZEvent-Signature`` value Zalo would send for an OA webhook body."""
        digest = hashlib.sha256(
            self.oa_app_id.encode() + raw_body + timestamp.encode() + self.oa_secret_key.encode()
        ).hexdigest()
        return f"mac={digest}"

    def oa_group_event(
        self,
        sender_id: str,
        group_id: str,
        text: str = "",
        *,
        event_name: str = "user_send_group_text",
        timestamp_ms: int | None = None,
        image_url: str | None = None,
        quote: str | None = None,
    ) -> JSONDict:
        """An OA webhook event for a message in a group, shaped like Zalo's: ``sender.id`` is
        the user's id for this OA, ``recipient.id`` the group, ``timestamp`` milliseconds;
        ``quote`` is the id of a message it replies to (``message.quote_msg``)."""
        message: JSONDict = {"msg_id": _hex_id(16)}
        if quote is not None:
            message["quote_msg"] = {"msg_id": quote}
        if text:
            message["text"] = text
        if image_url is not None:
            message["attachments"] = [{"type": "image", "payload": {"url": image_url}}]
        return {
            "app_id": self.oa_app_id,
            "event_name": event_name,
            "sender": {"id": sender_id},
            "recipient": {"id": group_id},
            "message": message,
            "timestamp": str(_now_ms() if timestamp_ms is None else timestamp_ms),
        }

    async def deliver_oa_webhook(
        self, url: str, event: JSONDict, signature: str | None = None
    ) -> int:
        """POST ``event`` to the OA webhook at ``url``, signed as Zalo signs it (unless
        ``signature`` is given, e.g. a forged one); returns the HTTP status."""
        raw = json.dumps(event, ensure_ascii=False).encode()
        if signature is None:
            signature = self.oa_signature(raw, str(event.get("timestamp", "")))
        headers = {"Content-Type": "application/json", "X-ZEvent-Signature": signature}
        async with ClientSession() as session, session.post(url, data=raw, headers=headers) as resp:
            await resp.read()
            return resp.status

    # ------------------------------------------------------------------ HTTP: bot API
    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = dict(request.query)
        if request.method != "POST" or not request.body_exists:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            params.update(body)
        else:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        return params

    async def _handle_bot(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        raw_method = request.match_info["method"]
        method = self._canonical.get(raw_method.lower(), raw_method)
        self.calls[method] += 1
        try:
            params = await self._read_params(request)
        except (ValueError, json.JSONDecodeError) as exc:
            return ZaloApiError(400, f"Bad request: {exc}").response()
        self.requests.append({"method": method, "params": params, "token": token})
        try:
            if token != self.bot_token:
                raise ZaloApiError(401, "Unauthorized")
            faulty = await self._apply_fault(method)
            if faulty is not None:
                return faulty
            # Method names are case-sensitive on the real API.
            handler = self._handlers.get(raw_method.lower())
            if handler is None or raw_method not in BOT_METHODS:
                raise ZaloApiError(404, "Not found")
            result = await handler(params)
        except ZaloApiError as exc:
            return exc.response()
        finally:
            self._notify_sent()
        answer: JSONDict = {"ok": True}
        if result is not None:
            answer["result"] = result
        return web.json_response(answer)

    async def _api_getMe(self, params: JSONDict) -> JSONDict:
        return dict(self.bot_info)

    async def _api_getUpdates(self, params: JSONDict) -> Any:
        if self.webhook.get("url"):
            raise ZaloApiError(400, "Bad request: webhook is set, call deleteWebhook first")
        try:
            timeout = 0.0 if self.ignore_timeout else float(params.get("timeout") or 30)
        except (TypeError, ValueError):
            raise ZaloApiError(400, "Bad request: timeout must be a number") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while not self._pending and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._update_event.wait(), remaining)
        if not self._pending:
            self.poll_answers.append("408")
            raise ZaloApiError(408, "Request timeout")
        self.poll_answers.append("update")
        if self.updates_as_list:
            batch, self._pending = self._pending, []
            return batch
        return self._pending.pop(0)

    async def _api_setWebhook(self, params: JSONDict) -> JSONDict:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if not url.startswith(("http://", "https://")):
            raise ZaloApiError(400, "Bad request: url must be an HTTPS URL")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise ZaloApiError(400, "Bad request: secret_token must be 8 to 256 characters")
        self.webhook = {"url": url, "secret_token": secret, "updated_at": _now_ms()}
        return {"url": url, "updated_at": self.webhook["updated_at"]}

    async def _api_deleteWebhook(self, params: JSONDict) -> JSONDict:
        self.webhook = {"url": "", "secret_token": None, "updated_at": _now_ms()}
        return {"url": "", "updated_at": self.webhook["updated_at"]}

    async def _api_getWebhookInfo(self, params: JSONDict) -> JSONDict:
        return {"url": self.webhook.get("url") or "", "updated_at": self.webhook["updated_at"]}

    @staticmethod
    def _require_chat(params: JSONDict) -> str:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ZaloApiError(400, "Bad request: chat_id is required")
        return str(chat_id)

    @staticmethod
    def _check_text(value: Any, what: str, required: bool) -> str | None:
        if value is None and not required:
            return None
        text = value if isinstance(value, str) else ""
        if not 1 <= zalo_units(text) <= MAX_TEXT_LEN:
            raise ZaloApiError(
                400, f"Bad request: {what} length must be from 1 to {MAX_TEXT_LEN} characters"
            )
        return text

    def _record(self, method: str, chat_id: str, content: JSONDict) -> JSONDict:
        result = {"message_id": _hex_id(), "date": _now_ms()}
        record = {"method": method, "chat_id": chat_id, "seq": next(self._seq), **content}
        record.update(result)
        self._by_chat.setdefault(chat_id, []).append(record)
        self.sent.append(record)
        return result

    async def _api_sendMessage(self, params: JSONDict) -> JSONDict:
        chat_id = self._require_chat(params)
        text = self._check_text(params.get("text"), "text", required=True)
        return self._record("sendMessage", chat_id, {"text": text})

    async def _api_sendPhoto(self, params: JSONDict) -> JSONDict:
        chat_id = self._require_chat(params)
        photo = params.get("photo")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            raise ZaloApiError(400, "Bad request: photo must be an image URL")
        if self._url and photo.startswith(f"{self._url}/files/"):
            # Zalo downloads the photo itself: a broken link to the fake's files is an error.
            name = photo.removeprefix(f"{self._url}/files/")
            if name not in self.files:
                raise ZaloApiError(400, "Bad request: can not download photo")
            self.file_downloads[name] += 1
        caption = self._check_text(params.get("caption"), "caption", required=False)
        content: JSONDict = {"photo": photo}
        if caption is not None:
            content["caption"] = caption
        return self._record("sendPhoto", chat_id, content)

    async def _api_sendSticker(self, params: JSONDict) -> JSONDict:
        chat_id = self._require_chat(params)
        sticker = params.get("sticker")
        if not isinstance(sticker, str) or not sticker:
            raise ZaloApiError(400, "Bad request: sticker is required")
        return self._record("sendSticker", chat_id, {"sticker": sticker})

    async def _api_sendChatAction(self, params: JSONDict) -> None:
        chat_id = self._require_chat(params)
        action = params.get("action")
        if action not in ("typing", "upload_photo"):
            raise ZaloApiError(400, "Bad request: action must be typing or upload_photo")
        self.chat_actions.append({"chat_id": chat_id, "action": action})
        return None

    # ------------------------------------------------------------------ HTTP: OA API
    async def _handle_group_message(self, request: web.Request) -> web.Response:
        self.calls[OA_GROUP_MESSAGE] += 1
        try:
            faulty = await self._apply_fault(OA_GROUP_MESSAGE)
            if faulty is not None:
                return faulty
            token = request.headers.get("access_token", "")
            expiry = self._access_tokens.get(token)
            if expiry is None:
                self.oa_rejections.append({"token": token, "error": OA_TOKEN_INVALID})
                return self._oa_error(OA_TOKEN_INVALID, "Access token is invalid")
            if expiry <= time.time():
                self.oa_rejections.append({"token": token, "error": OA_TOKEN_EXPIRED})
                return self._oa_error(OA_TOKEN_EXPIRED, "Access token has expired")
            try:
                body = await request.json()
            except ValueError:
                return self._oa_error(OA_INVALID_PARAM, "Invalid JSON body")
            recipient = body.get("recipient") if isinstance(body, dict) else None
            message = body.get("message") if isinstance(body, dict) else None
            group_id = recipient.get("group_id") if isinstance(recipient, dict) else None
            text = message.get("text") if isinstance(message, dict) else None
            if not isinstance(group_id, str) or not group_id:
                return self._oa_error(OA_INVALID_PARAM, "recipient.group_id is required")
            image = self._attached_image(message)
            if image is None and message is not None and "attachment" in message:
                return self._oa_error(OA_INVALID_PARAM, "attachment_id is not an uploaded image")
            if image is not None and text is None:
                text = ""
            elif not isinstance(text, str) or not 1 <= zalo_units(text) <= MAX_TEXT_LEN:
                return self._oa_error(OA_INVALID_PARAM, "message.text must be 1-2000 characters")
            message_id = _hex_id(16)
            record = {"group_id": group_id, "text": text, "message_id": message_id}
            if image is not None:
                record["image"] = image
            record["access_token"] = token
            self._by_group.setdefault(group_id, []).append(record)
            self.oa_sent.append(record)
            data = {"message_id": message_id, "group_id": group_id}
            return web.json_response({"error": 0, "message": "Success", "data": data})
        finally:
            self._notify_sent()

    def _attached_image(self, message: Any) -> str | None:
        """The attachment id of an image message (a media template), if it was uploaded."""
        try:
            element = message["attachment"]["payload"]["elements"][0]
        except (KeyError, IndexError, TypeError):
            return None
        ident = element.get("attachment_id") if isinstance(element, dict) else None
        if element.get("media_type") != "image" or ident not in self.oa_uploads:
            return None
        return str(ident)

    async def _handle_upload_image(self, request: web.Request) -> web.Response:
        """``POST /v2.0/oa/upload/image``: a multipart ``file``, JPG or PNG, at most 1 MB."""
        self.calls[OA_UPLOAD_IMAGE] += 1
        faulty = await self._apply_fault(OA_UPLOAD_IMAGE)
        if faulty is not None:
            return faulty
        expiry = self._access_tokens.get(request.headers.get("access_token", ""))
        if expiry is None:
            return self._oa_error(OA_TOKEN_INVALID, "Access token is invalid")
        if expiry <= time.time():
            return self._oa_error(OA_TOKEN_EXPIRED, "Access token has expired")
        form = await request.post()
        upload = form.get("file")
        content = upload.file.read() if hasattr(upload, "file") else b""
        if not content or len(content) > 1024 * 1024:
            return self._oa_error(OA_INVALID_PARAM, "file must be a JPG or PNG of at most 1 MB")
        if not (content.startswith(b"\x89PNG") or content.startswith(b"\xff\xd8")):
            return self._oa_error(OA_INVALID_PARAM, "file must be a JPG or PNG image")
        attachment_id = _hex_id(12)
        self.oa_uploads[attachment_id] = content
        return web.json_response(
            {"error": 0, "message": "Success", "data": {"attachment_id": attachment_id}}
        )

    @staticmethod
    def _oa_error(code: int, message: str) -> web.Response:
        return web.json_response({"error": code, "message": message})

    async def _handle_refresh(self, request: web.Request) -> web.Response:
        self.calls[OA_REFRESH] += 1
        form = await request.post()
        refresh = str(form.get("refresh_token") or "")
        call: JSONDict = {"refresh_token": refresh, "ok": False}
        self.refresh_calls.append(call)
        faulty = await self._apply_fault(OA_REFRESH)
        if faulty is not None:
            call["error"] = "fault"
            return faulty
        if request.headers.get("secret_key") != self.oa_app_secret:
            call["error"] = OAUTH_INVALID_SECRET
            return self._oauth_error(OAUTH_INVALID_SECRET, "Invalid secret key")
        if str(form.get("app_id") or "") != self.oa_app_id:
            call["error"] = OAUTH_INVALID_SECRET
            return self._oauth_error(OAUTH_INVALID_SECRET, "Invalid app_id")
        if form.get("grant_type") != "refresh_token" or refresh not in self._refresh_tokens:
            call["error"] = OAUTH_INVALID_REFRESH
            return self._oauth_error(OAUTH_INVALID_REFRESH, "Invalid refresh token")
        # Single use: the refresh token is spent; the old access token lives until it expires.
        self._refresh_tokens.discard(refresh)
        self._spent_refresh_tokens.add(refresh)
        issued = self.issue_oa_tokens()
        call["ok"] = True
        call["issued_access_token"] = issued["access_token"]
        return web.json_response(issued)

    @staticmethod
    def _oauth_error(code: int, name: str) -> web.Response:
        return web.json_response(
            {
                "error": code,
                "error_name": name,
                "error_reason": name,
                "error_description": f"{name}: it may have been used already or revoked",
            }
        )

    # ------------------------------------------------------------------ HTTP: files, root
    async def _handle_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        stored = self.files.get(name)
        if stored is None:
            return web.Response(status=404, text="not found")
        if (fault := await self._apply_fault("file")) is not None:  # fail_next("file", …)
            return fault
        self.file_downloads[name] += 1
        return web.Response(body=stored[0], content_type=stored[1])

    async def _handle_root(self, request: web.Request) -> web.Response:
        return web.json_response({"fake_zalo": True, "control": _CONTROL_HELP})

    # ------------------------------------------------------------------ control endpoints
    def _control_handler(self, name: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            try:
                result = await self._control(name, request)
            except (LookupError, ValueError, TypeError) as exc:
                return web.json_response({"ok": False, "description": str(exc)}, status=400)
            except TimeoutError as exc:
                return web.json_response({"ok": False, "description": str(exc)}, status=408)
            return web.json_response({"ok": True, "result": result})

        return handler

    async def _control(self, name: str, request: web.Request) -> Any:
        body: JSONDict = await request.json() if request.method == "POST" else {}
        query = request.query
        if name == "user_text":
            return self.user_text(
                str(body["user_id"]),
                str(body["text"]),
                display_name=body.get("display_name", "Người dùng thử"),
                chat_id=body.get("chat_id"),
            )
        if name == "user_image":
            return self.user_image(
                str(body["user_id"]), body.get("photo_url"), caption=body.get("caption")
            )
        if name == "fail_next":
            self.fail_next(
                str(body["method"]),
                status=body.get("status", 429),
                error_code=body.get("error_code"),
                times=int(body.get("times", 1)),
                delay=float(body.get("delay", 0.0)),
                description=body.get("description"),
                body=body.get("body"),
            )
            return True
        if name == "oa_tokens":
            return self.issue_oa_tokens()
        if name == "sent":
            return self.messages_to(query["chat_id"]) if "chat_id" in query else self.sent
        if name == "wait_messages":
            return await self.wait_for_messages(
                query["chat_id"],
                int(query.get("count", "1")),
                timeout=float(query.get("timeout", "5")),
            )
        if name == "group_messages":
            return self.group_messages(query["group_id"])
        raise LookupError(name)


async def _serve(host: str, port: int) -> None:
    fake = FakeZalo()
    url = await fake.start(host, port)
    print(url, fake.bot_token, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point for ``python -m tests.fake_zalo``."""
    parser = argparse.ArgumentParser(description="Fake Zalo Bot platform + OA API for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082, help="0 picks a free port")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main(sys.argv[1:])
