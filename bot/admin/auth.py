"""Signing in and out: a password form, and the one-time links that /weblogin sends in chat.

A sign-in link opens a page with a button rather than signing in on GET, because messengers
fetch links for previews and would otherwise use up the single-use token.
"""

from __future__ import annotations

import re

from aiohttp import web

from bot.admin.context import admin_of
from bot.admin.cookies import LANG_COOKIE, SESSION_COOKIE, clear_cookie, set_cookie
from bot.admin.keys import TRANSLATOR
from bot.admin.passwords import verify_password
from bot.admin.permissions import current_viewer, public
from bot.channels.http import client_address as forwarded_address
from handlers.casework import WEB_ROLES
from handlers.i18n import SUPPORTED
from storage import webauth

HOME = "/admin/"


# Printable ASCII only: no CR, LF or TAB (header injection, a crash), no spaces or backslashes.
NEXT_RE = re.compile(r"/admin(?:[/?#][!-\[\]-~]*)?")


def safe_next(target: str | None) -> str:
    """Only our own admin pages: never an open redirect to another site."""
    if target and NEXT_RE.fullmatch(target):
        return target
    return HOME


def redirect(location: str) -> web.Response:
    """A 303 to return (not raise), so cookies can be set on it."""
    return web.Response(status=303, headers={"Location": location})


def client_address(request: web.Request) -> str:
    """Per client, not per proxy, when WEB_TRUST_PROXY says a proxy of ours is in front."""
    return forwarded_address(request, admin_of(request).context.settings.web_trust_proxy)


def _locked_message(request: web.Request, seconds: float) -> str:
    t = request[TRANSLATOR]
    minutes = max(1, int(seconds // 60) + (1 if seconds % 60 else 0))
    return t(
        "Too many failed sign-ins. For your security, signing in is paused: try again in {minutes} minutes.",
        minutes=minutes,
    )


async def _signed_in(request: web.Request, person_id: int) -> web.StreamResponse:
    """A fresh session (never one chosen by the visitor) and its cookie."""
    admin = admin_of(request)
    async with admin.context.sessions() as session, session.begin():
        sid, _csrf = await webauth.open_session(session, person_id)
    form = await request.post()
    response = redirect(safe_next(str(form.get("next", "")) or None))
    set_cookie(request, response, SESSION_COOKIE, sid, max_age=webauth.SESSION_HOURS * 3600)
    return response


async def _may_use_admin(request: web.Request, person_id: int) -> bool:
    async with admin_of(request).context.sessions() as session:
        person = await webauth.web_person(session, person_id)
    return person is not None and person.role in WEB_ROLES


@public
async def login_form(request: web.Request) -> web.StreamResponse:
    if current_viewer(request) is not None:
        return redirect(safe_next(request.query.get("next")))
    return admin_of(request).pages.page(
        request, "login.html", error="", username="", next=request.query.get("next", "")
    )


@public
async def login_password(request: web.Request) -> web.StreamResponse:
    admin = admin_of(request)
    t = request[TRANSLATOR]
    form = await request.post()
    username = str(form.get("username", "")).strip().lower()[:64]
    password = str(form.get("password", ""))
    address = client_address(request)
    next_page = str(form.get("next", ""))

    def again(error: str, status: int) -> web.Response:
        return admin.pages.page(
            request, "login.html", status, error=error, username=username, next=next_page
        )

    throttle = admin.throttle
    async with admin.context.sessions() as session, session.begin():
        wait = await throttle.locked_for(session, username, address)
        if wait:
            return again(_locked_message(request, wait), 429)
        attempt = await throttle.attempt(session, username, address)
        account = await webauth.account(session, username) if username else None
    decoy = await admin.decoy_hash()  # before the branch: the first sign-in makes it, either way
    if account is None:
        await verify_password(decoy, password)
        ok = False
    else:
        ok = await verify_password(account.password_hash, password)
    if not ok or account is None:
        async with admin.context.sessions() as session:
            wait = await throttle.locked_for(session, username, address)
        if wait:
            return again(_locked_message(request, wait), 429)
        return again(t("Wrong username or password."), 401)
    async with admin.context.sessions() as session, session.begin():
        await throttle.succeeded(session, username, address, attempt)
    if not await _may_use_admin(request, account.person_id):
        return again(t("Your role does not give access to the web admin."), 403)
    return await _signed_in(request, account.person_id)


@public
async def link_page(request: web.Request) -> web.StreamResponse:
    admin = admin_of(request)
    token = request.match_info["token"]
    async with admin.context.sessions() as session:
        live = await webauth.login_token_is_live(session, token)
    if not live:
        return _expired(request)
    return admin.pages.page(request, "login_link.html", token=token)


def _expired(request: web.Request) -> web.Response:
    t = request[TRANSLATOR]
    return admin_of(request).pages.message(
        request,
        410,
        t("Sign-in link not valid"),
        t(
            "This sign-in link has expired or was already used. Send /weblogin to the bot for a new one."
        ),
    )


@public
async def link_sign_in(request: web.Request) -> web.StreamResponse:
    # No lockout here: a link's token cannot be guessed, and a lockout someone else caused on
    # this address or username must never keep the owner from the link they asked for.
    admin = admin_of(request)
    async with admin.context.sessions() as session, session.begin():
        person_id = await webauth.redeem_login_token(session, request.match_info["token"])
    if person_id is None:
        return _expired(request)
    if not await _may_use_admin(request, person_id):
        raise web.HTTPForbidden()
    return await _signed_in(request, person_id)


@public
async def logout(request: web.Request) -> web.StreamResponse:
    sid = request.cookies.get(SESSION_COOKIE, "")
    if sid:
        async with admin_of(request).context.sessions() as session, session.begin():
            await webauth.close_session(session, sid)
    response = redirect("/admin/login")
    clear_cookie(response, SESSION_COOKIE)
    return response


@public
async def choose_language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    lang = str(form.get("lang", ""))
    response = redirect(safe_next(str(form.get("next", "")) or None))
    if lang in SUPPORTED:
        set_cookie(request, response, LANG_COOKIE, lang, max_age=365 * 24 * 3600)
    return response


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/login", login_form),
        web.post("/login", login_password),
        web.get("/login/{token}", link_page),
        web.post("/login/{token}", link_sign_in),
        web.post("/logout", logout),
        web.post("/lang", choose_language),
    ]
