"""Strip the properties of Word and PDF files sent with hidden reports.

A document's author, "last modified by", company and XMP packet would name a confidential or
anonymous reporter to every staffer who opens the file. Word files go through python-docx, PDFs
through pypdf; anything else is left as it is (the review warns about it).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_MIME = "application/pdf"
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def strippable(mime: str, path: str) -> bool:
    return kind_of(mime, path) is not None


def kind_of(mime: str, path: str) -> str | None:
    suffix = Path(path).suffix.lower()
    if mime == DOCX_MIME or suffix == ".docx":
        return "docx"
    if mime == PDF_MIME or suffix == ".pdf":
        return "pdf"
    return None


def strip_document(path: Path, mime: str = "") -> bool:
    """Rewrite the file without its properties; False when it is not a readable Word or PDF
    file (then it is left untouched). Runs in a thread: it is CPU and disk work."""
    kind = kind_of(mime, str(path))
    try:
        if kind == "docx":
            _strip_docx(path)
        elif kind == "pdf":
            _strip_pdf(path)
        else:
            return False
    except Exception:  # a damaged or disguised file: keep it, staff can still open it
        log.warning("could not strip the properties of an attachment (%s)", kind)
        return False
    return True


def _strip_docx(path: Path) -> None:
    from docx import Document

    document = Document(str(path))
    props = document.core_properties
    for name in (
        "author",
        "category",
        "comments",
        "content_status",
        "identifier",
        "keywords",
        "language",
        "last_modified_by",
        "subject",
        "title",
        "version",
    ):
        setattr(props, name, "")
    props.revision = 1
    props.created = props.modified = _EPOCH
    props.last_printed = _EPOCH
    buffer = io.BytesIO()
    document.save(buffer)
    _replace(path, _without_extended_properties(buffer.getvalue()))


def _without_extended_properties(data: bytes) -> bytes:
    """python-docx keeps docProps/app.xml (company, manager, template) and custom.xml as they
    came: blank app.xml's values and drop custom.xml."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "docProps/custom.xml":
                continue
            if item.filename == "docProps/app.xml":
                content = _BLANK_APP_XML
            if item.filename == "[Content_Types].xml":
                content = content.replace(
                    b'<Override PartName="/docProps/custom.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.custom-properties+xml"/>',
                    b"",
                )
            if item.filename == "_rels/.rels":
                content = _drop_relationship(content, b"docProps/custom.xml")
            dst.writestr(item, content)
    return out.getvalue()


def _drop_relationship(rels: bytes, target: bytes) -> bytes:
    from lxml import etree

    root = etree.fromstring(rels)
    for rel in list(root):
        if rel.get("Target", "").encode().lstrip(b"/") == target:
            root.remove(rel)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


_BLANK_APP_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
    b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"/>'
)


def _strip_pdf(path: Path) -> None:
    """Copy the pages into a new file: the document information dictionary and the XMP packet
    stay behind, as do pages' own metadata streams."""
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise ValueError("encrypted PDF")
    writer = PdfWriter()
    writer.append(reader)
    writer.metadata = None
    for page in writer.pages:
        for key in ("/Metadata", "/PieceInfo"):
            if key in page:
                del page[key]
    buffer = io.BytesIO()
    writer.write(buffer)
    _replace(path, buffer.getvalue())


def _replace(path: Path, data: bytes) -> None:
    """Never leave a half-written file: write beside it, then swap."""
    tmp = path.with_name(path.name + ".strip")
    tmp.write_bytes(data)
    tmp.replace(path)
