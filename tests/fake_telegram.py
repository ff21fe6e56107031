"""A fake Telegram Bot API server for offline tests.

Why: the bot must be exercised through the *real* python-telegram-bot stack (HTTP requests,
JSON (de)serialisation, Updater long-polling, retries) without touching the internet. This
module speaks enough of the Bot API over HTTP for that, records everything the bot sends, and
lets tests inject user activity and faults.

Point the bot at it with ``base_url=f"{fake.url}/bot"`` and
``base_file_url=f"{fake.url}/file/bot"``.

Standalone use (for subprocess tests and benchmarks)::

    python -m tests.fake_telegram --port 8081

prints the root URL on the first line of stdout and serves until killed. Out-of-process tests
drive it through the small ``/_control/*`` JSON endpoints (see ``_CONTROL_HELP``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import copy
import html
import itertools
import json
import math
import re
import signal
import struct
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web

JSONDict = dict[str, Any]

BOT_ID = 7_000_000_001
BOT_USERNAME = "grassroots_test_bot"
BOT_FIRST_NAME = "Grassroots Test Bot"

MAX_TEXT_LEN = 4096
MAX_CAPTION_LEN = 1024
MAX_CALLBACK_DATA_BYTES = 64

# Form/multipart values arrive as strings; these keys must stay strings even if they look like
# numbers or JSON, because they are free text or opaque identifiers.
_TEXT_KEYS = frozenset(
    {
        "text",
        "caption",
        "url",
        "secret_token",
        "callback_query_id",
        "file_id",
        "inline_message_id",
        "parse_mode",
        "action",
        "question",
        "title",
        "description",
        "short_description",
        "name",
        "emoji",
        "photo",
        "document",
        "voice",
        "audio",
        "video",
        "sticker",
        "language_code",
        "business_connection_id",
        "ip_address",
    }
)
API_METHODS = (
    "getMe",
    "logOut",
    "close",
    "getUpdates",
    "deleteWebhook",
    "setWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "sendMessage",
    "sendPhoto",
    "sendDocument",
    "sendVoice",
    "editMessageText",
    "editMessageCaption",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "getFile",
    "sendChatAction",
    "getChat",
)
_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?")
_CONTROL_HELP = {
    "POST /_control/user_text": "json {user_id, text, chat_id?, first_name?, username?}",
    "POST /_control/press_button": "json {user_id, message_id, data, chat_id?}",
    "POST /_control/raw_update": "json update dict (update_id optional)",
    "POST /_control/fail_next": "json {method, status?, retry_after?, times?, delay?}",
    "GET /_control/sent": "?chat_id= (optional) -> recorded bot messages",
    "GET /_control/wait_messages": "?chat_id=&count=&timeout= -> messages or 408",
    "GET /_control/calls": "-> per-method call counts",
    "GET /_control/send_log": "-> [[seconds, chat key, accepted]] of every send (rate limits on)",
}


class ApiError(Exception):
    """An error the fake answers with, shaped like the real Bot API error JSON."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class _Fault:
    """One queued fault for a method: an error status, a delay, or both."""

    status: int | None
    retry_after: int
    delay: float
    description: str | None
    remaining: int


@dataclass
class StoredFile:
    """A file the fake can serve through getFile + the file download URL."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    mime_type: str | None = None
    file_name: str | None = None

    def info(self) -> JSONDict:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass
class _BotMessage:
    """A message the bot sent: the test-facing record plus the Bot API Message object."""

    record: JSONDict
    message: JSONDict
    chat_key: str = field(default="")


def chat_key(chat_id: int | str) -> str:
    """Normalise a chat id so that ``123``, ``"123"`` and ``"+123"`` compare equal."""
    text = str(chat_id).strip()
    if _NUMBER_RE.fullmatch(text.lstrip("+")):
        return str(int(float(text)))
    return text


def _as_chat_id(chat_id: int | str) -> int | str:
    key = chat_key(chat_id)
    return int(key) if _NUMBER_RE.fullmatch(key) else key


def _chat_object(chat_id: int | str, user: JSONDict | None = None) -> JSONDict:
    """Build a Chat: positive ids are private chats, ``-100…`` supergroups, other negatives
    groups, ``@name`` channels (mirrors real Telegram id conventions)."""
    cid = _as_chat_id(chat_id)
    if isinstance(cid, str):
        numeric = -1_000_000_000_000 - zlib.crc32(cid.encode())
        return {"id": numeric, "type": "channel", "title": cid, "username": cid.lstrip("@")}
    if cid > 0:
        chat: JSONDict = {"id": cid, "type": "private", "first_name": f"User {cid}"}
        if user:
            chat["first_name"] = user.get("first_name", chat["first_name"])
            if user.get("username"):
                chat["username"] = user["username"]
        return chat
    kind = "supergroup" if str(cid).startswith("-100") else "group"
    return {"id": cid, "type": kind, "title": f"Group {cid}"}


def _utf16_len(text: str) -> int:
    """Telegram entity offsets/lengths are in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def tiny_png() -> bytes:
    """A valid 1x1 PNG so image code paths (PIL, mime sniffing) get real image bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def huge_png(width: int, height: int) -> bytes:
    """A black-and-white PNG of a few hundred kB that decodes to `width` x `height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = bytes(1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _decode_value(key: str, value: Any) -> Any:
    """Turn a form-encoded string back into the JSON value PTB serialised it from."""
    if not isinstance(value, str) or key in _TEXT_KEYS:
        return value
    stripped = value.strip()
    if not stripped:
        return value
    if (
        stripped[0] in "{["
        or stripped in ("true", "false", "null")
        or _NUMBER_RE.fullmatch(stripped)
    ):
        with contextlib.suppress(ValueError):
            return json.loads(stripped)
    return value


# --------------------------------------------------------------------------------------------
# parse_mode validation: the real API rejects malformed markup, which is the most common way a
# bot breaks in production (user text interpolated into HTML). Catch it in tests too.
# --------------------------------------------------------------------------------------------
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def parse_html(text: str) -> str:
    """Validate Telegram HTML and return the plain text the recipient would see."""
    stack: list[str] = []
    out: list[str] = []
    pos = 0
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:lt])
        match = _TAG_RE.match(text, lt)
        if not match:
            raise ApiError(
                400,
                "Bad Request: can't parse entities: Unclosed start tag at byte offset "
                f"{_byte_offset(text, lt)}",
            )
        closing, tag = match.group(1) == "/", match.group(2).lower()
        if tag not in _HTML_TAGS:
            kind = "end" if closing else "start"
            raise ApiError(
                400,
                f'Bad Request: can\'t parse entities: Unsupported {kind} tag "{tag}" at byte '
                f"offset {_byte_offset(text, lt)}",
            )
        if closing:
            if not stack or stack[-1] != tag:
                expected = f'expected "</{stack[-1]}>"' if stack else "no open tag"
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: Unmatched end tag at byte offset "
                    f'{_byte_offset(text, lt)}, {expected}, found "</{tag}>"',
                )
            stack.pop()
        else:
            stack.append(tag)
        pos = match.end()
    if stack:
        raise ApiError(
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1]}"',
        )
    return html.unescape("".join(out))


def parse_markdown_v2(text: str) -> str:
    """Check MarkdownV2 reserved characters are escaped; return approximate plain text."""
    out: list[str] = []
    i = 0
    in_code = False
    in_link_url = False
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if text.startswith("```", i):
            in_code = not in_code
            i += 3
            continue
        if ch == "`":
            in_code = not in_code
            i += 1
            continue
        if in_code:
            out.append(ch)
            i += 1
            continue
        if in_link_url:
            if ch == ")":
                in_link_url = False
            i += 1
            continue
        if text.startswith("](", i):
            in_link_url = True
            i += 2
            continue
        if ch in "*_~[]" or text.startswith("||", i):
            i += 2 if text.startswith("||", i) else 1
            continue
        if ch == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1
            continue
        if ch in _MDV2_RESERVED:
            raise ApiError(
                400,
                f"Bad Request: can't parse entities: Character '{ch}' is reserved and must be "
                "escaped with the preceding '\\'",
            )
        out.append(ch)
        i += 1
    return "".join(out)


def _validate_reply_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )


def _callback_datas(markup: JSONDict | None) -> list[str]:
    if not markup:
        return []
    return [
        button["callback_data"]
        for row in markup.get("inline_keyboard", [])
        for button in row
        if "callback_data" in button
    ]


class FakeTelegram:
    """In-process fake of the Telegram Bot API (aiohttp based).

    Tests inject updates with ``user_text``/``press_button``/…, the bot polls ``getUpdates`` (or
    receives them via ``deliver_webhook``), and tests assert on ``messages_to(chat_id)``.
    """

    def __init__(
        self,
        *,
        bot_username: str = BOT_USERNAME,
        strict_edits: bool = True,
        validate_markup: bool = True,
        shutdown_timeout: float = 0.5,
        rate_limit: float | None = None,
        chat_rate_limit: float | None = None,
        group_rate_limit: float | None = None,
    ) -> None:
        """``strict_edits`` reproduces "message is not modified" errors on no-op edits;
        ``validate_markup`` rejects malformed HTML/MarkdownV2 like the real server does;
        ``rate_limit`` answers 429 to sends beyond that many in any one second (flood control),
        ``chat_rate_limit`` beyond that many to one private chat in any one second and
        ``group_rate_limit`` beyond that many to one group in any one minute."""
        self.rate_limit = rate_limit
        self._recent_sends: collections.deque[float] = collections.deque()
        self.chat_rate_limit = chat_rate_limit
        self.group_rate_limit = group_rate_limit
        self._chat_sends: dict[str, collections.deque[float]] = {}
        self.send_log: list[tuple[float, str, bool]] = []  # every send while a limit is on
        self.bot_user: JSONDict = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.strict_edits = strict_edits
        self.validate_markup = validate_markup
        # Some emulators answer getUpdates at once, whatever its ``timeout`` says.
        self.ignore_timeout = False
        self._shutdown_timeout = shutdown_timeout

        # Public recordings -----------------------------------------------------------------
        self.tokens: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.requests: list[JSONDict] = []  # every API call: {"method", "params", "token"}
        self.sent: list[JSONDict] = []  # sendMessage/sendPhoto/sendDocument records
        self.edits: list[JSONDict] = []
        self.deleted: list[JSONDict] = []
        self.callback_answers: list[JSONDict] = []
        self.chat_actions: list[JSONDict] = []
        self.commands: dict[str, list[JSONDict]] = {}  # scope json -> commands
        self.webhook: JSONDict = {"url": "", "secret_token": None}
        self.injected: list[JSONDict] = []  # every update ever injected, in order
        self.files: dict[str, StoredFile] = {}
        self.confirmed_offset: int = 0

        # Internal state --------------------------------------------------------------------
        self._pending: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._last_update_id = 0
        self._file_seq = itertools.count(1)
        self._callback_seq = itertools.count(1)
        self._msg_ids: dict[str, int] = {}
        self._bot_messages: dict[tuple[str, int], _BotMessage] = {}
        self._by_chat: dict[str, list[JSONDict]] = {}
        self._known_callback_ids: set[str] = set()
        self._faults: dict[str, list[_Fault]] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._update_event = asyncio.Event()
        self._sent_event = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._url = ""
        # Bot API method names are case-insensitive; count calls under the canonical spelling.
        self._canonical = {name.lower(): name for name in API_METHODS}
        self._handlers = {name.lower(): getattr(self, f"_api_{name}") for name in API_METHODS}

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; ``port=0`` picks a free port. Returns the root URL."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        app.router.add_get("/", self._handle_root)
        for name in ("user_text", "press_button", "raw_update", "fail_next"):
            app.router.add_post(f"/_control/{name}", self._control_handler(name))
        for name in ("sent", "wait_messages", "calls", "send_log"):
            app.router.add_get(f"/_control/{name}", self._control_handler(name))
        self._closing = False
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=self._shutdown_timeout)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        bound_port = self._runner.addresses[0][1]
        self._url = f"http://{host}:{bound_port}"
        return self._url

    async def stop(self) -> None:
        """Stop serving; pending long-polls are released first so shutdown is instant."""
        self._closing = True
        self._wake_pollers()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._site = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT``."""
        if not self._url:
            raise RuntimeError("FakeTelegram is not started")
        return self._url

    @property
    def base_url(self) -> str:
        """Value for ``ApplicationBuilder().base_url(...)`` / ``Bot(base_url=...)``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.url}/file/bot"

    # ------------------------------------------------------------------ faults
    def fail_next(
        self,
        method: str,
        status: int | None = 429,
        retry_after: int = 1,
        times: int = 1,
        delay: float = 0.0,
        description: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``status`` (429 carries
        ``retry_after``) after sleeping ``delay`` s. ``status=None`` only delays."""
        self._faults.setdefault(method.lower(), []).append(
            _Fault(status, retry_after, delay, description, times)
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

    @staticmethod
    def _fault_error(fault: _Fault) -> ApiError:
        assert fault.status is not None
        if fault.status == 429:
            return ApiError(
                429,
                fault.description or f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after},
            )
        defaults = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden: bot was blocked by the user",
            404: "Not Found",
            409: "Conflict",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
        }
        return ApiError(fault.status, fault.description or defaults.get(fault.status, "Error"))

    # ------------------------------------------------------------------ recordings / waiting
    def messages_to(self, chat_id: int | str) -> list[JSONDict]:
        """Messages the bot sent to ``chat_id`` in order, with later edits applied."""
        return list(self._by_chat.get(chat_key(chat_id), []))

    def texts_to(self, chat_id: int | str) -> list[str]:
        """Just the text (or caption) of each message to ``chat_id``, for terse asserts."""
        return [m.get("text") or m.get("caption") or "" for m in self.messages_to(chat_id)]

    def last_message_to(self, chat_id: int | str) -> JSONDict:
        """The most recent message to ``chat_id`` (raises with a dump if there is none)."""
        messages = self.messages_to(chat_id)
        if not messages:
            raise AssertionError(f"no messages to chat {chat_id}.\n{self.dump()}")
        return messages[-1]

    def message(self, chat_id: int | str, message_id: int) -> JSONDict:
        """The Bot API ``Message`` object for a bot message (current state after edits)."""
        stored = self._bot_messages.get((chat_key(chat_id), int(message_id)))
        if stored is None:
            raise LookupError(
                f"bot never sent message {message_id} to chat {chat_id}.\n{self.dump()}"
            )
        return copy.deepcopy(stored.message)

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates offset."""
        return list(self._pending)

    def dump(self, limit: int = 30) -> str:
        """Human-readable summary of recorded traffic, used in timeout/assert messages."""
        lines = [f"calls: {dict(self.calls)}", f"pending updates: {len(self._pending)}"]
        lines.append(f"last {min(limit, len(self.sent))} of {len(self.sent)} sent messages:")
        for rec in self.sent[-limit:]:
            body = rec.get("text") if rec.get("text") is not None else rec.get("caption")
            buttons = _callback_datas(rec.get("reply_markup"))
            extra = f" buttons={buttons}" if buttons else ""
            lines.append(
                f"  [{rec['method']} chat={rec['chat_id']} id={rec['message_id']}] {body!r}{extra}"
            )
        return "\n".join(lines)

    async def wait_for_messages(
        self,
        chat_id: int | str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - the API contract tests rely on
    ) -> list[JSONDict]:
        """Wait until at least ``count`` messages to ``chat_id`` exist; returns them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        key = chat_key(chat_id)
        while len(self._by_chat.get(key, [])) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                have = len(self._by_chat.get(key, []))
                raise TimeoutError(
                    f"waited {timeout}s for {count} message(s) to chat {chat_id}, "
                    f"got {have}.\n{self.dump()}"
                )
            event = self._sent_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return self.messages_to(chat_id)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors wait_for_messages
        what: str = "condition",
    ) -> None:
        """Wait until ``predicate()`` is true; re-checked after every bot API call."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"waited {timeout}s for {what}.\n{self.dump()}")
            event = self._sent_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.05))

    def _notify_sent(self) -> None:
        self._sent_event.set()
        self._sent_event = asyncio.Event()

    def _wake_pollers(self) -> None:
        self._update_event.set()
        self._update_event = asyncio.Event()

    # ------------------------------------------------------------------ update injection
    def raw_update(self, update: JSONDict) -> JSONDict:
        """Queue any update as-is (an ``update_id`` is assigned if missing).

        Re-using an ``update_id`` simulates duplicate delivery. Note an update whose id is
        below the bot's confirmed offset is dropped by the next getUpdates, as Telegram would.
        """
        update = copy.deepcopy(update)
        if "update_id" not in update:
            update["update_id"] = next(self._update_ids)
        uid = int(update["update_id"])
        if uid > self._last_update_id:
            self._last_update_id = uid
            self._update_ids = itertools.count(uid + 1)
        callback = update.get("callback_query")
        if callback:
            self._known_callback_ids.add(str(callback["id"]))
        self._pending.append(update)
        self.injected.append(update)
        self._wake_pollers()
        return copy.deepcopy(update)

    def _next_message_id(self, chat_id: int | str) -> int:
        key = chat_key(chat_id)
        self._msg_ids[key] = self._msg_ids.get(key, 0) + 1
        return self._msg_ids[key]

    @staticmethod
    def _user(
        user_id: int, first_name: str, username: str | None, language_code: str | None
    ) -> JSONDict:
        user: JSONDict = {"id": int(user_id), "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def _user_message(
        self,
        user_id: int,
        chat_id: int | str | None,
        first_name: str,
        username: str | None,
        language_code: str | None,
        content: JSONDict,
    ) -> JSONDict:
        user = self._user(user_id, first_name, username, language_code)
        target = user_id if chat_id is None else chat_id
        message: JSONDict = {
            "message_id": self._next_message_id(target),
            "date": int(time.time()),
            "chat": _chat_object(target, user),
            "from": user,
            **content,
        }
        return self.raw_update({"message": message})

    def user_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | str | None = None,
        first_name: str = "Test User",
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> JSONDict:
        """A user sends ``text``; a leading ``/command`` gets a ``bot_command`` entity."""
        content: JSONDict = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return self._user_message(user_id, chat_id, first_name, username, language_code, content)

    def register_file(
        self,
        content: bytes,
        *,
        folder: str = "documents",
        file_name: str | None = None,
        mime_type: str | None = None,
        kind: str = "DOC",
    ) -> StoredFile:
        """Store bytes so getFile + download serve them; returns the file handle."""
        seq = next(self._file_seq)
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"FAKE{kind}{seq:06d}AAAA",
            file_unique_id=f"U{kind}{seq:06d}",
            file_path=f"{folder}/file_{seq}{suffix}",
            content=content,
            mime_type=mime_type,
            file_name=file_name,
        )
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _photo_sizes(self, content: bytes, width: int = 1, height: int = 1) -> list[JSONDict]:
        """Telegram sends several sizes; bots usually take the last (largest)."""
        sizes = []
        for scale in (1, 2):
            stored = self.register_file(content, folder="photos", file_name="p.png", kind="PH")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(content),
                    "width": width * scale,
                    "height": height * scale,
                }
            )
        return sizes

    def user_photo(
        self,
        user_id: int,
        caption: str | None = None,
        chat_id: int | str | None = None,
        content: bytes | None = None,
        first_name: str = "Test User",
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> JSONDict:
        """A user sends a photo (a real tiny PNG unless ``content`` is given)."""
        body: JSONDict = {"photo": self._photo_sizes(content or tiny_png())}
        if caption is not None:
            body["caption"] = caption
        return self._user_message(user_id, chat_id, first_name, username, language_code, body)

    def user_document(
        self,
        user_id: int,
        file_name: str,
        mime_type: str,
        content: bytes,
        caption: str | None = None,
        chat_id: int | str | None = None,
        first_name: str = "Test User",
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> JSONDict:
        """A user sends a document with the given bytes."""
        stored = self.register_file(content, file_name=file_name, mime_type=mime_type)
        body: JSONDict = {
            "document": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": len(content),
            }
        }
        if caption is not None:
            body["caption"] = caption
        return self._user_message(user_id, chat_id, first_name, username, language_code, body)

    def user_voice(
        self,
        user_id: int,
        duration: int = 3,
        content: bytes | None = None,
        chat_id: int | str | None = None,
        first_name: str = "Test User",
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> JSONDict:
        """A user sends a voice note (OGG header bytes unless ``content`` is given)."""
        data = content if content is not None else b"OggS\x00\x02" + b"\x00" * 58
        stored = self.register_file(
            data, folder="voice", file_name="voice.oga", mime_type="audio/ogg", kind="VO"
        )
        body: JSONDict = {
            "voice": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "duration": duration,
                "mime_type": "audio/ogg",
                "file_size": len(data),
            }
        }
        return self._user_message(user_id, chat_id, first_name, username, language_code, body)

    def user_location(
        self,
        user_id: int,
        lat: float,
        lon: float,
        chat_id: int | str | None = None,
        first_name: str = "Test User",
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> JSONDict:
        """A user shares a location."""
        body = {"location": {"latitude": float(lat), "longitude": float(lon)}}
        return self._user_message(user_id, chat_id, first_name, username, language_code, body)

    def user_sticker(
        self,
        user_id: int,
        emoji: str = "👍",
        chat_id: int | str | None = None,
        first_name: str = "Test User",
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> JSONDict:
        """A user sends a sticker (content bots typically do not understand)."""
        stored = self.register_file(
            b"RIFF\x00\x00\x00\x00WEBP", folder="stickers", file_name="s.webp", kind="ST"
        )
        body = {
            "sticker": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
            }
        }
        return self._user_message(user_id, chat_id, first_name, username, language_code, body)

    def press_button(
        self,
        user_id: int,
        message_id: int,
        data: str,
        chat_id: int | str | None = None,
        first_name: str = "Test User",
        username: str | None = None,
        language_code: str | None = "vi",
        check: bool = True,
    ) -> JSONDict:
        """A user presses an inline button on bot message ``message_id``.

        With ``check`` the ``data`` must be on the message's *current* keyboard, catching tests
        that press buttons the user could not see.
        """
        target = user_id if chat_id is None else chat_id
        stored = self._bot_messages.get((chat_key(target), int(message_id)))
        if stored is None:
            raise LookupError(
                f"cannot press button: bot never sent message {message_id} to chat {target}."
                f"\n{self.dump()}"
            )
        if check and data not in _callback_datas(stored.message.get("reply_markup")):
            raise LookupError(
                f"message {message_id} in chat {target} has no button with data {data!r}; "
                f"current buttons: {_callback_datas(stored.message.get('reply_markup'))}"
            )
        callback_id = str(4_000_000_000_000_000_000 + next(self._callback_seq))
        query = {
            "id": callback_id,
            "from": self._user(user_id, first_name, username, language_code),
            "message": copy.deepcopy(stored.message),
            "chat_instance": str(zlib.crc32(chat_key(target).encode())),
            "data": data,
        }
        return self.raw_update({"callback_query": query})

    async def deliver_webhook(self, update: JSONDict, url: str | None = None) -> int:
        """POST ``update`` to the registered webhook (with its secret header); returns status.

        The update is *not* queued for getUpdates, matching webhook delivery.
        """
        target = url or self.webhook.get("url")
        if not target:
            raise RuntimeError("no webhook registered (setWebhook was never called)")
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(self.webhook["secret_token"])
        async with (
            ClientSession() as session,
            session.post(target, data=json.dumps(update), headers=headers) as resp,
        ):
            await resp.read()
            return resp.status

    # ------------------------------------------------------------------ HTTP plumbing
    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {k: _decode_value(k, v) for k, v in request.query.items()}
        if request.method != "POST" or not request.body_exists:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update({k: _decode_value(k, v) for k, v in body.items()})
            return params
        form = await request.post()
        files: dict[str, JSONDict] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = {
                    "file_name": value.filename,
                    "mime_type": value.content_type,
                    "content": value.file.read(),
                }
            else:
                params[key] = _decode_value(key, value)
        # Resolve single-file fields and attach://name references to the uploaded parts.
        for key, upload in files.items():
            if key not in params:
                params[key] = {"upload": upload}
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                name = value.removeprefix("attach://")
                if name in files:
                    params[key] = {"upload": files[name]}
        return params

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method_raw = request.match_info["method"]
        self.tokens.add(token)
        method = self._canonical.get(method_raw.lower(), method_raw)
        self.calls[method] += 1
        try:
            params = await self._read_params(request)
        except (ValueError, json.JSONDecodeError) as exc:
            return self._error_response(ApiError(400, f"Bad Request: invalid request: {exc}"))
        self.requests.append({"method": method, "params": _public(params), "token": token})
        limited = self.rate_limit or self.chat_rate_limit or self.group_rate_limit
        if limited and method.startswith("send"):
            flood = self._flood_control(params)
            if flood is not None:
                self.calls["429"] += 1
                return self._error_response(flood)
        try:
            fault = self._take_fault(method)
            if fault is not None:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status is not None:
                    raise self._fault_error(fault)
            handler = self._handlers.get(method_raw.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            result = await handler(params)
        except ApiError as exc:
            self._notify_sent()
            return self._error_response(exc)
        self._notify_sent()
        return web.json_response({"ok": True, "result": result})

    def _flood_control(self, params: JSONDict) -> ApiError | None:
        """A 429 for a send over the global, per-chat or per-group limit (counted as sends
        arrive, as Telegram does); every send is logged with its time."""
        now = time.monotonic()
        chat = chat_key(params.get("chat_id", ""))
        group = chat.startswith("-")
        windows: list[tuple[collections.deque[float], float, float]] = []
        if self.rate_limit:
            windows.append((self._recent_sends, 1.0, self.rate_limit))
        per_chat = self.group_rate_limit if group else self.chat_rate_limit
        if per_chat:
            sends = self._chat_sends.setdefault(chat, collections.deque())
            windows.append((sends, 60.0 if group else 1.0, per_chat))
        for sends, width, _ in windows:
            while sends and now - sends[0] >= width:
                sends.popleft()
        full = [(sends, width) for sends, width, limit in windows if len(sends) >= limit]
        self.send_log.append((now, chat, not full))
        if full:
            wait = max(1, math.ceil(max(s[0] + w - now for s, w in full)))
            return ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        for sends, _, _ in windows:
            sends.append(now)
        return None

    @staticmethod
    def _error_response(exc: ApiError) -> web.Response:
        return web.json_response(exc.to_json(), status=exc.code)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        self.tokens.add(request.match_info["token"])
        path = request.match_info["file_path"]
        self.calls["<file download>"] += 1
        stored = self._files_by_path.get(path)
        if stored is not None:
            return web.Response(
                body=stored.content, content_type=stored.mime_type or "application/octet-stream"
            )
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _handle_root(self, request: web.Request) -> web.Response:
        return web.json_response({"fake_telegram": True, "control": _CONTROL_HELP})

    # ------------------------------------------------------------------ API methods
    async def _api_getMe(self, params: JSONDict) -> JSONDict:
        return dict(self.bot_user)

    async def _api_logOut(self, params: JSONDict) -> bool:
        return True

    async def _api_close(self, params: JSONDict) -> bool:
        return True

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        offset = int(offset)
        if offset < 0:
            self._pending = self._pending[offset:]
            return
        self._pending = [u for u in self._pending if int(u["update_id"]) >= offset]
        self.confirmed_offset = max(self.confirmed_offset, offset)

    async def _api_getUpdates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        self._confirm(params.get("offset"))
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = 0.0 if self.ignore_timeout else float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates") or None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = [u for u in self._pending if _is_allowed(u, allowed)][:limit]
            if batch or self._closing:
                return copy.deepcopy(batch)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = self._update_event
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return []

    async def _api_deleteWebhook(self, params: JSONDict) -> bool:
        self.webhook = {"url": "", "secret_token": None}
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _api_setWebhook(self, params: JSONDict) -> bool:
        url = params.get("url") or ""
        if url and not str(url).startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        self.webhook = {
            "url": url,
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
            "max_connections": params.get("max_connections"),
        }
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _api_getWebhookInfo(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook.get("url") or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook.get("allowed_updates"):
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    @staticmethod
    def _scope_key(params: JSONDict) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps({"scope": scope, "lang": params.get("language_code") or ""})

    async def _api_setMyCommands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for cmd in commands:
            name = str(cmd.get("command", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name) or not cmd.get("description"):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[self._scope_key(params)] = commands
        return True

    async def _api_getMyCommands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands.get(self._scope_key(params), [])

    async def _api_deleteMyCommands(self, params: JSONDict) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    def _require_chat(self, params: JSONDict) -> int | str:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        return _as_chat_id(chat_id)

    def _render(self, text: str, parse_mode: str | None) -> str:
        """Validate markup like the server does and return what the user would see."""
        if not self.validate_markup or not parse_mode:
            return text
        mode = parse_mode.lower()
        if mode == "html":
            return parse_html(text)
        if mode == "markdownv2":
            return parse_markdown_v2(text)
        if mode == "markdown":
            return text
        raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")

    def _store_bot_message(self, method: str, params: JSONDict, body: JSONDict) -> JSONDict:
        chat_id = self._require_chat(params)
        markup = params.get("reply_markup")
        _validate_reply_markup(markup)
        message_id = self._next_message_id(chat_id)
        message: JSONDict = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat_object(chat_id),
            "from": dict(self.bot_user),
            **body,
        }
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # only inline keyboards are echoed by Telegram
        record: JSONDict = {
            **_public(params),
            "method": method,
            "chat_id": chat_id,
            "text": params.get("text"),
            "reply_markup": markup,
            "message_id": message_id,
            "date": message["date"],
        }
        key = chat_key(chat_id)
        self._bot_messages[(key, message_id)] = _BotMessage(record, message, key)
        self._by_chat.setdefault(key, []).append(record)
        self.sent.append(record)
        return copy.deepcopy(message)

    async def _api_sendMessage(self, params: JSONDict) -> JSONDict:
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise ApiError(400, "Bad Request: message text is empty")
        text = str(text)
        plain = self._render(text, params.get("parse_mode"))
        if len(plain) > MAX_TEXT_LEN:
            raise ApiError(400, "Bad Request: message is too long")
        return self._store_bot_message("sendMessage", params, {"text": plain})

    def _caption_body(self, params: JSONDict) -> JSONDict:
        caption = params.get("caption")
        if caption is None:
            return {}
        plain = self._render(str(caption), params.get("parse_mode"))
        if len(plain) > MAX_CAPTION_LEN:
            raise ApiError(400, "Bad Request: message caption is too long")
        return {"caption": plain}

    def _resolve_input_file(self, params: JSONDict, key: str, folder: str) -> StoredFile:
        value = params.get(key)
        if isinstance(value, dict) and "upload" in value:
            upload = value["upload"]
            params[key] = {k: v for k, v in upload.items() if k != "content"}
            params[key]["size"] = len(upload["content"])
            return self.register_file(
                upload["content"],
                folder=folder,
                file_name=upload.get("file_name"),
                mime_type=upload.get("mime_type"),
                kind="UP",
            )
        if isinstance(value, str) and value in self.files:
            return self.files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self.register_file(b"", folder=folder, file_name=value.rsplit("/", 1)[-1])
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    async def _api_sendPhoto(self, params: JSONDict) -> JSONDict:
        self._require_chat(params)
        stored = self._resolve_input_file(params, "photo", "photos")
        photo = [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.content),
                "width": 1,
                "height": 1,
            }
        ]
        return self._store_bot_message(
            "sendPhoto", params, {"photo": photo, **self._caption_body(params)}
        )

    async def _api_sendDocument(self, params: JSONDict) -> JSONDict:
        self._require_chat(params)
        stored = self._resolve_input_file(params, "document", "documents")
        document: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return self._store_bot_message(
            "sendDocument", params, {"document": document, **self._caption_body(params)}
        )

    async def _api_sendVoice(self, params: JSONDict) -> JSONDict:
        self._require_chat(params)
        stored = self._resolve_input_file(params, "voice", "voice")
        voice: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "duration": 1,
        }
        return self._store_bot_message(
            "sendVoice", params, {"voice": voice, **self._caption_body(params)}
        )

    def _find_for_edit(self, params: JSONDict) -> _BotMessage:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat_id = self._require_chat(params)
        message_id = params.get("message_id")
        stored = (
            self._bot_messages.get((chat_key(chat_id), int(message_id)))
            if message_id is not None
            else None
        )
        if stored is None or stored.record.get("deleted"):
            raise ApiError(400, "Bad Request: message to edit not found")
        return stored

    def _apply_edit(
        self, method: str, params: JSONDict, stored: _BotMessage, changes: JSONDict
    ) -> JSONDict:
        markup = params.get("reply_markup")
        _validate_reply_markup(markup)
        new_markup = markup if markup and "inline_keyboard" in markup else None
        unchanged = all(stored.message.get(k) == v for k, v in changes.items())
        if self.strict_edits and unchanged and stored.message.get("reply_markup") == new_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        for key, value in changes.items():
            if value is None:
                stored.message.pop(key, None)
            else:
                stored.message[key] = value
        # Telegram drops the inline keyboard when an edit omits reply_markup.
        stored.message["edit_date"] = int(time.time())
        if new_markup is None:
            stored.message.pop("reply_markup", None)
        else:
            stored.message["reply_markup"] = new_markup
        record_changes = {k: v for k, v in params.items() if k in ("text", "caption")}
        stored.record.update(record_changes)
        stored.record["reply_markup"] = new_markup
        stored.record["edit_count"] = stored.record.get("edit_count", 0) + 1
        self.edits.append(
            {
                **_public(params),
                "method": method,
                "chat_id": stored.record["chat_id"],
                "message_id": stored.record["message_id"],
                "text": params.get("text"),
                "reply_markup": new_markup,
            }
        )
        return copy.deepcopy(stored.message)

    async def _api_editMessageText(self, params: JSONDict) -> JSONDict:
        stored = self._find_for_edit(params)
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise ApiError(400, "Bad Request: message text is empty")
        if "text" not in stored.message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        plain = self._render(str(text), params.get("parse_mode"))
        if len(plain) > MAX_TEXT_LEN:
            raise ApiError(400, "Bad Request: message is too long")
        return self._apply_edit("editMessageText", params, stored, {"text": plain})

    async def _api_editMessageCaption(self, params: JSONDict) -> JSONDict:
        stored = self._find_for_edit(params)
        if "text" in stored.message:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        return self._apply_edit(
            "editMessageCaption", params, stored, self._caption_body(params) or {"caption": None}
        )

    async def _api_editMessageReplyMarkup(self, params: JSONDict) -> JSONDict:
        stored = self._find_for_edit(params)
        return self._apply_edit("editMessageReplyMarkup", params, stored, {})

    async def _api_deleteMessage(self, params: JSONDict) -> bool:
        chat_id = self._require_chat(params)
        stored = self._bot_messages.get((chat_key(chat_id), int(params.get("message_id") or 0)))
        if stored is None or stored.record.get("deleted"):
            raise ApiError(400, "Bad Request: message to delete not found")
        stored.record["deleted"] = True
        self.deleted.append({"chat_id": chat_id, "message_id": stored.record["message_id"]})
        return True

    async def _api_answerCallbackQuery(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._known_callback_ids:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.callback_answers.append({**_public(params), "callback_query_id": query_id})
        return True

    async def _api_getFile(self, params: JSONDict) -> JSONDict:
        stored = self.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return stored.info()

    async def _api_sendChatAction(self, params: JSONDict) -> bool:
        chat_id = self._require_chat(params)
        self.chat_actions.append({"chat_id": chat_id, "action": params.get("action")})
        return True

    async def _api_getChat(self, params: JSONDict) -> JSONDict:
        chat = _chat_object(self._require_chat(params))
        # Fields ChatFullInfo requires in PTB 22 (Bot API 9.x).
        chat["accent_color_id"] = 0
        chat["max_reaction_count"] = 11
        chat["accepted_gift_types"] = {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        }
        return chat

    # ------------------------------------------------------------------ control endpoints
    def _control_handler(self, name: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            try:
                result = await self._control(name, request)
            except (LookupError, ValueError, TypeError, KeyError) as exc:
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
                int(body["user_id"]),
                str(body["text"]),
                chat_id=body.get("chat_id"),
                first_name=body.get("first_name", "Test User"),
                username=body.get("username"),
                language_code=body.get("language_code", "vi"),
            )
        if name == "press_button":
            return self.press_button(
                int(body["user_id"]),
                int(body["message_id"]),
                str(body["data"]),
                chat_id=body.get("chat_id"),
                check=bool(body.get("check", True)),
            )
        if name == "raw_update":
            return self.raw_update(body)
        if name == "fail_next":
            self.fail_next(
                str(body["method"]),
                status=body.get("status", 429),
                retry_after=int(body.get("retry_after", 1)),
                times=int(body.get("times", 1)),
                delay=float(body.get("delay", 0.0)),
                description=body.get("description"),
            )
            return True
        if name == "sent":
            if "chat_id" in query:
                return self.messages_to(query["chat_id"])
            return self.sent
        if name == "wait_messages":
            return await self.wait_for_messages(
                query["chat_id"],
                int(query.get("count", "1")),
                timeout=float(query.get("timeout", "5")),
            )
        if name == "calls":
            return dict(self.calls)
        if name == "send_log":
            return self.send_log
        raise LookupError(name)


def _is_allowed(update: JSONDict, allowed: Any) -> bool:
    if not allowed:
        return True
    return any(key in update for key in allowed)


def _public(params: JSONDict) -> JSONDict:
    """Params without raw upload bytes, so records stay JSON-serialisable and small."""
    out: JSONDict = {}
    for key, value in params.items():
        if isinstance(value, dict) and "upload" in value:
            upload = value["upload"]
            out[key] = {
                "file_name": upload.get("file_name"),
                "mime_type": upload.get("mime_type"),
                "size": len(upload.get("content", b"")),
            }
        else:
            out[key] = value
    return out


async def _serve(host: str, port: int, **limits: float | None) -> None:
    fake = FakeTelegram(**limits)
    url = await fake.start(host, port)
    print(url, flush=True)
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
    """Entry point for ``python -m tests.fake_telegram``."""
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--rate-limit", type=float, default=None, help="sends per second allowed")
    parser.add_argument("--chat-rate-limit", type=float, help="sends per second to one chat")
    parser.add_argument("--group-rate-limit", type=float, help="sends per minute to one group")
    args = parser.parse_args(argv)
    limits = {
        "rate_limit": args.rate_limit,
        "chat_rate_limit": args.chat_rate_limit,
        "group_rate_limit": args.group_rate_limit,
    }
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, **limits))


if __name__ == "__main__":
    main(sys.argv[1:])
