"""Signing in to the web admin: /weblogin links, passwords, sessions, CSRF, lockout, roles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import time_machine
from sqlalchemy import select, update

from bot.admin.app import build_admin_app
from bot.admin.passwords import hash_password
from bot.admin.permissions import is_guarded
from storage import webauth
from storage.models import Person, WebLoginToken, WebSession
from tests.admin_web import LINK_RE, admin_browser
from tests.cli import cli_result
from tests.test_casework_rules import person

PASSWORD = "correct horse battery"


async def account(core, username: str = "lan", role: str = "staff") -> int:
    async with core.sessions() as session, session.begin():
        someone = Person(display_name=f"{role} {username}", role=role)
        session.add(someone)
        await session.flush()
        assert someone.id is not None
        await webauth.add_account(session, username, await hash_password(PASSWORD), someone.id)
        return someone.id


async def test_weblogin_link_signs_staff_in_once(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    staff = await person(core, "7001", "staff")
    async with admin_browser(core) as browser:
        done = await browser.sign_in_with_link(staff)
        assert done.status == 303 and done.headers["Location"] == "/admin/"
        home = await browser.get("/admin/")
        assert home.status == 200 and "staff 7001" in home.text
        # Only a hash of the token is kept, and the link works once.
        link = LINK_RE.search(staff.transcript[-1]).group(1)  # type: ignore[union-attr]
        token = link.rsplit("/", 1)[1]
        async with core.sessions() as session:
            hashes = (await session.execute(select(WebLoginToken.token_hash))).scalars().all()
            sessions = (await session.execute(select(WebSession))).scalars().all()
        assert token not in hashes and webauth.digest(token) in hashes
        assert len(sessions) == 1 and browser.client.session.cookie_jar
        cookie = browser.client.session.cookie_jar.filter_cookies(
            browser.client.make_url("/admin/")
        )
        assert sessions[0].session_hash == webauth.digest(cookie["gr_admin"].value)
        again = await browser.get(link)
        assert again.status == 410 and "/weblogin" in again.text


async def test_weblogin_links_expire_after_ten_minutes(core):
    staff = await person(core, "7002", "leader")
    with time_machine.travel(datetime.now(UTC), tick=True) as clock:
        out = await staff.say("/weblogin")
        assert "10 minutes" in out[0]
        link = LINK_RE.search(out[0]).group(1)  # type: ignore[union-attr]
        clock.shift(timedelta(minutes=11))
        async with admin_browser(core) as browser:
            page = await browser.get(link)
            assert page.status == 410
            page = await browser.post(link, {})
            assert page.status == 410
            assert (await browser.get("/admin/")).status == 303


async def test_members_get_no_link_and_groups_are_told_to_go_private(core):
    member = await person(core, "7003", "member")
    out = await member.say("/weblogin")
    assert "for staff, leaders and departments" in out[0]
    assert not LINK_RE.search(out[0])
    async with core.sessions() as session:
        assert (await session.execute(select(WebLoginToken))).first() is None


async def test_anonymous_visitors_are_sent_to_sign_in(core):
    async with admin_browser(core) as browser:
        page = await browser.get("/admin/")
        assert page.status == 303 and page.headers["Location"] == "/admin/login?next=/admin/"
        page = await browser.get("/admin/login")
        assert page.status == 200 and "Đăng nhập" in page.text  # Vietnamese by default


async def test_password_sign_in_and_sign_out(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    await account(core)
    async with admin_browser(core) as browser:
        page = await browser.sign_in("Lan", PASSWORD)  # usernames are not case-sensitive
        assert page.status == 303
        home = await browser.get("/admin/")
        assert home.status == 200
        out = await browser.post("/admin/logout", {})
        assert out.status == 303
        assert (await browser.get("/admin/")).status == 303
    async with core.sessions() as session:
        assert (await session.execute(select(WebSession))).first() is None


async def test_repeated_failures_lock_the_username_with_a_clear_message(core):
    await account(core)
    async with admin_browser(core) as browser:
        for _ in range(4):
            page = await browser.sign_in("lan", "wrong password!")
            assert page.status == 401 and "Sai tên đăng nhập hoặc mật khẩu" in page.text
        page = await browser.sign_in("lan", "wrong password!")
        assert page.status == 429
        await browser.post("/admin/lang", {"lang": "en", "next": "/admin/login"})
        page = await browser.sign_in("lan", PASSWORD)  # even the right password waits
        assert page.status == 429 and "Too many failed sign-ins" in page.text
        assert "15 minutes" in page.text
        assert (await browser.get("/admin/")).status == 303


async def test_one_address_guessing_many_usernames_is_locked_out(core):
    await account(core, "binh")
    async with admin_browser(core) as browser:
        for i in range(20):
            await browser.sign_in(f"guess{i}", "nope nope nope")
        page = await browser.sign_in("binh", PASSWORD)
        assert page.status == 429


async def test_a_lockout_ends_after_its_window(core):
    await account(core)
    with time_machine.travel(datetime(2026, 12, 1, 2, 0, tzinfo=UTC), tick=False) as clock:
        async with admin_browser(core) as browser:
            for _ in range(5):
                await browser.sign_in("lan", "wrong password!")
            assert (await browser.sign_in("lan", PASSWORD)).status == 429
            clock.shift(timedelta(minutes=16))
            assert (await browser.sign_in("lan", PASSWORD)).status == 303


def behind_proxy(core) -> None:
    core.settings = core.settings.model_copy(update={"web_trust_proxy": True})


async def test_failures_from_elsewhere_do_not_lock_the_owner_out(core):
    """Throttled by username and address together: guessing a known username from one place
    does not stop its owner signing in from another."""
    await account(core)
    behind_proxy(core)
    async with admin_browser(core) as browser:
        browser.address = "203.0.113.7"  # the attacker
        for _ in range(8):
            await browser.sign_in("lan", "wrong password!")
        assert (await browser.sign_in("lan", PASSWORD)).status == 429
        browser.address = "198.51.100.20"  # the owner
        assert (await browser.sign_in("lan", PASSWORD)).status == 303


async def test_a_locked_address_still_lets_a_weblogin_link_through(core):
    staff = await person(core, "7020", "staff")
    behind_proxy(core)
    async with admin_browser(core) as browser:
        browser.address = "203.0.113.9"
        for i in range(20):
            await browser.sign_in(f"guess{i}", "nope nope nope")
        assert (await browser.sign_in("guess0", "nope nope nope")).status == 429
        page = await browser.sign_in_with_link(staff)
        assert page.status == 303 and page.headers["Location"] == "/admin/"
        assert (await browser.get("/admin/")).status == 200


async def test_lockouts_are_kept_in_the_database_for_every_instance(core):
    await account(core)
    async with admin_browser(core) as first:
        for _ in range(5):
            await first.sign_in("lan", "wrong password!")
    async with admin_browser(core) as second:  # another instance, or this one restarted
        assert (await second.sign_in("lan", PASSWORD)).status == 429


async def test_members_with_an_account_are_refused(core):
    await account(core, "tam", role="member")
    async with admin_browser(core) as browser:
        await browser.get("/admin/login")
        await browser.post("/admin/lang", {"lang": "en", "next": "/admin/login"})
        page = await browser.sign_in("tam", PASSWORD)
        assert page.status == 403 and "does not give access" in page.text


async def test_a_role_change_applies_to_open_sessions_at_once(core):
    person_id = await account(core)
    async with admin_browser(core) as browser:
        await browser.sign_in("lan", PASSWORD)
        assert (await browser.get("/admin/")).status == 200
        async with core.sessions() as session, session.begin():
            await session.execute(
                update(Person).where(Person.id == person_id).values(role="member")  # type: ignore[arg-type]
            )
        assert (await browser.get("/admin/")).status == 303


async def test_session_cookie_flags(core):
    await account(core)
    async with admin_browser(core) as browser:
        page = await browser.sign_in("lan", PASSWORD)
        cookie = page.headers["Set-Cookie"]
        assert "gr_admin=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Path=/admin" in cookie and "Secure" not in cookie
    core.settings = core.settings.model_copy(update={"public_url": "https://party.example"})
    async with admin_browser(core) as browser:
        page = await browser.sign_in("lan", PASSWORD)
        assert "Secure" in page.headers["Set-Cookie"]


async def test_forms_without_the_right_csrf_token_are_refused(core):
    await account(core)
    async with admin_browser(core) as browser:
        # Before sign-in: a login post without the pre-session token.
        page = await browser.post("/admin/login", {"username": "lan", "password": PASSWORD}, "")
        assert page.status == 403
        await browser.sign_in("lan", PASSWORD)
        for forged in ("", "x" * 43, browser.csrf[:-1] + "A"):
            page = await browser.post("/admin/logout", {}, csrf=forged)
            assert page.status == 403, forged
        assert (await browser.get("/admin/")).status == 200  # still signed in


async def test_pages_carry_protective_headers(core):
    async with admin_browser(core) as browser:
        page = await browser.get("/admin/login")
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["Cache-Control"] == "no-store"


async def test_open_redirects_are_refused(core):
    await account(core)
    async with admin_browser(core) as browser:
        await browser.get("/admin/login")
        page = await browser.post(
            "/admin/login",
            {"username": "lan", "password": PASSWORD, "next": "//evil.example/"},
        )
        assert page.headers["Location"] == "/admin/"


async def test_next_with_control_characters_goes_home_instead_of_crashing(core):
    await account(core)
    async with admin_browser(core) as browser:
        for bad in ("/admin/\r\nSet-Cookie: x=1", "/admin/\nx", "/admin/\tx"):
            page = await browser.get(f"/admin/login?next={quote(bad)}")
            assert page.status == 200
            page = await browser.post("/admin/lang", {"lang": "en", "next": bad})
            assert page.status == 303 and page.headers["Location"] == "/admin/"
        page = await browser.post(
            "/admin/login", {"username": "lan", "password": PASSWORD, "next": "/admin/\r\nx"}
        )
        assert page.status == 303 and page.headers["Location"] == "/admin/"
        page = await browser.get(f"/admin/login?next={quote(chr(10))}")
        assert page.status == 303 and page.headers["Location"] == "/admin/"
    async with admin_browser(core) as browser:  # signed out: sent to sign in, safely
        page = await browser.get("/admin/cases%0D%0ASet-Cookie:%20x=1?q=1")
        assert page.status == 303 and "\n" not in page.headers["Location"]


async def test_every_admin_route_declares_who_may_use_it(core):
    app = build_admin_app(core)
    for route in app.router.routes():
        if route.resource is not None and route.resource.canonical.startswith("/static"):
            continue
        assert is_guarded(route.handler), route.resource


async def test_departments_start_at_their_cases_not_the_dashboard(core):
    handler = await person(core, "7004", "handler", dept="BTC")
    async with admin_browser(core) as browser:
        await browser.sign_in_with_link(handler)
        page = await browser.get("/admin/")
        assert page.status == 303 and page.headers["Location"] == "/admin/cases"
        assert (await browser.get("/admin/charts/category.png")).status == 403


async def test_cli_creates_an_account_from_a_piped_password(tmp_path):
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}

    async def cli(*args: str, password: str) -> tuple[int, str]:
        return await cli_result(["admin", *args], input=password + "\n", **env)

    code, out = await cli("add-user", "chanh", "--name", "Võ Văn Chánh", password="short")
    assert code == 1 and "at least 10 characters" in out
    code, out = await cli("add-user", "chanh", "--name", "Võ Văn Chánh", password=PASSWORD)
    assert code == 0 and "Account chanh created" in out
    code, out = await cli("add-user", "chanh", "--person-id", "1", password=PASSWORD)
    assert code == 1 and "taken" in out
    code, out = await cli("set-password", "chanh", password="another long password")
    assert code == 0 and "changed" in out


async def test_weblogin_in_a_group_chat_sends_no_link(core):
    from handlers.types import ChatKind

    staff = await person(core, "7006", "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "staff-room"
    out = await staff.say("/weblogin")
    assert "private chat" in out[0] and not LINK_RE.search(out[0])


async def test_the_admin_address_without_its_slash_leads_to_it(core):
    async with admin_browser(core) as browser:
        page = await browser.get("/admin")
        assert page.status == 301 and page.headers["Location"] == "/admin/"


async def _person_id(core, name: str) -> int:
    async with core.sessions() as session:
        found = await session.execute(select(Person.id).where(Person.display_name == name))
        return int(found.scalar_one())


async def test_a_demoted_persons_web_sessions_end_at_once(core):
    """Demoted to a role that still opens the web admin: their open browsers sign out anyway."""
    from tests.test_admin_cases import signed_in

    async with admin_browser(core) as boss, admin_browser(core) as demoted:
        await signed_in(core, boss, "admin", "7100")
        await signed_in(core, demoted, "admin", "7101")
        assert (await demoted.get("/admin/people")).status == 200
        target = await _person_id(core, "admin 7101")
        done = await boss.post(f"/admin/people/{target}", {"role": "staff", "unit": "U007"})
        assert done.status == 303
        page = await demoted.get("/admin/cases")
        assert page.status == 303 and page.headers["Location"].startswith("/admin/login")
    async with core.sessions() as session:
        left = (await session.execute(select(WebSession.person_id))).scalars().all()
    assert target not in left


async def test_an_admin_cannot_grant_themselves_reveal_rights(core):
    from tests.test_admin_cases import signed_in

    async with admin_browser(core) as me, admin_browser(core) as other:
        await signed_in(core, me, "admin", "7110")
        mine = await _person_id(core, "admin 7110")
        page = await me.post(
            f"/admin/people/{mine}", {"role": "admin", "unit": "U007", "can_reveal": "1"}
        )
        assert page.status == 400 and "another administrator" in page.text
        async with core.sessions() as session:
            assert (await session.get(Person, mine)).can_reveal is False  # type: ignore[union-attr]
        # Another admin may grant it, and the grant is in the audit log.
        await signed_in(core, other, "admin", "7111")
        done = await other.post(
            f"/admin/people/{mine}", {"role": "admin", "unit": "U007", "can_reveal": "1"}
        )
        assert done.status == 303
        audit = await other.get("/admin/audit")
        assert "person.update" in audit.text and "admin 7110" in audit.text
    async with core.sessions() as session:
        assert (await session.get(Person, mine)).can_reveal is True  # type: ignore[union-attr]


async def test_an_admin_cannot_hand_reveal_rights_to_an_account_of_their_own_making(core):
    """Not through an invite either: whoever registers with it could be the admin themselves."""
    from storage.models import Invite
    from tests.test_admin_cases import signed_in

    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7120")
        page = await browser.post(
            "/admin/invites", {"role": "admin", "unit": "U007", "uses": "1", "can_reveal": "1"}
        )
        assert page.status == 400 and "cannot carry the right to reveal" in page.text
        assert 'name="can_reveal"' not in (await browser.get("/admin/invites")).text
    async with core.sessions() as session:
        found = await session.execute(select(Invite.id).where(Invite.can_reveal.is_(True)))  # type: ignore[attr-defined]
        assert found.first() is None


async def test_parallel_guesses_cannot_outrun_the_lockout(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    """Each try is counted before its password is checked, so a burst of parallel guesses
    gets no more checks than the limit."""
    await account(core)
    async with admin_browser(core) as browser:
        await browser.get("/admin/login")
        pages = await asyncio.gather(
            *(
                browser.post("/admin/login", {"username": "lan", "password": f"guess {i}"})
                for i in range(12)
            )
        )
    statuses = sorted(p.status for p in pages)
    assert statuses.count(401) <= 5 and statuses.count(429) >= 7, statuses
