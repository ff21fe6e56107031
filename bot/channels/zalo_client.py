"""A small typed client for the Zalo Bot platform (``bot-api.zaloplatforms.com``) on aiohttp.

Why our own: no maintained Python library exists, and the API is small and Telegram-like:
``POST {api_url}/bot{token}/{method}`` with a JSON body, answered by
``{"ok", "result", "error_code", "description"}``. Errors become typed exceptions whose
``.permanent`` flag tells the outbox whether a retry can help. The bot token is part of every URL,
so it is redacted from every message and log line this module produces.

Inbound events (from ``getUpdates`` or the webhook) are parsed by ``parse_update`` into a frozen
``ZaloEvent``; the parser is liberal in what it accepts and never raises.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import aiohttp

from handlers.text import split_text, utf16_units

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://bot-api.zaloplatforms.com"
TEXT_LIMIT = 2000
SECRET_HEADER = "X-Bot-Api-Secret-Token"

EVENT_TEXT = "message.text.received"
EVENT_IMAGE = "message.image.received"
EVENT_STICKER = "message.sticker.received"
EVENT_UNSUPPORTED = "message.unsupported.received"
KNOWN_EVENTS = frozenset({EVENT_TEXT, EVENT_IMAGE, EVENT_STICKER, EVENT_UNSUPPORTED})

# An empty long poll is answered with this error code: it means "no updates", not a failure.
POLL_EMPTY_CODE = 408

JSONDict = dict[str, Any]


# ------------------------------------------------------------------------------------- errors
class ZaloError(Exception):
    """A Zalo API call failed. ``permanent`` says whether retrying the same call can succeed.

    Client errors (4xx, bad input) are permanent by default; subclasses override.
    """

    permanent: bool = True

    def __init__(self, code: int, description: str, *, permanent: bool | None = None) -> None:
        super().__init__(f"Zalo error {code}: {description}")
        self.code = code
        self.description = description
        if permanent is not None:
            self.permanent = permanent


class ZaloAuthError(ZaloError):
    """401/403: the token is wrong or revoked, or the bot may not do this. Retrying won't help."""

    permanent = True


class ZaloRateLimited(ZaloError):
    """429 "Quota exceeded": back off and retry later."""

    permanent = False

    def __init__(self, code: int, description: str, *, retry_after: float | None = None) -> None:
        super().__init__(code, description)
        self.retry_after = retry_after


class ZaloServerError(ZaloError):
    """5xx or an unreadable answer from Zalo's side: transient."""

    permanent = False


class ZaloNetworkError(ZaloError):
    """The request never got an answer (connection refused, reset, DNS): transient."""

    permanent = False


class ZaloTimeout(ZaloNetworkError):
    """The request timed out: transient."""

    permanent = False


def error_for(code: int, description: str, retry_after: float | None = None) -> ZaloError:
    """Map an error code (HTTP status or ``error_code``) to the typed exception."""
    if code in (401, 403):
        return ZaloAuthError(code, description)
    if code == 429:
        return ZaloRateLimited(code, description, retry_after=retry_after)
    if code >= 500:
        return ZaloServerError(code, description)
    if code == POLL_EMPTY_CODE:
        return ZaloTimeout(code, description)
    return ZaloError(code, description, permanent=400 <= code < 500 or code < 0)


# --------------------------------------------------------------------------------- splitting
def split_message(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` as Zalo counts them: its servers run on the JVM, so in UTF-16
    code units (an emoji counts twice), cut at line, sentence or word boundaries."""
    return split_text(text, limit, utf16_units)


# ----------------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class ZaloEvent:
    """One inbound Zalo Bot event, mapped at the edge so the core never sees native shapes."""

    event_name: str
    message_id: str
    user_id: str
    chat_id: str
    display_name: str
    text: str
    photo_url: str | None
    date: datetime
    chat_type: str = "PRIVATE"
    is_bot: bool = False
    sticker: str | None = None

    @property
    def is_known(self) -> bool:
        return self.event_name in KNOWN_EVENTS


def _id(value: Any) -> str:
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return str(value).strip()


def _first_str(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _photo_of(message: Mapping[str, Any]) -> str | None:
    """``photo_url``, ``photo`` (a URL, an object with ``url``, or a list of sizes) or ``url``."""
    direct = _first_str(message.get("photo_url"), message.get("photo"), message.get("image_url"))
    if direct:
        return direct
    photo = message.get("photo")
    if isinstance(photo, list) and photo:
        photo = photo[-1]  # the largest size comes last, Telegram-style
    if isinstance(photo, Mapping):
        return _first_str(photo.get("url"), photo.get("photo_url"), photo.get("href"))
    return None


def _date_of(value: Any) -> datetime | None:
    """Milliseconds since the epoch (as Zalo sends); seconds are accepted too."""
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, bool):
        return None
    stamp = float(value)  # ValueError/TypeError for garbage: the caller turns that into None
    if stamp > 1e11:  # after 1973 in ms, or year 5138 in s: it is milliseconds
        stamp /= 1000.0
    return datetime.fromtimestamp(stamp, UTC)


def _infer_event(message: Mapping[str, Any]) -> str:
    if _photo_of(message):
        return EVENT_IMAGE
    if message.get("sticker"):
        return EVENT_STICKER
    if isinstance(message.get("text"), str):
        return EVENT_TEXT
    return EVENT_UNSUPPORTED


def unwrap(body: Any) -> Mapping[str, Any] | None:
    """The event itself, whether or not the body is wrapped in ``{ok, result}``."""
    if not isinstance(body, Mapping):
        return None
    result = body.get("result")
    if isinstance(result, list) and len(result) == 1:
        result = result[0]
    if isinstance(result, Mapping) and "message" in result:
        return result
    return body


def _parse(raw: Any) -> ZaloEvent | None:
    body = unwrap(raw)
    if body is None:
        return None
    message = body.get("message")
    if not isinstance(message, Mapping):
        return None
    sender = message.get("from") or message.get("sender") or {}
    chat = message.get("chat") or {}
    if not isinstance(sender, Mapping) or not isinstance(chat, Mapping):
        return None
    user_id = _id(sender.get("id"))
    chat_id = _id(chat.get("id")) or user_id
    if not user_id or not chat_id:
        return None
    date = _date_of(message.get("date", body.get("timestamp")))
    if date is None:
        return None
    event_name = _first_str(body.get("event_name")) or _infer_event(message)
    text = message.get("text")
    caption = message.get("caption")
    photo_url = _photo_of(message)
    if event_name == EVENT_STICKER and not (message.get("photo_url") or message.get("photo")):
        photo_url = None  # a sticker's ``url`` is its artwork, not a user's photo
    sticker = message.get("sticker")
    if isinstance(sticker, Mapping):
        sticker = sticker.get("id") or sticker.get("sticker_id") or sticker.get("url")
    message_id = _id(message.get("message_id")) or _id(message.get("msg_id"))
    if not message_id:
        # Without an id, deduplication still needs something stable for this delivery.
        message_id = f"{chat_id}:{int(date.timestamp() * 1000)}"
    return ZaloEvent(
        event_name=event_name,
        message_id=message_id,
        user_id=user_id,
        chat_id=chat_id,
        display_name=_first_str(
            sender.get("display_name"), sender.get("name"), sender.get("first_name")
        )
        or "",
        text=text
        if isinstance(text, str) and text
        else caption
        if isinstance(caption, str)
        else "",
        photo_url=photo_url,
        date=date,
        chat_type=_first_str(chat.get("chat_type"), chat.get("type")) or "PRIVATE",
        is_bot=sender.get("is_bot") is True,
        sticker=_first_str(sticker),
    )


def parse_update(body: Any) -> ZaloEvent | None:
    """Map a webhook body or a getUpdates item to a ``ZaloEvent``; ``None`` if malformed.

    Accepts ``{"ok": true, "result": {...}}`` or the bare event. Unknown event names are kept
    (the adapter decides what to say); this function never raises, because one odd delivery must
    not take the webhook or the polling loop down.
    """
    try:
        return _parse(body)
    except Exception:  # liberal by contract: any surprise in the payload means "malformed"
        log.debug("unparseable Zalo update", exc_info=True)
        return None


def secret_ok(expected: str, header_value: str | None) -> bool:
    """Check the webhook's ``X-Bot-Api-Secret-Token`` in constant time. An unset secret fails
    closed: an open webhook would let anyone impersonate members."""
    if not expected or header_value is None:
        return False
    return hmac.compare_digest(expected.encode(), header_value.encode())


# ------------------------------------------------------------------------------------ client
class SessionOwner:
    """An HTTP client that closes its aiohttp session only if it created it, and works as an
    async context manager. Subclasses set `_session` and `_owns_session`."""

    _session: aiohttp.ClientSession | None
    _owns_session: bool

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None


class ZaloBotClient(SessionOwner):
    """Async client for the Zalo Bot platform. Use as ``async with ZaloBotClient(token) as c``.

    A session passed in is borrowed (not closed); otherwise one is created on first use.
    """

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = 15.0,
    ) -> None:
        self._token = token
        self.api_url = api_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self.request_timeout = request_timeout

    def __repr__(self) -> str:
        return f"ZaloBotClient(api_url={self.api_url!r}, token=<redacted>)"

    def redact(self, text: str) -> str:
        """Remove the token from ``text`` (URLs in library errors carry it)."""
        return text.replace(self._token, "<token>") if self._token else text

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        http_timeout: float | None = None,
    ) -> Any:
        """Call any Bot API method and return its ``result``, or raise a typed ``ZaloError``."""
        url = f"{self.api_url}/bot{self._token}/{method}"
        limit = self.request_timeout if http_timeout is None else http_timeout
        log.debug("zalo -> %s", method)
        try:
            async with self._http().post(
                url, json=dict(params or {}), timeout=aiohttp.ClientTimeout(total=limit)
            ) as resp:
                status = resp.status
                raw = await resp.read()
        except TimeoutError:
            raise ZaloTimeout(0, f"{method} timed out after {limit:g}s") from None
        except aiohttp.ClientError as exc:
            # ``from None``: the original exception's text may contain the URL, hence the token.
            reason = self.redact(f"{type(exc).__name__}: {exc}")
            raise ZaloNetworkError(0, f"{method} failed: {reason}") from None
        return self._result(method, status, raw)

    def _result(self, method: str, status: int, raw: bytes) -> Any:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            snippet = self.redact(raw[:200].decode("utf-8", "replace")).strip()
            if status < 300:
                raise ZaloServerError(status, f"{method}: unreadable answer: {snippet!r}")
            raise error_for(status, self.redact(f"HTTP {status}: {snippet or 'no body'}"))
        if body.get("ok") is True:
            return body.get("result")
        code = body.get("error_code") or body.get("errorCode") or status
        try:
            code = int(code)
        except (TypeError, ValueError):
            code = status
        if code < 400 and status >= 400:
            code = status
        description = self.redact(str(body.get("description") or body.get("message") or "Error"))
        retry_after: float | None = None
        parameters = body.get("parameters")
        if isinstance(parameters, dict) and parameters.get("retry_after") is not None:
            try:
                retry_after = float(parameters["retry_after"])
            except (TypeError, ValueError):
                retry_after = None
        if code != POLL_EMPTY_CODE:
            log.info("zalo %s failed: %s %s", method, code, description)
        raise error_for(code, description, retry_after)

    # ---------------------------------------------------------------------------- methods
    async def get_me(self) -> JSONDict:
        """Check the token; returns ``{"id", "account_name", "account_type", ...}``."""
        result = await self.call("getMe")
        return result if isinstance(result, dict) else {}

    async def get_updates(self, timeout: int = 25) -> list[JSONDict]:  # noqa: ASYNC109 - API poll
        """Long-poll for updates; ``[]`` when none arrived within ``timeout`` seconds.

        Zalo answers an empty poll with error 408. The HTTP timeout is longer than the poll, so
        a slow but healthy poll is never cut off by our side. Zalo returns one update object per
        call; a list is accepted too.
        """
        try:
            result = await self.call(
                "getUpdates",
                {"timeout": str(int(timeout))},
                http_timeout=timeout + max(5.0, self.request_timeout),
            )
        except ZaloError as exc:
            if exc.code == POLL_EMPTY_CODE:
                return []
            raise
        if isinstance(result, list):
            return [item for item in result if isinstance(item, dict)]
        if isinstance(result, dict) and result:
            return [result]
        return []

    async def set_webhook(self, url: str, secret_token: str) -> JSONDict:
        """Register ``url``; Zalo then sends ``secret_token`` in ``X-Bot-Api-Secret-Token``."""
        if not 8 <= len(secret_token) <= 256:
            raise ZaloError(400, "Bad Request: secret_token must be 8 to 256 characters")
        result = await self.call("setWebhook", {"url": url, "secret_token": secret_token})
        return result if isinstance(result, dict) else {}

    async def delete_webhook(self) -> JSONDict:
        result = await self.call("deleteWebhook")
        return result if isinstance(result, dict) else {}

    async def get_webhook_info(self) -> JSONDict:
        result = await self.call("getWebhookInfo")
        return result if isinstance(result, dict) else {}

    async def send_message(self, chat_id: str, text: str) -> list[JSONDict]:
        """Send ``text``, split into chunks of at most 2,000 characters; one result per chunk.

        Chunks go out in order, one at a time. If a later chunk fails, the error propagates and
        the earlier chunks stay sent (Zalo cannot unsend).
        """
        if not text.strip():
            raise ZaloError(400, "Bad Request: message text is empty")
        results: list[JSONDict] = []
        for chunk in split_message(text):
            result = await self.call("sendMessage", {"chat_id": str(chat_id), "text": chunk})
            results.append(result if isinstance(result, dict) else {})
        return results

    async def send_photo(
        self, chat_id: str, photo_url: str, caption: str | None = None
    ) -> JSONDict:
        """Send a photo by URL. A caption over the limit is split: the rest follows as text."""
        params: JSONDict = {"chat_id": str(chat_id), "photo": photo_url}
        rest: list[str] = []
        if caption and caption.strip():
            first, *rest = split_message(caption)
            params["caption"] = first
        result = await self.call("sendPhoto", params)
        for chunk in rest:
            await self.call("sendMessage", {"chat_id": str(chat_id), "text": chunk})
        return result if isinstance(result, dict) else {}

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        """Show "typing…"; purely cosmetic, so callers may ignore its errors."""
        await self.call("sendChatAction", {"chat_id": str(chat_id), "action": action})


__all__ = [
    "DEFAULT_API_URL",
    "EVENT_IMAGE",
    "EVENT_STICKER",
    "EVENT_TEXT",
    "EVENT_UNSUPPORTED",
    "KNOWN_EVENTS",
    "SECRET_HEADER",
    "TEXT_LIMIT",
    "ZaloAuthError",
    "ZaloBotClient",
    "ZaloError",
    "ZaloEvent",
    "ZaloNetworkError",
    "ZaloRateLimited",
    "ZaloServerError",
    "ZaloTimeout",
    "error_for",
    "parse_update",
    "secret_ok",
    "split_message",
]
