"""kill -9 a real `grassroots run` mid-form; after a restart every member resumes where they were."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid
from pathlib import Path

import aiohttp

from tests.cli import spawn_run, stop_run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_server(tmp_path: Path, port: int) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gr.db'}",
        "ATTACHMENTS_DIR": str(tmp_path / "att"),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "TELEGRAM_BOT_TOKEN": "",
        "ZALO_BOT_TOKEN": "",
        "DEFAULT_LOCALE": "en",
    }
    proc = await spawn_run(env, tmp_path, "--demo", "--empty")
    # Up when /healthz answers; a start that fails ends the process, which is said at once. The
    # deadline is generous: on a loaded machine (tests run side by side) start-up is slow.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    async with aiohttp.ClientSession() as http:
        while proc.returncode is None and loop.time() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    if proc.returncode is not None:
        raise AssertionError(f"grassroots run exited with {proc.returncode} before coming up")
    proc.kill()
    raise AssertionError("grassroots run did not come up")


class Member:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.last: dict = {}

    async def say(self, text: str | None = None, button: int | None = None) -> str:
        body: dict = {"id": str(uuid.uuid4())}
        if button is not None:
            body["callback"] = self.last["messages"][-1]["choices"][button - 1]["data"]
        else:
            body["text"] = text
        async with self.http.post(f"{self.base}/api/chat/send", json=body) as resp:
            assert resp.status == 200, await resp.text()
            self.last = await resp.json()
        return "\n".join(m["text"] for m in self.last["messages"])


async def test_kill_minus_nine_mid_form_and_resume(tmp_path):
    port = free_port()
    proc = await start_server(tmp_path, port)
    members = [Member(port) for _ in range(3)]
    try:
        for i, m in enumerate(members):
            await m.say("/start")
            await m.say(f"Member {i}")
            await m.say("1")
            await m.say("1")
        a, b, c = members
        # a: still registering elsewhere? No — three members at three different questions.
        await a.say("/report")  # at category
        await b.say("/report")
        await b.say(button=4)
        await b.say(button=2)  # at unit
        await c.say("/report")
        for n in (1, 1, 1):
            await c.say(button=n)
        await c.say(
            "Đường dây điện hạ thế bị võng thấp, nguy hiểm cho người đi đường."
        )  # at attachments
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

        # Nothing in memory survived; everything comes back from the database.
        proc = await start_server(tmp_path, port)
        out = await a.say("/report")
        assert "unfinished report" in out and "Pick a category" in out
        out = await b.say("1")  # my unit: the unit question was pending
        assert "Describe the issue" in out
        out = await c.say("/skip")
        assert "Who may see" in out
        out = await c.say("3")
        assert "Đường dây điện hạ thế" in out and "Policies" not in out
        out = await c.say("1")
        assert "PA-0001" in out
    finally:
        for m in members:
            await m.http.close()
        await stop_run(proc)
    assert proc.returncode == 0  # a clean stop on SIGTERM
