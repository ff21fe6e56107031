"""What the reports need from the application: a Protocol, so any object with these fields
(the host's bundle, a test's stand-in) serves, and reports never import the host."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from handlers.forms import Catalog
from handlers.i18n import Translations
from storage.db import Sessions


class ReportSettings(Protocol):
    @property
    def tz(self) -> ZoneInfo: ...

    @property
    def attachments_dir(self) -> Path: ...  # charts are written under it

    @property
    def min_group_size(self) -> int: ...  # smallest anonymous group published (suppression)

    # The monthly report's letterhead; "" leaves a placeholder for the office to fill in.
    @property
    def committee_parent(self) -> str: ...  # "ĐẢNG BỘ TỈNH BẾN TRE"

    @property
    def committee_name(self) -> str: ...  # "ĐẢNG ỦY KHỐI CÁC CƠ QUAN VÀ DOANH NGHIỆP TỈNH"

    @property
    def committee_short(self) -> str: ...  # the "ĐUK" of "Số 12-BC/ĐUK"

    @property
    def committee_place(self) -> str: ...  # "Bến Tre", for "Bến Tre, ngày … tháng … năm …"


class ReportContext(Protocol):
    @property
    def settings(self) -> ReportSettings: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def translations(self) -> Translations: ...

    @property
    def catalog(self) -> Catalog: ...
