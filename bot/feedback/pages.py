"""The public feedback page: `/feedback` to send, `/feedback/status` to follow a case.

Plain server-rendered HTML that works without JavaScript on a cheap phone over a slow link.
Every refusal re-draws the form with what the person typed and says why, in their language.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.channels.http import client_address
from bot.dispatcher import FloodGuard
from bot.effects import EffectApplier
from bot.feedback.context import FeedbackContext
from bot.feedback.guard import COOKIE, FormTokens, TokenProblem, browser_cookie
from bot.feedback.service import (
    AlreadyFiled,
    Filed,
    Submission,
    act_as_sender,
    file_feedback,
    filed_earlier,
    public_status,
    sender_actions,
)
from bot.feedback.uploads import (
    ACCEPT,
    StoredFile,
    UploadRefused,
    discard,
    megabytes,
    receive_file,
)
from bot.locks import KeyedLocks
from handlers.casedesk import MAX_NOTE
from handlers.casework import Action, Refusal
from handlers.forms import Catalog
from handlers.i18n import N_, SUPPORTED, Translations, Translator
from handlers.org import HOST_KINDS
from handlers.ports import ReportView, StaleCase, UnitView
from handlers.status import event_line, public_history, status_label
from storage.db import Sessions
from storage.seal import shared_secret

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).with_name("templates")
TEXT_FIELDS = ("token", "website", "lang", "unit", "category", "urgency", "description")
OPTIONAL_FIELDS = ("name", "contact")
MAX_NAME = 200
MAX_FIELD_BYTES = 64 * 1024
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# No script at all; the one inline style block (one request on a slow link) runs by its nonce,
# so markup slipped into the page can neither run nor restyle it.
CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

BUSY = N_(
    "Too many submissions from your connection. Please wait a few minutes and send again: what you typed is kept below."
)
TOKEN_MESSAGES = {
    TokenProblem.INVALID: N_(
        "The form could not be checked (it may have been open before the server restarted, or your browser refused our cookie). What you typed is kept: please press Send again."
    ),
    TokenProblem.EXPIRED: N_(
        "The form was open for a long time and has expired. What you typed is kept: please press Send again."
    ),
    TokenProblem.TOO_FAST: N_(
        "The form was sent faster than a person can fill it in. Please check your entries and press Send again."
    ),
}
HONEYPOT = N_("The form could not be accepted. Please press Send again.")
BROKEN = N_(
    "The form arrived incomplete or damaged. Please check your entries and press Send again."
)
FILES_AGAIN = N_("For your safety, files are not kept when a form is refused: choose them again.")


@dataclass
class Problems:
    """What is wrong with a submission: by field, and in general."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


@dataclass
class Posted:
    values: dict[str, str]
    files: list[StoredFile] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)
    broken: bool = False  # the body ended early or was malformed


class FeedbackPage:
    def __init__(
        self,
        *,
        sessions: Sessions,
        effects: EffectApplier,
        catalog: Catalog,
        translations: Translations,
        units: Callable[[], list[UnitView]],
        attachments_dir: Path,
        max_upload_bytes: int,
        tz: ZoneInfo,
        on_commit: Callable[[], None] = lambda: None,
        secure_cookies: bool = False,
        trust_proxy: bool = False,
        tokens: FormTokens | None = None,
        submit_limit: tuple[int, float] = (5, 600.0),
        status_limit: tuple[int, float] = (10, 600.0),
    ) -> None:
        self.sessions = sessions
        self.effects = effects
        self.catalog = catalog
        self.translations = translations
        self.units = units
        self.attachments_dir = attachments_dir
        self.max_upload_bytes = max_upload_bytes
        self.tz = tz
        self.on_commit = on_commit
        self.secure_cookies = secure_cookies
        self.trust_proxy = trust_proxy
        self.tokens = tokens or FormTokens()
        # Per page (per running app), not global: tests and several apps never share them.
        # Counted in the database: every instance behind the balancer sees the same counts.
        self.submit_guard = FloodGuard(sessions, "feedback:submit", *submit_limit)
        self.status_guard = FloodGuard(sessions, "feedback:status", *status_limit)
        self.locks = KeyedLocks()
        form = catalog.forms["report"]
        self.description_step = form.step("description")
        self.urgency_step = form.step("urgency")
        self.max_files = form.step("attachments").max_items
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    @classmethod
    def from_core(cls, core: FeedbackContext) -> FeedbackPage:
        """The page as the running application serves it (`core`: the host's bundle)."""
        settings = core.settings
        return cls(
            sessions=core.sessions,
            effects=core.effects,
            catalog=core.catalog,
            translations=core.translations,
            units=lambda: core.engine.units,
            attachments_dir=settings.attachments_dir,
            max_upload_bytes=settings.max_attachment_bytes,
            tz=settings.tz,
            on_commit=lambda: core.dispatcher.on_commit(),
            secure_cookies=settings.public_url.startswith("https://"),
            trust_proxy=settings.web_trust_proxy,
            # Signed with a key every instance derives from the shared seal key: a form drawn
            # by one instance behind the balancer is accepted by another.
            tokens=FormTokens(key=shared_secret(core.sessions, "grassroots feedback form")),
        )

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/feedback", self.form_page),
            web.post("/feedback", self.submit),
            web.get("/feedback/status", self.status_page),
            web.post("/feedback/status", self.check_status),
            web.post("/feedback/status/reply", self.reply),
        ]

    # -- rendering -------------------------------------------------------------------------------
    def _locale(self, value: str | None) -> str:
        return value if value in SUPPORTED else self.translations.default_locale

    def _render(
        self,
        request: web.Request,
        template: str,
        t: Translator,
        status: int = 200,
        **context: Any,
    ) -> web.Response:
        cookie, new = browser_cookie(request)
        nonce = secrets.token_urlsafe(16)
        page = self.env.get_template(template).render(
            _=t,
            csp_nonce=nonce,
            lang=t.locale,
            other_langs=[(loc, LANGUAGE_NAMES[loc]) for loc in SUPPORTED if loc != t.locale],
            token=self.tokens.issue(cookie),
            **context,
        )
        response = web.Response(
            text=page,
            content_type="text/html",
            charset="utf-8",
            status=status,
            headers={**HEADERS, "Content-Security-Policy": CSP.format(nonce=nonce)},
        )
        response.enable_compression()  # the form: 14 kB of HTML, 4.4 kB gzipped (slow links)
        if new:
            response.set_cookie(
                COOKIE,
                cookie,
                max_age=30 * 24 * 3600,
                httponly=True,
                samesite="Strict",
                secure=self.secure_cookies,
                path="/feedback",
            )
        return response

    def _form(
        self,
        request: web.Request,
        t: Translator,
        values: dict[str, str] | None = None,
        problems: Problems | None = None,
        status: int = 200,
    ) -> web.Response:
        values = values or {}
        grouped: dict[str, list[UnitView]] = {}
        for unit in sorted(self.units(), key=lambda u: u.name):
            grouped.setdefault(unit.host_kind, []).append(unit)
        kinds = list(HOST_KINDS) + sorted(k for k in grouped if k not in HOST_KINDS)
        unit_groups = [(t(HOST_KINDS.get(k, k)), grouped[k]) for k in kinds if k in grouped]
        return self._render(
            request,
            "form.html",
            t,
            status,
            values=values,
            problems=problems or Problems(),
            unit_groups=unit_groups,
            categories=[(c.code, c.label(t.locale)) for c in self.catalog.categories],
            urgencies=[(o.value, t(o.label)) for o in self.urgency_step.options],
            min_length=self.description_step.min_length,
            max_length=self.description_step.max_length,
            max_files=self.max_files,
            max_mb=megabytes(self.max_upload_bytes),
            accept=ACCEPT,
        )

    # -- sending ---------------------------------------------------------------------------------
    async def form_page(self, request: web.Request) -> web.Response:
        t = self.translations(self._locale(request.query.get("lang")))
        return self._form(request, t, {"urgency": "normal"})

    async def submit(self, request: web.Request) -> web.Response:
        address = client_address(request, self.trust_proxy)
        flooded = await self.submit_guard.check(address) is not None
        if request.content_length and request.content_length > 4 * self.max_upload_bytes:
            # Far beyond any honest form: not worth reading at all.
            raise web.HTTPRequestEntityTooLarge(
                max_size=4 * self.max_upload_bytes, actual_size=request.content_length
            )
        posted = await self._read(request, keep_files=not flooded)
        values = posted.values
        t = self.translations(self._locale(values.get("lang")))
        if flooded:
            log.info("feedback: too many submissions from one address")
            return self._form(request, t, values, Problems(general=[t(BUSY)]), status=429)
        cookie, _ = browser_cookie(request)
        token_key = f"{cookie}:{values.get('token', '')}"
        async with self.locks.hold(token_key):
            # In the database: the second tap may reach another instance.
            earlier = await filed_earlier(self.sessions, token_key)
            if earlier is not None:  # a second tap on Send, or a reload of the answer
                discard(self.attachments_dir, posted.files)
                return self._sent(request, t, earlier)
            problems = self._check(t, values, cookie)
            if posted.broken:
                problems.general.append(t(BROKEN))
            for message in posted.file_problems:
                problems.fields.setdefault("files", message)
            if problems:
                await asyncio.to_thread(discard, self.attachments_dir, posted.files)
                if posted.files or posted.file_problems:
                    problems.general.append(t(FILES_AGAIN))
                return self._form(request, t, values, problems, status=400)
            try:
                filed = await file_feedback(
                    self.sessions,
                    self.effects,
                    _submission(values, t.locale),
                    posted.files,
                    self.on_commit,
                    token_key,
                )
            except AlreadyFiled:  # the other tap won, on another instance, at the same moment
                await asyncio.to_thread(discard, self.attachments_dir, posted.files)
                earlier = await filed_earlier(self.sessions, token_key)
                assert earlier is not None  # its receipt committed before ours was refused
                return self._sent(request, t, earlier)
            except Exception:
                log.exception("feedback: could not file a submission")
                await asyncio.to_thread(discard, self.attachments_dir, posted.files)
                general = [
                    t(
                        "Sorry, something went wrong on our side. What you typed is kept: please press Send again in a moment."
                    )
                ]
                if posted.files:
                    general.append(t(FILES_AGAIN))
                return self._form(request, t, values, Problems(general=general), status=500)
        return self._sent(request, t, filed)

    def _sent(self, request: web.Request, t: Translator, filed: Filed) -> web.Response:
        return self._render(request, "sent.html", t, code=filed.code, secret=filed.secret)

    async def _read(self, request: web.Request, keep_files: bool) -> Posted:
        """Every text field, and the files streamed to disk within the size limit. A file
        refused for its name, type or size is dropped with a reason; the text is never lost."""
        values: dict[str, str] = {}
        files: list[StoredFile] = []
        problems: list[str] = []
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError):
            reader = None
        if reader is None:  # an old browser or a bot that posted url-encoded data
            form = await request.post()
            values = {k: str(v) for k, v in form.items() if k in (*TEXT_FIELDS, *OPTIONAL_FIELDS)}
            return Posted(values)
        try:
            await self._read_parts(reader, values, files, problems, keep_files)
        except (HttpProcessingError, ValueError, AssertionError):
            # A truncated upload or a hostile body: keep what arrived, refuse the rest.
            return Posted(values, files, problems, broken=True)
        return Posted(values, files, problems)

    async def _read_parts(
        self,
        reader: MultipartReader,
        values: dict[str, str],
        files: list[StoredFile],
        problems: list[str],
        keep_files: bool,
    ) -> None:
        lang = self.translations.default_locale
        used = 0
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name in (*TEXT_FIELDS, *OPTIONAL_FIELDS) and part.filename is None:
                values[part.name] = await _read_text(part)
                if part.name == "lang":
                    lang = self._locale(values["lang"])
            elif part.name == "files" and part.filename:
                if not keep_files:
                    continue
                t = self.translations(lang)
                if len(files) >= self.max_files:
                    problems.append(t("You can attach at most {max} files.", max=self.max_files))
                    continue
                try:
                    stored = await receive_file(
                        part,
                        self.attachments_dir,
                        self.max_upload_bytes - used,
                        self.max_upload_bytes,
                    )
                except UploadRefused as refused:
                    problems.append(t(refused.message, **refused.values))
                    continue
                used += stored.size
                files.append(stored)

    def _check(self, t: Translator, values: dict[str, str], cookie: str) -> Problems:
        problems = Problems()
        if values.get("website"):
            problems.general.append(t(HONEYPOT))
        verdict = self.tokens.check(values.get("token", ""), cookie)
        if verdict is not None:
            problems.general.append(t(TOKEN_MESSAGES[verdict]))
        if values.get("unit") not in {u.code for u in self.units()}:
            problems.fields["unit"] = t("Please choose the unit the issue concerns.")
        if self.catalog.category(values.get("category", "")) is None:
            problems.fields["category"] = t("Please choose what the issue is about.")
        if values.get("urgency") not in {o.value for o in self.urgency_step.options}:
            problems.fields["urgency"] = t("Please choose how urgent it is.")
        text = values.get("description", "").strip()
        step = self.description_step
        if len(text) < step.min_length:
            problems.fields["description"] = t(
                "Please describe the issue in at least {min} characters.", min=step.min_length
            )
        elif len(text) > step.max_length:
            problems.fields["description"] = t(
                "The description can be at most {max} characters; it has {count}.",
                max=step.max_length,
                count=len(text),
            )
        for name in OPTIONAL_FIELDS:
            if len(values.get(name, "").strip()) > MAX_NAME:
                problems.fields[name] = t("This can be at most {max} characters.", max=MAX_NAME)
        return problems

    # -- following a case ------------------------------------------------------------------------
    async def status_page(self, request: web.Request) -> web.Response:
        t = self.translations(self._locale(request.query.get("lang")))
        return self._render(request, "status.html", t, values={}, case=None, message="")

    async def _status_form(
        self, request: web.Request, fields: tuple[str, ...]
    ) -> tuple[dict[str, str], Translator, web.Response | None]:
        """The posted values, the reader's language, and a refusal when this address has
        tried too often (answers count too: they carry a secret as well)."""
        form = await request.post()
        values = {k: str(form.get(k, ""))[: 4 * MAX_NOTE] for k in fields}
        t = self.translations(self._locale(values.get("lang")))
        address = client_address(request, self.trust_proxy)
        if await self.status_guard.check(address) is None:
            return values, t, None
        message = t(
            "Too many attempts from your connection. Please wait a few minutes and try again."
        )
        page = self._render(
            request, "status.html", t, 429, values=values, case=None, message=message
        )
        return values, t, page

    def _no_match(
        self, request: web.Request, t: Translator, values: dict[str, str]
    ) -> web.Response:
        # The same words whether the code exists or not: nothing to learn by guessing.
        message = t(
            "No feedback matches this code and secret. Check both (the secret is the one shown when you sent it) and try again."
        )
        return self._render(
            request, "status.html", t, 404, values=values, case=None, message=message
        )

    async def check_status(self, request: web.Request) -> web.Response:
        values, t, refused = await self._status_form(request, ("code", "secret", "lang"))
        if refused is not None:
            return refused
        case = await public_status(self.sessions, values["code"], values["secret"])
        if case is None:
            return self._no_match(request, t, values)
        return self._case_page(request, t, case, values)

    async def reply(self, request: web.Request) -> web.Response:
        """The sender answers a question, adds information, or says whether it was resolved."""
        values, t, refused = await self._status_form(
            request, ("code", "secret", "lang", "token", "text", "action")
        )
        if refused is not None:
            return refused
        case = await public_status(self.sessions, values["code"], values["secret"])
        if case is None:
            return self._no_match(request, t, values)
        try:
            action = Action(values["action"])
        except ValueError:
            action = None
        if action not in sender_actions(case.status):
            notice = t(
                "{code} is now {status}; there is nothing to answer.",
                code=case.code,
                status=status_label(t, case.status),
            )
            return self._case_page(request, t, case, values, notice, 409)
        assert action is not None
        text = values["text"].strip().replace("\r\n", "\n")
        notice = self._reply_problem(request, t, action, values["token"], text)
        if notice:
            return self._case_page(request, t, case, values, notice, 400)
        try:
            updated = await act_as_sender(
                self.sessions,
                self.effects,
                values["code"],
                values["secret"],
                action,
                "" if action == Action.CONFIRM else text,
                self.on_commit,
            )
        except (Refusal, StaleCase):
            fresh = await public_status(self.sessions, values["code"], values["secret"])
            notice = t(
                "{code} changed in the meantime and is now {status}; nothing was saved.",
                code=case.code,
                status=status_label(t, fresh.status if fresh else case.status),
            )
            return self._case_page(request, t, fresh or case, values, notice, 409)
        assert updated is not None
        kept = {k: values[k] for k in ("code", "secret", "lang")}
        return self._case_page(request, t, updated, kept, _thanks(t, action, case.code))

    def _reply_problem(
        self, request: web.Request, t: Translator, action: Action, token: str, text: str
    ) -> str:
        """Why a reply cannot be taken as it is; "" when it can."""
        cookie, _ = browser_cookie(request)
        verdict = self.tokens.check(token, cookie)
        if verdict is not None:
            return t(TOKEN_MESSAGES[verdict])
        if action != Action.CONFIRM and not text:
            return t("Please type your answer as text.")
        if len(text) > MAX_NOTE:
            return t(
                "That is {length} characters; please keep it under {limit}.",
                length=len(text),
                limit=MAX_NOTE,
            )
        return ""

    def _case_page(
        self,
        request: web.Request,
        t: Translator,
        case: ReportView,
        values: dict[str, str],
        notice: str = "",
        status: int = 200,
    ) -> web.Response:
        """A case as its sender sees it: the public history only, and what they may do now.
        The code and secret ride along in the reply form, so the sender need not type them."""
        category = self.catalog.category(case.category)
        history = [
            (self._when(e.at), event_line(t, e.action, e.note)) for e in public_history(case.events)
        ]
        return self._render(
            request,
            "status.html",
            t,
            status,
            values=values,
            case=case,
            message="",
            notice=notice,
            actions=[a.value for a in sender_actions(case.status)],
            max_note=MAX_NOTE,
            status_name=status_label(t, case.status),
            category=category.label(t.locale) if category else case.category,
            received=self._when(case.created_at),
            history=history,
        )

    def _when(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%d/%m/%Y %H:%M")


LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


def _thanks(t: Translator, action: Action, code: str) -> str:
    if action == Action.DISPUTE:
        return t(
            "Thank you. {code} has been reopened and sent back to the people handling it.",
            code=code,
        )
    if action == Action.CONFIRM:
        return t("Thank you for confirming that {code} is resolved.", code=code)
    return t("Thank you: your message has been added to {code}.", code=code)


async def _read_text(part: BodyPartReader) -> str:
    """A text field, read up to a bound: an endless field cannot fill our memory."""
    data = bytearray()
    while chunk := await part.read_chunk(8192):
        if len(data) < MAX_FIELD_BYTES:
            data += chunk[: MAX_FIELD_BYTES - len(data)]
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


def _submission(values: dict[str, str], locale: str) -> Submission:
    """The checked form's fields, as the core files them."""
    return Submission(
        unit=values["unit"],
        category=values["category"],
        urgency=values["urgency"],
        description=values["description"].strip(),
        name=values.get("name", "").strip(),
        contact=values.get("contact", "").strip(),
        locale=locale,
    )
