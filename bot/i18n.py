"""Gettext catalogues (Babel .po files) for every user-facing text.

Message ids are stable keys (``onboarding.welcome``); the English catalogue holds the
English text, so wording can change without touching code. Text is looked up when a
message is rendered for its recipient, in the recipient's language.
"""
from __future__ import annotations

import logging
import string
from pathlib import Path

from babel.messages.pofile import read_po

log = logging.getLogger(__name__)
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("en", "nb")
FALLBACK = "en"


class _Safe(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class I18n:
    def __init__(self, directory: Path = LOCALE_DIR) -> None:
        self.catalogues: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            with open(directory / lang / "LC_MESSAGES" / "messages.po", "rb") as handle:
                catalog = read_po(handle, locale=lang)
            self.catalogues[lang] = {str(m.id): str(m.string) for m in catalog if m.id and m.string}

    def has(self, key: str) -> bool:
        return key in self.catalogues[FALLBACK]

    def t(self, lang: str | None, key: str, **params: object) -> str:
        table = self.catalogues.get(lang or FALLBACK, self.catalogues[FALLBACK])
        text = table.get(key) or self.catalogues[FALLBACK].get(key)
        if text is None:
            log.error("missing catalogue key %s", key)
            return key
        return string.Formatter().vformat(text, (), _Safe(params))

    def keys(self, lang: str) -> set[str]:
        return set(self.catalogues[lang])
