"""Generated bad input at every edge: webhooks, the public feedback form, CSV imports, poll files.

Each bad input must get a clear refusal (or, for webhooks, a quiet 200 so the platform keeps
calling): never a 500, a traceback in the logs, or a hang. One running server (real core, real
python-telegram-bot and Zalo adapters against the fake platforms) serves all examples of a test.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from bot.app import Core
from bot.channels.zalo_client import SECRET_HEADER
from handlers.polldefs import PollDefError, parse_poll_bytes
from storage.deptimport import import_departments
from storage.orgimport import import_units
from tests.fake_zalo import FakeZalo
from tests.polls_helpers import POLLS
from tests.stateful_harness import LogRecorder
from tests.telegram_harness import Harness, running_bot

TG_SECRET = "tg-secret-for-fuzzing"
ZALO_SECRET = "zalo-secret-for-fuzzing"
TIMEOUT = aiohttp.ClientTimeout(total=15)  # a hang is a failure, not a stuck suite

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A real update with some of its fields replaced by anything JSON can carry, or dropped."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        doc = json.loads(json.dumps(base))
        for _ in range(draw(st.integers(1, 4))):
            node = doc
            path = []
            while isinstance(node, dict) and node and draw(st.booleans()):
                key = draw(st.sampled_from(sorted(node)))
                path.append(key)
                if not isinstance(node[key], dict):
                    break
                node = node[key]
            if not path:
                continue
            parent = doc
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()):
                parent[path[-1]] = draw(json_values)
            else:
                parent.pop(path[-1], None)
        return doc

    return build()


TG_MESSAGE = {
    "update_id": 5001,
    "message": {
        "message_id": 7,
        "date": 1_790_000_000,
        "chat": {"id": 424242, "type": "private", "first_name": "Lan"},
        "from": {"id": 424242, "is_bot": False, "first_name": "Lan", "language_code": "vi"},
        "text": "/start",
    },
}
TG_CALLBACK = {
    "update_id": 5002,
    "callback_query": {
        "id": "99",
        "chat_instance": "1",
        "from": {"id": 424242, "is_bot": False, "first_name": "Lan"},
        "data": "abc:1",
        "message": TG_MESSAGE["message"],
    },
}
ZALO_EVENT = {
    "event_name": "message.text.received",
    "message": {
        "from": {"id": "a1b2c3", "display_name": "Lan", "is_bot": False},
        "chat": {"id": "a1b2c3", "chat_type": "PRIVATE"},
        "text": "/start",
        "message_id": "m1",
        "date": 1_790_000_000_000,
    },
}
telegram_bodies = st.one_of(
    mutated(TG_MESSAGE),
    mutated(TG_CALLBACK),
    json_values,
    st.binary(max_size=200),
)
zalo_bodies = st.one_of(
    mutated(ZALO_EVENT),
    mutated({"ok": True, "result": ZALO_EVENT}),
    json_values,
    st.binary(max_size=200),
)


@dataclass(repr=False)
class Server:
    loop: asyncio.Runner
    harness: Harness
    url: str
    logs: LogRecorder
    zalo: FakeZalo

    @property
    def core(self) -> Core:
        return self.harness.core

    def post(self, path: str, body: Any, headers: dict[str, str]) -> int:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()

        async def go() -> int:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as http,
                http.post(self.url + path, data=data, headers=headers) as resp,
            ):
                await resp.read()
                return resp.status

        status = self.loop.run(go())
        self.loop.run(self.settle())
        return status

    async def settle(self) -> None:
        runner = self.harness.runner
        await asyncio.wait_for(runner.telegram.drain(), 15)
        await asyncio.wait_for(runner.zalo.drain(), 15)

    def assert_no_errors(self) -> None:
        """No traceback in what an operator reads (warnings and up). A one-line error is the
        adapters' own last-resort guard saying it skipped an update it could not read (say, a
        chat id that is not a number); a traceback at debug level is a parser noting why."""
        errors = [
            r
            for r in self.logs.records
            if (r.exc_info and r.levelno >= logging.WARNING) or r.levelno >= logging.CRITICAL
        ]
        self.logs.records.clear()
        assert not errors, "\n".join(logging.Formatter().format(r) for r in errors)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Telegram and Zalo in webhook mode and the feedback page, on one local server."""
    tmp = tmp_path_factory.mktemp("edges")
    loop = asyncio.Runner()
    stack = AsyncExitStack()
    fake_zalo = FakeZalo()
    loop.run(fake_zalo.start())
    harness = loop.run(
        stack.enter_async_context(
            running_bot(
                tmp,
                f"sqlite+aiosqlite:///{tmp / 'edges.db'}",
                telegram_mode="webhook",
                telegram_webhook_secret=TG_SECRET,
                zalo_bot_token=fake_zalo.bot_token,
                zalo_api_url=fake_zalo.url,
                zalo_mode="webhook",
                zalo_webhook_secret=ZALO_SECRET,
                public_url="http://127.0.0.1:1",
            )
        )
    )
    with LogRecorder() as logs:
        try:
            yield Server(
                loop, harness, f"http://127.0.0.1:{harness.runner.web_port}", logs, fake_zalo
            )
        finally:
            loop.run(stack.aclose())
            loop.run(fake_zalo.stop())
            loop.close()


def test_the_unmutated_updates_are_answered(server: Server) -> None:
    """The generated bodies start from real updates that do reach the core."""
    fake_tg = server.harness.fake
    before = len(fake_tg.messages_to(424242))
    assert (
        server.post("/telegram/webhook", TG_MESSAGE, {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
        == 200
    )
    assert len(fake_tg.messages_to(424242)) > before
    before = len(server.zalo.messages_to("a1b2c3"))
    assert server.post("/zalo/webhook", ZALO_EVENT, {SECRET_HEADER: ZALO_SECRET}) == 200
    assert len(server.zalo.messages_to("a1b2c3")) > before
    server.assert_no_errors()


FIELDS = ["text", "caption", "first_name", "username", "data"]


@pytest.mark.parametrize("field", FIELDS)
def test_a_telegram_update_with_a_field_of_the_wrong_type_is_handled_quietly(
    server: Server, field: str
) -> None:
    """Found by the fuzzer: python-telegram-bot keeps whatever JSON type a field had."""
    for n, value in enumerate(([None, None], 5, {"a": 1}, True)):
        body = json.loads(json.dumps(TG_CALLBACK if field == "data" else TG_MESSAGE))
        body["update_id"] = 9000 + 10 * FIELDS.index(field) + n  # each one new, not a replay
        inner = body.get("message") or body["callback_query"]
        target = inner["from"] if field in ("first_name", "username") else inner
        target[field] = value
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        assert server.post("/telegram/webhook", body, headers) == 200
        server.assert_no_errors()


@given(body=telegram_bodies, secret=st.sampled_from([TG_SECRET, TG_SECRET, "", "wrong"]))
def test_telegram_webhook_refuses_or_ignores_any_body(
    server: Server, body: Any, secret: str
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    status = server.post("/telegram/webhook", body, headers)
    assert status < 500
    if secret != TG_SECRET:
        assert status == 403
    server.assert_no_errors()


@given(body=zalo_bodies, secret=st.sampled_from([ZALO_SECRET, ZALO_SECRET, "", "wrong"]))
def test_zalo_webhook_refuses_or_ignores_any_body(server: Server, body: Any, secret: str) -> None:
    headers = {SECRET_HEADER: secret} if secret else {}
    status = server.post("/zalo/webhook", body, headers)
    assert status == (200 if secret == ZALO_SECRET else 403)  # 200 keeps Zalo's webhook on
    server.assert_no_errors()


feedback_fields = st.dictionaries(
    st.sampled_from(
        [
            "token",
            "website",
            "lang",
            "unit",
            "category",
            "urgency",
            "description",
            "name",
            "contact",
            "x",
        ]
    ),
    st.text(max_size=50) | st.sampled_from(["U007", "workplace", "hot", "vi", "en", "ư" * 5000]),
    max_size=10,
)


@given(
    fields=feedback_fields,
    files=st.lists(
        st.tuples(
            # The client itself refuses control characters in a header; any other name goes.
            st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=40),
            st.binary(max_size=300),
            st.sampled_from(["image/png", "image/jpeg", "text/plain", ""]),
        ),
        max_size=2,
    ),
    path=st.sampled_from(["/feedback", "/feedback/status", "/feedback/status/reply"]),
)
def test_the_feedback_form_refuses_any_submission_it_cannot_take(
    server: Server, fields: dict[str, str], files: list[tuple[str, bytes, str]], path: str
) -> None:
    async def go() -> int:
        form = aiohttp.FormData(default_to_multipart=True)
        for key, value in fields.items():
            form.add_field(key, value)
        for name, content, mime in files:
            form.add_field("files", content, filename=name or "f", content_type=mime or None)
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.post(server.url + path, data=form) as resp,
        ):
            await resp.read()
            return resp.status

    assert server.loop.run(go()) < 500
    server.assert_no_errors()


csv_text = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.lists(
            st.text(max_size=20)
            | st.sampled_from(["U001", "cell", "party_committee", "agency", "internal", ""]),
            max_size=6,
        ),
        max_size=6,
    ).map(lambda rows: "\n".join(",".join(r) for r in rows).encode()),
)
UNIT_HEADER = b"code,name,kind,host_kind,parent_code\n"
DEPT_HEADER = b"code,name,kind\n"


@given(body=csv_text, header=st.sampled_from([b"", UNIT_HEADER, b"\xef\xbb\xbf" + UNIT_HEADER]))
def test_the_unit_import_names_what_is_wrong_in_any_file(
    server: Server, body: bytes, header: bytes
) -> None:
    async def go() -> None:
        async with server.core.sessions() as session, session.begin():
            result = await import_units(session, header + body)
            if not result.ok:
                assert result.errors and all(isinstance(e, str) and e for e in result.errors)
            await session.rollback()

    server.loop.run(go())
    server.assert_no_errors()


@given(body=csv_text, header=st.sampled_from([b"", DEPT_HEADER]))
def test_the_department_import_names_what_is_wrong_in_any_file(
    server: Server, body: bytes, header: bytes
) -> None:
    async def go() -> None:
        async with server.core.sessions() as session, session.begin():
            result = await import_departments(session, header + body)
            if not result.ok:
                assert result.errors and all(isinstance(e, str) and e for e in result.errors)
            await session.rollback()

    server.loop.run(go())
    server.assert_no_errors()


REAL_POLL = yaml.safe_load((POLLS / "opinion-monthly.yaml").read_text(encoding="utf-8"))


@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        mutated(REAL_POLL).map(lambda d: yaml.safe_dump(d, allow_unicode=True).encode()),
        json_values.map(lambda d: yaml.safe_dump(d).encode()),
    )
)
def test_a_poll_file_is_loaded_or_refused_with_a_reason(data: bytes) -> None:
    try:
        parse_poll_bytes(data, "poll.yaml")
    except PollDefError as exc:
        assert str(exc).startswith("poll.yaml")


@given(
    body=csv_text,
    header=st.sampled_from([b"", UNIT_HEADER, DEPT_HEADER, b"\xef\xbb\xbf" + DEPT_HEADER]),
    kind=st.sampled_from(["units", "departments"]),
)
def test_the_web_admin_import_preview_names_what_is_wrong_in_any_file(
    server: Server, body: bytes, header: bytes, kind: str
) -> None:
    from bot.admin import csvimport, org

    async def go() -> None:
        async with server.core.sessions() as session:
            shown = await csvimport.preview(
                session, org.UNITS if kind == "units" else org.DEPARTMENTS, header + body
            )
        assert all(isinstance(e, str) and e for e in shown.errors)

    server.loop.run(go())
    server.assert_no_errors()


@given(
    body=st.binary(max_size=100),
    timestamp=st.text(st.characters(categories=["Cs"]) | st.characters(), max_size=20),
    # aiohttp hands over undecodable header bytes as surrogates: the check must survive them.
    header=st.none() | st.text(st.characters(categories=["Cs"]) | st.characters(), max_size=80),
)
@example(body=b"{}", timestamp="\udc80", header="mac=\udcff")
def test_a_zalo_oa_signature_is_checked_for_any_header(
    body: bytes, timestamp: str, header: str | None
) -> None:
    from bot.channels.zalo_oa import verify_signature

    assert verify_signature("app", body, timestamp, "key", header) in (True, False)
    assert verify_signature("app", body, timestamp, "key", header) is False or header is not None
