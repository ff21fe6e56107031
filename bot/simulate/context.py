"""What the simulation needs of the application: the host's `Core` fits it without being
imported (only the command line imports the host, and the host seeds the demo with this)."""

from __future__ import annotations

from typing import Protocol

from bot.config import Settings
from bot.dispatcher import Dispatcher
from scheduler.context import JobContext
from scheduler.delivery import DeliveryWorker, Sender


class SimCore(JobContext, Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def dispatcher(self) -> Dispatcher: ...

    @property
    def delivery(self) -> DeliveryWorker: ...

    @property
    def senders(self) -> dict[str, Sender]: ...

    async def refresh_units(self) -> None: ...
