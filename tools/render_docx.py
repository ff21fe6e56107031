"""A DOCX as the reader sees it: `uv run python tools/render_docx.py report.docx [out_dir]`.

Converts the document to PDF with LibreOffice (`soffice --headless`, Debian's
libreoffice-writer-nogui) and each page to a PNG with poppler's `pdftoppm` (poppler-utils), so a
person can look at the monthly report's pages without Word. Writes report.pdf and report-1.png,
report-2.png, … next to the DOCX (or in out_dir). The tests use `to_pdf` when LibreOffice is
installed; CI does not install it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_pdf(docx: Path, out_dir: Path) -> Path:
    """The PDF LibreOffice makes of `docx`, in `out_dir`. A throwaway profile, so it runs beside
    another LibreOffice and leaves nothing in the home folder."""
    program = soffice()
    if program is None:
        raise SystemExit("LibreOffice is not installed (apt-get install libreoffice-writer-nogui)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [program, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless",
             "--convert-to", "pdf", "--outdir", str(out_dir), str(docx)],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
    return out_dir / f"{docx.stem}.pdf"


def to_pngs(pdf: Path, dpi: int = 80) -> list[Path]:
    """One PNG per page of `pdf`, beside it."""
    prefix = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(prefix)], check=True)
    return sorted(pdf.parent.glob(f"{prefix.name}-*.png"))


if __name__ == "__main__":
    source = Path(sys.argv[1]).resolve()
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else source.parent
    target.mkdir(parents=True, exist_ok=True)
    for page in to_pngs(to_pdf(source, target)):
        print(page)
