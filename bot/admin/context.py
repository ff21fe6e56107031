"""What every admin view needs, stored once on the admin application, and the part of the
running application it is built from, named as a Protocol: the host's bundle fits it without
being imported, so the pages depend on these few fields and not on the whole host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aiohttp import web

from bot.admin.passwords import hash_password
from bot.admin.render import Pages
from bot.admin.throttle import LoginThrottle
from handlers.casedesk import CaseDesk
from handlers.ports import UnitView
from scheduler.context import JobContext, JobSettings


class AdminSettings(JobSettings, Protocol):
    @property
    def public_url(self) -> str: ...  # https there means Secure cookies

    @property
    def web_trust_proxy(self) -> bool: ...

    @property
    def org_dir(self) -> Path | None: ...  # where deadlines edited on the web are written


class CaseWork(Protocol):
    """The core's engine as the pages use it: the units to filter by, the case desk to act."""

    @property
    def units(self) -> list[UnitView]: ...

    @property
    def desk(self) -> CaseDesk: ...


class AdminContext(JobContext, Protocol):
    """A job context too: the poll page re-sends a round through the polls job, and the
    monthly report page builds the same document as the report job."""

    @property
    def settings(self) -> AdminSettings: ...

    @property
    def engine(self) -> CaseWork: ...

    @property
    def senders(self) -> Mapping[str, object]: ...  # the invite page asks Telegram's for its name

    async def refresh_units(self) -> None: ...  # after an import, so the chat sees new units


@dataclass
class Admin:
    context: AdminContext
    pages: Pages
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # Checked against when a username does not exist, so timing does not tell which do.
    # Hashed at the first sign-in, not at start-up: a hash costs a quarter of a second of CPU.
    decoy: str = ""

    async def decoy_hash(self) -> str:
        if not self.decoy:
            self.decoy = await hash_password("decoy-password")
        return self.decoy


ADMIN = web.AppKey("admin", Admin)


def admin_of(request: web.Request) -> Admin:
    return request.app[ADMIN]
