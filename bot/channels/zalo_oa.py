"""Zalo Official Account (OA API v3) client: posting into Zalo group chats (GMF).

Why a second client: the Bot platform has no groups, so leader and staff group alerts go through
an Official Account. Its access token lasts about 25 hours and is renewed with a *single-use*
refresh token, which makes refreshing the delicate part:

- refresh proactively when the token expires within five minutes, and reactively once when the
  API says the token is invalid or expired, then retry the send once;
- only one refresh at a time (an ``asyncio.Lock``): a second refresh with the same refresh token
  would be rejected and leave the OA disconnected until an operator re-authorises it;
- save the new pair through the ``TokenStore`` before using it, so a crash cannot lose it;
- a rejected refresh token raises ``ZaloOARefreshError``, permanent, and is never retried in a
  loop: only an operator can fix it.

Webhook events from the OA are signed; ``verify_signature`` checks them over the raw bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp

from bot.channels.zalo_client import (
    SessionOwner,
    ZaloAuthError,
    ZaloError,
    ZaloNetworkError,
    ZaloRateLimited,
    ZaloServerError,
    ZaloTimeout,
    split_message,
)

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://openapi.zalo.me"
DEFAULT_OAUTH_URL = "https://oauth.zaloapp.com"
GROUP_MESSAGE_PATH = "/v3.0/oa/group/message"
UPLOAD_IMAGE_PATH = "/v2.0/oa/upload/image"
# The OA upload API takes JPG or PNG up to 1 MB.
MAX_UPLOAD_BYTES = 1024 * 1024
REFRESH_PATH = "/v4/oa/access_token"
SIGNATURE_HEADER = "X-ZEvent-Signature"

REFRESH_MARGIN = timedelta(minutes=5)
# Zalo's usual access-token lifetime, used when a refresh answer omits ``expires_in``.
DEFAULT_TOKEN_LIFETIME = timedelta(hours=25)
# OA API error codes meaning "this access token is invalid" (-216) or "expired" (-124).
TOKEN_ERROR_CODES = frozenset({-216, -124})
# OA API error code for "too many requests"; treated as a transient rate limit.
RATE_LIMIT_CODES = frozenset({-32})

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class OATokens:
    """The access/refresh pair. ``expires_at`` is when the access token stops working (UTC)."""

    access_token: str
    refresh_token: str
    expires_at: datetime

    def __repr__(self) -> str:  # tokens are secrets: keep them out of logs and tracebacks
        return f"OATokens(expires_at={self.expires_at.isoformat()}, tokens=<redacted>)"


class TokenStore(Protocol):
    """Where the pair lives between runs. Persistence is the caller's (database, file, vault);
    ``save`` must be durable when it returns, because the old refresh token is already spent."""

    async def load(self) -> OATokens | None: ...

    async def save(self, tokens: OATokens) -> None: ...


class MemoryTokenStore:
    """An in-process ``TokenStore`` for tests and one-off scripts; records every save."""

    def __init__(self, tokens: OATokens | None = None) -> None:
        self.tokens = tokens
        self.saves: list[OATokens] = []

    async def load(self) -> OATokens | None:
        return self.tokens

    async def save(self, tokens: OATokens) -> None:
        self.tokens = tokens
        self.saves.append(tokens)


class ZaloOARefreshError(ZaloAuthError):
    """The refresh token was rejected (used, revoked or expired) or there is none: an operator
    must re-authorise the OA app and store a new pair. Permanent; never retried automatically."""

    permanent = True


def _utcnow() -> datetime:
    return datetime.now(UTC)


def verify_signature(
    app_id: str, raw_body: bytes, timestamp: str, secret_key: str, header_value: str | None
) -> bool:
    """Check ``X-ZEvent-Signature: mac=<hex>`` where mac = sha256(app_id + body + timestamp +
    OA secret key). Hash the raw bytes as received: re-serialised JSON would not match."""
    if not header_value or not app_id or not secret_key:
        return False
    given = header_value.strip()
    if given.lower().startswith("mac="):
        given = given[4:].strip()
    digest = hashlib.sha256(
        app_id.encode() + raw_body + str(timestamp).encode(errors="replace") + secret_key.encode()
    ).hexdigest()
    # Undecodable header bytes arrive as surrogates: they never match, and must not raise.
    return hmac.compare_digest(digest.encode(), given.lower().encode(errors="replace"))


class ZaloOAClient(SessionOwner):
    """Send text into Zalo group chats through an Official Account, refreshing tokens safely.

    ``secret_key`` is the *app's* secret key (Zalo for Developers), sent in the ``secret_key``
    header of the OAuth refresh; the *OA* secret key that signs webhooks is a different value and
    goes to ``verify_signature``. One client per process: the lock only serialises refreshes
    within it, so two processes sharing a token store will eventually spend the same refresh
    token (the second then gets ``ZaloOARefreshError``).
    """

    def __init__(
        self,
        app_id: str,
        secret_key: str,
        token_store: TokenStore,
        api_url: str = DEFAULT_API_URL,
        oauth_url: str = DEFAULT_OAUTH_URL,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = 15.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.app_id = app_id
        self._secret_key = secret_key
        self._store = token_store
        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self.request_timeout = request_timeout
        self._clock = clock
        self._tokens: OATokens | None = None
        self._unsaved: OATokens | None = None
        self._lock = asyncio.Lock()
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"ZaloOAClient(app_id={self.app_id!r}, api_url={self.api_url!r})"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    # ------------------------------------------------------------------------------ sending
    async def send_group_text(self, group_id: str, text: str) -> list[JSONDict]:
        """Post ``text`` to group ``group_id``, split at 2,000 characters; one result per chunk."""
        if not text.strip():
            raise ZaloError(400, "Bad Request: message text is empty")
        results: list[JSONDict] = []
        for chunk in split_message(text):
            body = {"recipient": {"group_id": str(group_id)}, "message": {"text": chunk}}
            results.append(await self._send(GROUP_MESSAGE_PATH, body))
        return results

    async def send_group_image(
        self, group_id: str, image: bytes, filename: str, caption: str = ""
    ) -> JSONDict:
        """Upload ``image`` (JPG or PNG, at most 1 MB) and post it to group ``group_id`` as an
        image message, with ``caption`` (cut to 2,000 characters) as its text."""
        if len(image) > MAX_UPLOAD_BYTES:
            raise ZaloError(400, "image over the OA upload limit of 1 MB", permanent=True)
        mime = "image/png" if filename.lower().endswith(".png") else "image/jpeg"
        uploaded = await self._send(UPLOAD_IMAGE_PATH, None, upload=(image, filename, mime))
        attachment_id = uploaded.get("attachment_id")
        if not isinstance(attachment_id, str) or not attachment_id:
            raise ZaloServerError(0, "Zalo OA upload answered without an attachment id")
        element = {"media_type": "image", "attachment_id": attachment_id}
        message: JSONDict = {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "media", "elements": [element]},
            }
        }
        if caption.strip():
            message["text"] = split_message(caption)[0]
        body = {"recipient": {"group_id": str(group_id)}, "message": message}
        return await self._send(GROUP_MESSAGE_PATH, body)

    async def _send(
        self, path: str, body: JSONDict | None, upload: tuple[bytes, str, str] | None = None
    ) -> JSONDict:
        """POST with a fresh token; on a token error refresh once and retry once."""
        token = await self.access_token()
        try:
            return await self._post_api(path, body, token, upload)
        except _TokenRejected as rejected:
            log.info("Zalo OA rejected the access token (%s); refreshing", rejected.code)
            tokens = await self._refresh(stale=token)
        try:
            return await self._post_api(path, body, tokens.access_token, upload)
        except _TokenRejected as rejected:
            raise ZaloAuthError(
                rejected.code,
                "Zalo OA rejected a freshly refreshed access token: check that the app is "
                "still linked to the Official Account and has the group-message permission",
            ) from None

    async def _post_api(
        self,
        path: str,
        body: JSONDict | None,
        access_token: str,
        upload: tuple[bytes, str, str] | None = None,
    ) -> JSONDict:
        form: aiohttp.FormData | None = None
        if upload is not None:  # a fresh form per try: aiohttp reads a FormData only once
            content, filename, mime = upload
            form = aiohttp.FormData()
            form.add_field("file", content, filename=filename, content_type=mime)
        status, answer = await self._request(
            f"{self.api_url}{path}",
            headers={"access_token": access_token},
            json_body=body,
            form=form,
            what="OA image upload" if upload is not None else "OA group message",
        )
        code = _int(answer.get("error"), default=0)
        if code == 0 and status in (401, 403):
            raise ZaloAuthError(status, f"Zalo OA: HTTP {status}")
        if code == 0 and status >= 400:
            raise ZaloError(status, f"Zalo OA: HTTP {status}", permanent=True)
        if code == 0:
            data = answer.get("data")
            return data if isinstance(data, dict) else {}
        message = str(answer.get("message") or answer.get("error_description") or "error")
        if code in TOKEN_ERROR_CODES:
            raise _TokenRejected(code, message)
        if code in RATE_LIMIT_CODES:
            raise ZaloRateLimited(code, message)
        raise ZaloError(code, f"Zalo OA: {message}", permanent=True)

    async def _request(
        self,
        url: str,
        *,
        headers: dict[str, str],
        what: str,
        json_body: JSONDict | None = None,
        form: dict[str, str] | aiohttp.FormData | None = None,
    ) -> tuple[int, JSONDict]:
        """One HTTP call; transport problems become transient typed errors without secrets."""
        try:
            async with self._http().post(
                url,
                headers=headers,
                json=json_body,
                data=form,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            ) as resp:
                status = resp.status
                raw = await resp.read()
        except TimeoutError:
            raise ZaloTimeout(0, f"{what} timed out after {self.request_timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise ZaloNetworkError(0, f"{what} failed: {type(exc).__name__}") from None
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        if status == 429:
            raise ZaloRateLimited(429, f"{what}: quota exceeded")
        if status >= 500 or not isinstance(answer, dict):
            raise ZaloServerError(status, f"{what}: HTTP {status}, unreadable answer")
        return status, answer

    # ------------------------------------------------------------------------------ tokens
    def _expiring(self, tokens: OATokens) -> bool:
        return tokens.expires_at - self._clock() <= REFRESH_MARGIN

    async def _current(self) -> OATokens:
        if self._tokens is None:
            self._tokens = await self._store.load()
        if self._tokens is None:
            raise ZaloOARefreshError(
                0,
                "no Zalo OA tokens are stored: authorise the OA app and store its access and "
                "refresh tokens before enabling group delivery",
            )
        return self._tokens

    async def access_token(self) -> str:
        """A usable access token, refreshed first if it expires within five minutes."""
        await self._flush_unsaved()
        tokens = await self._current()
        if self._expiring(tokens):
            tokens = await self._refresh(stale=tokens.access_token)
        return tokens.access_token

    async def refresh(self) -> OATokens:
        """Force a refresh now (for an operator command or a scheduled job)."""
        tokens = await self._current()
        return await self._refresh(stale=tokens.access_token, force=True)

    async def _refresh(self, stale: str, force: bool = False) -> OATokens:
        """Exchange the refresh token for a new pair, at most once per stale access token.

        Everyone who saw ``stale`` fail waits on the lock; the first one refreshes, the rest find
        a different, unexpired token and use it. The store is re-read under the lock in case
        another process refreshed first.
        """
        async with self._lock:
            current = await self._current()
            stored = await self._store.load()
            if stored is not None and stored.access_token != current.access_token:
                current = self._tokens = stored
            if not force and current.access_token != stale and not self._expiring(current):
                return current
            fresh = await self._exchange(current.refresh_token)
            self._tokens = fresh  # the old refresh token is spent: only this pair works now
            self._unsaved = fresh
            await self._save_unsaved()
            return fresh

    async def _flush_unsaved(self) -> None:
        if self._unsaved is None:
            return
        async with self._lock:
            await self._save_unsaved()

    async def _save_unsaved(self) -> None:
        """Persist the pending pair (lock held). Until that works, nothing is sent with it: a
        pair that exists only in memory is lost on restart, and the old one is already spent."""
        pending = self._unsaved
        if pending is None:
            return
        try:
            await self._store.save(pending)
        except Exception as exc:
            # Only the type: a store's error text may quote the parameters, i.e. the tokens.
            log.error(
                "could not save the refreshed Zalo OA tokens (%s); will retry the save before the "
                "next send. If this process stops first, the OA app must be re-authorised",
                type(exc).__name__,
            )
            raise ZaloError(
                0, "could not save the refreshed Zalo OA tokens", permanent=False
            ) from None
        self._unsaved = None

    async def _exchange(self, refresh_token: str) -> OATokens:
        self.refresh_count += 1
        _status, answer = await self._request(
            f"{self.oauth_url}{REFRESH_PATH}",
            headers={"secret_key": self._secret_key},
            form={
                "app_id": self.app_id,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            },
            what="OA token refresh",
        )
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            code = _int(answer.get("error"), default=0)
            reason = str(
                answer.get("error_description")
                or answer.get("error_name")
                or answer.get("message")
                or "no access token in the answer"
            )
            log.error("Zalo OA refresh token rejected (%s: %s)", code, reason)
            raise ZaloOARefreshError(
                code,
                f"Zalo OA refused the refresh token ({reason}): re-authorise the OA app and "
                "store the new access and refresh tokens; group messages stay undelivered until "
                "then",
            )
        refresh = answer.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            log.warning("Zalo OA refresh answer had no new refresh token; keeping the old one")
            refresh = refresh_token
        lifetime = _int(answer.get("expires_in"), default=0)
        expires_in = timedelta(seconds=lifetime) if lifetime > 0 else DEFAULT_TOKEN_LIFETIME
        log.info("Zalo OA access token refreshed; valid for %s", expires_in)
        return OATokens(access, refresh, self._clock() + expires_in)


class _TokenRejected(Exception):
    """Internal: the OA API said the access token is invalid or expired."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_OAUTH_URL",
    "GROUP_MESSAGE_PATH",
    "MAX_UPLOAD_BYTES",
    "REFRESH_PATH",
    "SIGNATURE_HEADER",
    "TOKEN_ERROR_CODES",
    "UPLOAD_IMAGE_PATH",
    "MemoryTokenStore",
    "OATokens",
    "TokenStore",
    "ZaloOAClient",
    "ZaloOARefreshError",
    "verify_signature",
]
