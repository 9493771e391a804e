"""Every text the code uses exists in English and Norwegian, with the same placeholders."""
from __future__ import annotations

import re
import string
from pathlib import Path

from bot.i18n import I18n

ROOT = Path(__file__).resolve().parents[1]
KEY_RE = re.compile(r"""["']((?:[a-z_]+\.)+[a-z_0-9]+)["']""")


def _placeholders(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    i18n = I18n()
    en, nb = i18n.catalogues["en"], i18n.catalogues["nb"]
    assert set(en) == set(nb)
    for key in en:
        en_forms = en[key] if isinstance(en[key], tuple) else (en[key],)
        nb_forms = nb[key] if isinstance(nb[key], tuple) else (nb[key],)
        assert isinstance(en[key], tuple) == isinstance(nb[key], tuple), key
        assert {p for f in en_forms for p in _placeholders(f)} == {p for f in nb_forms for p in _placeholders(f)}, key


def test_every_key_used_in_code_is_in_the_catalogue() -> None:
    i18n = I18n()
    used: set[str] = set()
    for folder in ("bot", "handlers", "moderation"):
        for path in (ROOT / folder).rglob("*.py"):
            for match in KEY_RE.finditer(path.read_text()):
                key = match.group(1)
                if key.split(".")[0] in {"onboarding", "name", "help", "me", "input", "command", "error",
                                         "language", "community", "role", "notify", "word", "button",
                                         "reminder", "thread", "post", "mod", "report", "flood", "digest",
                                         "settings", "privacy", "reveal", "cafe", "safety", "link",
                                         "draft", "hard"}:
                    used.add(key)
    missing = {k for k in used if not i18n.has(k)}
    assert not missing, sorted(missing)


def test_norwegian_is_used_after_language_nb() -> None:
    i18n = I18n()
    assert i18n.t("nb", "language.set") != i18n.t("en", "language.set")
    assert "{" not in i18n.t("nb", "onboarding.ready", pseudonym="Bjørk")


def test_plural_forms_and_feature_files(tmp_path: Path) -> None:
    for lang, one, other in (("en", "1 post", "{count} posts"), ("nb", "1 innlegg", "{count} innlegg")):
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "messages.po").write_text('msgid "a.b"\nmsgstr "x"\n', encoding="utf-8")
        (folder / "feature.po").write_text(
            f'msgid "c.count"\nmsgid_plural "c.count"\nmsgstr[0] "{one}"\nmsgstr[1] "{other}"\n',
            encoding="utf-8")
    i18n = I18n(tmp_path)
    assert i18n.t("en", "a.b") == "x"
    assert i18n.t("en", "c.count", count=1) == "1 post"
    assert i18n.t("en", "c.count", count=0) == "0 posts"
    assert i18n.t("en", "c.count", count=5) == "5 posts"
    assert i18n.t("nb", "c.count", count=5) == "5 innlegg"
    assert i18n.is_plural("c.count")


# What a lock screen may show: no message names the group's theme. Words a person might see in a
# preview over someone's shoulder (the guide: never "mental health" in a notification).
TELLING = re.compile(r"mental\s*(health|helse|illness)|psykisk|psychiatr|psykiatr|suicid|selvmord",
                     re.IGNORECASE)


def test_no_catalogue_text_and_no_default_contact_line_names_the_theme() -> None:
    from bot.config import SafetySection

    i18n = I18n()
    found = [(lang, key) for lang, table in i18n.catalogues.items() for key, value in table.items()
             if any(TELLING.search(form) for form in (value if isinstance(value, tuple) else (value,)))]
    assert found == []
    contacts = SafetySection().emergency_contacts
    lines = contacts.values() if isinstance(contacts, dict) else [contacts]
    assert lines and not any(TELLING.search(line) for line in lines)
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    [line] = [ln for ln in example.splitlines() if ln.startswith("emergency_contacts")]
    assert not TELLING.search(line)
