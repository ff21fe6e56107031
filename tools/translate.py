"""Fill Vietnamese translations from a JSON object {msgid: msgstr}; a plural takes a list of
forms, keyed by its singular msgid: `uv run python tools/translate.py FILE.json`."""

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "handlers/locale/vi/LC_MESSAGES/messages.po"
pairs = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
with PO.open("rb") as fh:
    catalog = read_po(fh, locale="vi")
for msgid, msgstr in pairs.items():
    message = catalog[msgid]
    if message is None:
        sys.exit(f"not in the catalog: {msgid!r}")
    message.string = tuple(msgstr) if isinstance(msgstr, list) else msgstr
    message.flags.discard("fuzzy")
    message.flags.discard("python-format")
with PO.open("wb") as fh:
    write_po(fh, catalog, width=100, sort_output=True)
