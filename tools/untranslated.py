"""List msgids with no Vietnamese translation yet (exit 1 if any): `uv run python tools/untranslated.py`."""

import sys
from pathlib import Path

from babel.messages.pofile import read_po

PO = Path(__file__).resolve().parent.parent / "handlers/locale/vi/LC_MESSAGES/messages.po"
with PO.open("rb") as fh:
    catalog = read_po(fh)
missing = [
    m.id
    for m in catalog
    if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string)
]
for msgid in missing:
    print(repr(msgid))
sys.exit(1 if missing else 0)
