"""The admin application, mounted under /admin: who is signed in, CSRF, error pages, headers."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.admin import administration, auth, cases, dashboard, exports, groupchats
from bot.admin.context import ADMIN, Admin, AdminContext
from bot.admin.cookies import LANG_COOKIE, SECURE_KEY, SESSION_COOKIE
from bot.admin.csrf import SAFE_METHODS, attach_token, remember_pre_token, token_matches
from bot.admin.keys import TRANSLATOR, VIEWER
from bot.admin.permissions import Handler, Viewer, current_viewer, is_guarded
from bot.admin.render import Pages
from handlers.casework import WEB_ROLES
from handlers.i18n import SUPPORTED
from storage import webauth

STATIC = Path(__file__).with_name("static")
PREFIX = "/admin"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Sign-in links carry a token in the path: never send it on to another site.
    "Referrer-Policy": "no-referrer",
}


def _is_static(request: web.Request) -> bool:
    return request.path.startswith(f"{PREFIX}/static/")


async def _load_viewer(request: web.Request) -> str | None:
    """The signed-in person, if the session cookie is live and their role still allows it;
    returns the session's CSRF token."""
    sid = request.cookies.get(SESSION_COOKIE, "")
    if not sid:
        return None
    async with request.app[ADMIN].context.sessions() as session:
        row = await webauth.find_session(session, sid)
        person = await webauth.web_person(session, row.person_id) if row else None
    if row is None or person is None or person.role not in WEB_ROLES:
        return None
    request[VIEWER] = Viewer(
        person.id,
        person.display_name,
        person.role,
        person.department_id,
        person.department_code,
        person.can_reveal,
    )
    return row.csrf_token


@web.middleware
async def identify(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == PREFIX:  # typed without its slash
        return web.Response(status=301, headers={"Location": f"{PREFIX}/"})
    admin = request.app[ADMIN]
    lang = request.cookies.get(LANG_COOKIE, "")
    request[TRANSLATOR] = admin.context.translations(lang if lang in SUPPORTED else None)
    if _is_static(request):
        return await handler(request)
    attach_token(request, await _load_viewer(request))
    response = await handler(request)
    remember_pre_token(request, response)
    if not response.prepared:
        response.headers.update(HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals as pages in the visitor's language; anonymous visitors go to the sign-in page."""
    t = request[TRANSLATOR]
    pages = request.app[ADMIN].pages
    try:
        return await handler(request)
    except web.HTTPUnauthorized:
        if request.method in SAFE_METHODS:
            return auth.redirect(f"{PREFIX}/login?next={request.path_qs}")
        return pages.message(request, 403, t("Not allowed"), t("Please sign in again."))
    except web.HTTPForbidden:
        return pages.message(
            request,
            403,
            t("Not allowed"),
            t("You do not have permission to see this page or do this."),
        )
    except web.HTTPNotFound:
        return pages.message(request, 404, t("Not found"), t("There is no such page."))


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every view is either public (the sign-in pages) or needs a session; every form carries
    the CSRF token."""
    if _is_static(request):
        return await handler(request)
    route_handler = request.match_info.handler
    if not getattr(route_handler, "public", False) and current_viewer(request) is None:
        raise web.HTTPUnauthorized()
    if request.method not in SAFE_METHODS and not await token_matches(request):
        t = request[TRANSLATOR]
        return request.app[ADMIN].pages.message(
            request,
            403,
            t("Form refused"),
            t(
                "This form has expired or did not come from this site. Go back, reload the page and try again."
            ),
        )
    if not is_guarded(route_handler) and request.match_info.http_exception is None:
        raise web.HTTPForbidden()  # a view someone forgot to guard is closed, not open
    return await handler(request)


def build_admin_app(
    context: AdminContext, views: list[web.AbstractRouteDef] | None = None
) -> web.Application:
    app = web.Application(middlewares=[identify, errors, guard])
    app[ADMIN] = Admin(context, Pages(context.catalog, context.settings.tz))
    app[SECURE_KEY] = context.settings.public_url.startswith("https://")
    # Exports before cases: /cases/export.csv must not be read as a case code.
    app.add_routes(
        auth.routes()
        + dashboard.routes()
        + exports.routes()
        + cases.routes()
        + administration.routes()
        + groupchats.routes()
        + (views or [])
    )
    app.router.add_static("/static", STATIC)
    return app
