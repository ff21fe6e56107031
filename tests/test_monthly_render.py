"""The monthly report as a reader sees it: rendered by LibreOffice (tools/render_docx.py) and read
back from the PDF. Runs only where LibreOffice is installed (CI does not install it: it is
large); tests/test_monthly.py checks the same document's structure everywhere."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from pypdf import PdfReader

from reports.monthly import build_monthly_report
from tests.test_monthly import NOV_START, seed
from tools.render_docx import soffice, to_pdf, to_pngs

pytestmark = pytest.mark.skipif(soffice() is None, reason="LibreOffice is not installed")


async def test_the_monthly_report_renders_as_a_committee_report_on_a4(core, tmp_path: Path):
    await seed(core)
    with time_machine.travel(NOV_START + timedelta(hours=24), tick=False):  # made on 2 November
        document = await build_monthly_report(core, "2026-10", "vi")
    docx = tmp_path / "bao-cao-thang-10.docx"
    docx.write_bytes(document)
    pdf = await asyncio.to_thread(to_pdf, docx, tmp_path)
    if os.environ.get("KEEP_RENDER"):  # to look at the pages: PNGs beside the PDF
        await asyncio.to_thread(to_pngs, pdf)
    pages = PdfReader(pdf).pages
    texts = [page.extract_text() for page in pages]
    # Text and tables (the scoreboard lists every unit), then the charts; A4, numbered at the foot.
    assert len(pages) >= 3, texts
    for number, (page, text) in enumerate(zip(pages, texts, strict=True), 1):
        assert (round(page.mediabox.width), round(page.mediabox.height)) == (595, 842)
        assert f"\n{text.rstrip()}".endswith(f"\n{number}"), text[-80:]
    first = texts[0]
    # The letterhead, the date line and the title in capitals, with every diacritic.
    assert first.startswith("ĐẢNG BỘ TỈNH …\nĐẢNG ỦY KHỐI CÁC CƠ QUAN VÀ\nDOANH NGHIỆP TỈNH\n*")
    for line in ("ĐẢNG CỘNG SẢN VIỆT NAM", "…, ngày 02 tháng 11 năm 2026", "BÁO CÁO THÁNG 10/2026"):
        assert f"\n{line}\n" in first
    assert "Thời gian giải quyết (trung vị) 26,0 giờ" in first
    assert all("ĐẢNG CỘNG SẢN" not in text for text in texts[1:])  # the header is page 1's
    assert "Biểu đồ\n" in texts[-1] + texts[-2]  # the charts come last
    # One serif face throughout: Times New Roman, or its metric twin where it is not installed;
    # never a fallback font for a glyph it lacks.
    fonts = {
        font.get_object()["/BaseFont"].split("+")[-1]
        for page in pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts and all(f.startswith(("TimesNewRoman", "LiberationSerif")) for f in fonts), fonts
