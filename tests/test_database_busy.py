"""A burst that keeps SQLite's single writer busy past its timeout must not cost a person their
step: the update is retried whole, and the answer arrives as usual."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

import bot.dispatcher
from bot.app import Core
from tests.chat import Chat


def busy_once(real):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    async def claim(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        return await real(*args, **kwargs)

    return claim, calls


async def test_a_busy_database_is_retried_not_apologised_for(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The update is claimed in start_event (its first statements, in one trip on SQLite).
    claim, calls = busy_once(bot.dispatcher.start_event)
    monkeypatch.setattr(bot.dispatcher, "start_event", claim)
    chat = Chat(core, user_id="b1")
    out = await chat.say("/start")
    assert calls["n"] == 2
    t = core.translations("vi")
    assert out[0] == t(
        "Welcome to Grassroots, the channel for reporting pressing issues to the committee. Let us register you: it takes three short questions."
    )


async def test_other_database_errors_still_get_the_apology(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(bot.dispatcher, "start_event", broken)
    out = await Chat(core, user_id="b2").say("/start")
    t = core.translations("vi")
    assert out == [
        t(
            "Sorry, something went wrong on our side. Your answers so far are kept: please try again in a moment."
        )
    ]
