"""Gettext catalogues (Babel .po files) for every user-facing text.

Message ids are stable keys (``onboarding.welcome``); the English catalogue holds the
English text, so wording can change without touching code. Text is looked up when a
message is rendered for its recipient, in the recipient's language.

Each language folder may hold several ``.po`` files (``messages.po`` plus one per feature,
e.g. ``cafes.po``) so that features own their texts; a key must be defined only once.
A key with a plural form (``msgid_plural``) is chosen by ``count`` with the language's
CLDR plural rules (Babel), so "1 post" / "2 posts" and the Norwegian forms come out right.
"""
from __future__ import annotations

import logging
import string
from pathlib import Path

from babel import Locale
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("en", "nb")
FALLBACK = "en"

Entry = str | tuple[str, ...]


class _Safe(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _load(folder: Path, lang: str) -> dict[str, Entry]:
    table: dict[str, Entry] = {}
    for path in sorted(folder.glob("*.po")):
        with open(path, "rb") as handle:
            catalog = read_po(handle, locale=lang)
        for message in catalog:
            if not message.id:
                continue
            key = str(message.id[0] if isinstance(message.id, (tuple, list)) else message.id)
            if isinstance(message.string, (tuple, list)):
                forms = tuple(str(s) for s in message.string)
                if not all(forms):
                    continue
                value: Entry = forms
            elif message.string:
                value = str(message.string)
            else:
                continue
            if key in table:
                raise ValueError(f"catalogue key {key} is defined twice ({path.name}, {lang})")
            table[key] = value
    return table


class I18n:
    def __init__(self, directory: Path = LOCALE_DIR) -> None:
        self.catalogues: dict[str, dict[str, Entry]] = {
            lang: _load(directory / lang / "LC_MESSAGES", lang) for lang in LANGUAGES
        }
        self._locales = {lang: Locale.parse(lang) for lang in LANGUAGES}
        for locale in self._locales.values():
            locale.plural_form(1)      # loads the locale's data now, not at the first plural

    def has(self, key: str) -> bool:
        return key in self.catalogues[FALLBACK]

    def is_plural(self, key: str) -> bool:
        return isinstance(self.catalogues[FALLBACK].get(key), tuple)

    def _choose(self, lang: str, forms: tuple[str, ...], count: object) -> str:
        try:
            n = abs(int(count))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            n = 2
        category = self._locales.get(lang, self._locales[FALLBACK]).plural_form(n)
        # Both en and nb have the gettext forms [one, other].
        index = 0 if category == "one" else 1
        return forms[min(index, len(forms) - 1)]

    def t(self, lang: str | None, key: str, **params: object) -> str:
        lang = lang if lang in self.catalogues else FALLBACK
        entry = self.catalogues[lang].get(key) or self.catalogues[FALLBACK].get(key)
        if entry is None:
            log.error("missing catalogue key %s", key)
            return key
        if isinstance(entry, tuple):
            entry = self._choose(lang, entry, params.get("count"))
        return string.Formatter().vformat(entry, (), _Safe(params))

    def keys(self, lang: str) -> set[str]:
        return set(self.catalogues[lang])
