"""Gettext catalogs (Babel .po files), compiled in memory at start-up.

Keeping the .po files as the only source means translators edit one file and no compiled
artefact can go stale in the repository.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"
SUPPORTED = ("vi", "en")


@dataclass(frozen=True)
class Translator:
    locale: str
    catalog: gettext.NullTranslations

    def __call__(self, message: str, **values: object) -> str:
        text = self.catalog.gettext(message)
        return text.format(**values) if values else text

    def n(self, singular: str, plural: str, count: int, **values: object) -> str:
        text = self.catalog.ngettext(singular, plural, count)
        return text.format(count=count, **values)


class Translations:
    """All supported locales, loaded once; unknown locales fall back to the default."""

    def __init__(self, default_locale: str = "vi", locale_dir: Path = LOCALE_DIR) -> None:
        self.default_locale = default_locale
        self._by_locale: dict[str, Translator] = {}
        for locale in SUPPORTED:
            self._by_locale[locale] = Translator(locale, _compile(locale_dir, locale))

    def __call__(self, locale: str | None) -> Translator:
        return self._by_locale.get(locale or "", self._by_locale[self.default_locale])

    @staticmethod
    def normalise(language_code: str | None, default: str) -> str:
        """A Telegram-style `en-US` maps to a locale we have; anything else to the default."""
        short = (language_code or "").split("-")[0].lower()
        return short if short in SUPPORTED else default


def _compile(locale_dir: Path, locale: str) -> gettext.NullTranslations:
    # Imported here: Babel takes a quarter of a second to load, and the modules that only mark
    # messages with N_ (every handler, and the command line's `--help`) never compile a catalog.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po_path = locale_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message
