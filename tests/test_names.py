"""Names are offered family name first, as Vietnamese write them (docs/style-vi.md)."""

from __future__ import annotations

import pytest
from telegram import Update

from bot.channels.names import family_name_first
from bot.channels.telegram import TelegramChannel


@pytest.mark.parametrize(
    ("first", "last", "shown"),
    [
        ("Kín", "Trần Thị", "Trần Thị Kín"),
        ("An", "Nguyen Van", "Nguyen Van An"),  # typed without Vietnamese input
        ("Hương", "Lê", "Lê Hương"),
        ("Nguyễn Văn", "An", "Nguyễn Văn An"),  # already family name first
        ("Trần Thị Kín", "", "Trần Thị Kín"),
        ("", "Trần Thị Kín", "Trần Thị Kín"),
        ("John", "Smith", "John Smith"),
        ("José", "García", "José García"),
        ("Pieter", "van Dijk", "Pieter van Dijk"),
        ("  Kín ", " Trần  Thị ", "Trần Thị Kín"),
    ],
)
def test_vietnamese_names_are_family_name_first(first, last, shown):
    assert family_name_first(first, last) == shown


async def test_a_telegram_member_is_offered_family_name_first():
    update = Update.de_json(
        {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 42, "type": "private"},
                "from": {"id": 42, "is_bot": False, "first_name": "Kín", "last_name": "Trần Thị"},
                "text": "/start",
            },
        },
        None,
    )
    channel = TelegramChannel.__new__(TelegramChannel)
    inbound = await channel.to_inbound(update, key="k1")
    assert inbound is not None and inbound.display_name == "Trần Thị Kín"
