"""Finding details that could identify a person (the author or someone else) in a text.

Pure functions of the text (and of the names the caller passes in): no database, no config
object, so the benchmark and the tests call ``detect`` directly. Each detector returns
``Finding``s — a kind and the exact part of the text. The part is quoted back to the author
only; it is never logged. Ordinary numbers are not details: times, dates, prices, counts,
years and room numbers are left alone, and so are famous people's names and book titles.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable

import phonenumbers
from stdnum.no import fodselsnummer

from moderation.detect_accounts import accounts as _accounts
from moderation.detect_local import local_places
from moderation.detect_places import addresses, institutions, workplaces
from moderation.public_numbers import is_public


@dataclass(frozen=True)
class Finding:
    kind: str       # phone, email, handle, link, address, postcode, id_number, birth_date,
    text: str       # case_number, plate, name, workplace, place
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


# --- phone numbers ------------------------------------------------------------------------------
_DIGIT = re.compile(r"\d")
_MONEY_BEFORE = re.compile(r"(?:kr|nok|sek|dkk|eur|usd|gbp|\$|€|£|kroner|price|pris|prisen|koster|kostet|"
                           r"costs?|cost|paid|betalte|betalt|lønn|salary|budget|budsjett)\.?:?\s*$", re.I)
_MONEY_AFTER = re.compile(r"^\s*(?:,-|kr\b|nok\b|kroner|kronor|euro|eur\b|dollars?|usd\b|pounds?|£|\$|€|"
                          r"steps|skritt|people|personer|mennesker|innbyggere|km\b|meter|m\b|kg\b|views|"
                          r"visninger|followers|følgere|ord\b|words|calories|kalorier|kcal|%|prosent)", re.I)
_DATE_SHAPE = re.compile(r"^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")
_YEAR_RANGE = re.compile(r"^(?:1[89]|20)\d\d\s*[-–/ ]\s*(?:1[89]|20)\d\d$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:[ .,\u00a0]\d{3}){2,}$")
_PHONE_CUE = re.compile(r"\b(?:ring|ringe|call|phone|tlf|telefon|mobil|mob|nummer|nummeret|number|nr|sms|"
                        r"text|txt|whatsapp|signal|nå meg|reach me|kontakt|contact)\b", re.I)
# A run of digits and separators a person would type as a number: "9 1 2 3 4 5 6 7", "912-34-567".
_CUED_RUN = re.compile(r"(?<![\d.,:/])\+?\d(?:[ .\-()]{0,2}\d){7,14}(?![\d:/])")


def _ordinary_number(text: str, start: int, end: int, raw: str) -> bool:
    """Money, counts, dates, year ranges and thousands: numbers that are not phone numbers."""
    if raw.startswith("+") or raw.startswith("00"):
        return False
    if _MONEY_BEFORE.search(text[max(0, start - 14):start]) or _MONEY_AFTER.match(text[end:end + 14]):
        return True
    if ":" in raw or _DATE_SHAPE.match(raw) or _YEAR_RANGE.match(raw):
        return True
    cued = _PHONE_CUE.search(text[max(0, start - 40):start]) is not None
    return bool(_THOUSANDS.match(raw)) and not cued


def phones(text: str) -> list[Finding]:
    if len(_DIGIT.findall(text)) < 8:
        return []
    found: list[Finding] = []
    seen: set[int] = set()
    for region in ("NO", "US", "GB"):
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            if match.start in seen or _ordinary_number(text, match.start, match.end, match.raw_string) or \
                    is_public(text, match.start, match.raw_string):
                continue
            if region != "NO" and not (match.raw_string.startswith(("+", "00", "(")) or
                                       _PHONE_CUE.search(text[max(0, match.start - 40):match.start])):
                continue        # a bare 10-digit run is a US/UK number only when the text says so
            seen.add(match.start)
            found.append(Finding("phone", match.raw_string, match.start))
    # "call me on 9 1 2 3 4 5 6 7": a number the library does not accept, but the text says it is one.
    for m in _CUED_RUN.finditer(text):
        if any(f.start <= m.start() < f.end for f in found):
            continue
        digits = len(_DIGIT.findall(m.group()))
        cue = _PHONE_CUE.search(text[max(0, m.start() - 40):m.start()])
        if 8 <= digits <= 15 and cue and not _ordinary_number(text, m.start(), m.end(), m.group()) and \
                not is_public(text, m.start(), m.group()):
            found.append(Finding("phone", m.group(), m.start()))
    return found


def accounts(text: str) -> list[Finding]:
    """E-mail addresses, profile links and user names (moderation/detect_accounts.py)."""
    return [Finding(kind, part, start) for kind, part, start in _accounts(text)]


# --- numbers that belong to one person ----------------------------------------------------------
_ELEVEN = re.compile(r"(?<![\d:/-])(?<!\d[.,])(\d{6})[ -]?(\d{5})(?!\d|[.,:/-]\d)")
_MONTHS = (r"(?:jan(?:uar|uary)?|feb(?:ruar|ruary)?|mar(?:s|ch)?|apr(?:il)?|mai|may|jun(?:i|e)?|jul(?:i|y)?|"
           r"aug(?:ust)?|sep(?:t|tember)?|okt(?:ober)?|oct(?:ober)?|nov(?:ember)?|des(?:ember)?|dec(?:ember)?)")
_DATE = (rf"(?:\d{{1,2}}[./-]\d{{1,2}}(?:[./-](?:\d{{4}}|\d{{2}}))?|\d{{1,2}}(?:st|nd|rd|th)?\.?\s*(?:of\s+)?{_MONTHS}\.?"
         rf"(?:,?\s*(?:\d{{4}}|'\d\d))?|{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s*\d{{4}})?)")
_BIRTH = re.compile(
    r"\b(?:born|dob|d\.o\.b\.?|date of birth|birth date|birthdate|birthday|b-day|bday|født|fødd|fødselsdag|"
    r"fødselsdagen|fødselsdato|fødselsdatoen|fødselsdatoa|bursdag|bursdagen)\b(?:\s+(?:min|mi|mitt|is|er|was|var|on|den|the|på|i|:|-|,|falls on|faller på))*\s*"
    rf"[:\-]?\s*({_DATE})(?![\d:])", re.I)
# The number itself: an optional letter prefix ("J-88213") or suffix ("88213-B").
_CASE_NUMBER = r"((?:[A-Z]{1,4}[-/]?)?\d[\d/ -]{2,14}\d(?:-?[A-Z]{1,2}\b)?)"
# "journalnummeret mitt på DPS-et er …", "my patient ID at the hospital is …": a few words may
# come between the name of the number and the number, when a verb or colon introduces it.
_CASE_LEAD = r"(?:(?:\s+[\wæøåÆØÅ.-]+){1,4}?\s*(?:\bis\b|\ber\b|=|:)|\s*[:.#]?\s*(?:is|er|=)?)\s*#?\s*"
_CASE = re.compile(
    r"\b(?:case|file|claim|reference|ref|journal|patient|client|sak|saks|pasient|referanse|klient|arkiv|vedtak|"
    r"søknad|application)\s*[-.]?\s*(?:no|nr|number|nummer|id|#)\.?" + _CASE_LEAD + _CASE_NUMBER +
    r"|\b(?:saksnummer|saksnr|journalnummer|journalnr|referansenummer|refnr|ref\.nr|arkivnummer|"
    r"pasientnummer|kundenummer|customer number|case number|patient number|reference number|claim number|"
    r"file number|application number)(?:et|en)?" + _CASE_LEAD + _CASE_NUMBER, re.I)
# "2023/14522", "22/104578": the shape of a Norwegian case or journal number (not "2023/2024").
_CASE_SHAPE = re.compile(r"(?<![\d/.,-])(?:19|20)?\d{2}/\d{4,7}(?:-\d{1,3})?(?![\d/])")
_PLATE = re.compile(r"(?<![\w-])(?!(?:KR|NO|ID|TV|PC|CD|DJ|OK|EU|UK|US|NR|TL|PS|MVA|FM|AM|PM|HD|CV)\b)"
                    r"([A-Z]{2})[ -]?(\d{5})(?![\w,.]\d)")
_PLATE_CUE = re.compile(r"\b(?:reg(?:\.|istration)?\s*(?:nr|no|number|nummer|plate)?|regnr|skilt|skiltet|"
                        r"bilnummer|kjennemerke|number plate|licen[cs]e plate|plate)\s*(?::|is|er|=)?\s*"
                        r"([A-Za-z]{2}\s?\d{4,5}|[A-Za-z]{2}\d{2}\s?[A-Za-z]{3})\b", re.I)


def _case_like(number: str) -> bool:
    """Five digits or more, or a year and a serial ("2021-4471"): four digits alone are a
    queue ticket or a door code."""
    digits = sum(c.isdigit() for c in number)
    return digits >= 5 or (digits >= 4 and any(c in number for c in "/-"))


def numbers(text: str) -> list[Finding]:
    found: list[Finding] = []
    if len(_DIGIT.findall(text)) >= 11:
        for m in _ELEVEN.finditer(text):
            if fodselsnummer.is_valid(m.group(1) + m.group(2)):
                found.append(Finding("id_number", m.group(), m.start()))
    found += [Finding("birth_date", m.group(), m.start()) for m in _BIRTH.finditer(text)]
    found += [Finding("case_number", m.group(), m.start()) for m in _CASE.finditer(text)
              if _case_like(m.group(1) or m.group(2))]
    for m in _CASE_SHAPE.finditer(text):
        second = m.group().split("/")[1].split("-")[0]
        if not (len(second) == 4 and second[:2] in ("19", "20")) and \
                not any(f.start <= m.start() < f.end for f in found):
            found.append(Finding("case_number", m.group(), m.start()))
    found += [Finding("plate", m.group(), m.start()) for m in _PLATE.finditer(text)]
    found += [Finding("plate", m.group(), m.start()) for m in _PLATE_CUE.finditer(text)]
    return found


# --- names --------------------------------------------------------------------------------------
def _lines(name: str) -> list[str]:
    text = resources.files("moderation").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class NameLists:
    first: frozenset[str]
    last: frozenset[str]
    famous: tuple[str, ...]          # casefolded full names and titles
    common: frozenset[str]           # names that are also ordinary words: capitalised only


@lru_cache(maxsize=1)
def name_lists() -> NameLists:
    first = frozenset(w for line in _lines("names_first.txt") for w in line.split())
    last = frozenset(w for line in _lines("names_last.txt") for w in line.split())
    famous = tuple(line.casefold() for line in _lines("famous.txt"))
    common = frozenset(w for line in _lines("names_common_words.txt") for w in line.casefold().split())
    return NameLists(first, last, famous, common)


_CAP = r"[A-ZÆØÅ][a-zæøåéüöä]+(?:-[A-ZÆØÅ][a-zæøåéüöä]+)?"
_WORDISH = r"[A-Za-zÆØÅæøåéüöä]+(?:-[A-Za-zÆØÅæøåéüöä]+)?"
_WORD_RE = re.compile(rf"\b{_WORDISH}\b")
_SURNAME_END = ("sen", "ssen", "stad", "rud", "heim", "berg", "dal", "dahl", "vik", "land", "bakken", "haug",
                "gård", "gaard", "nes", "næs", "strøm", "lund", "holm", "sson", "son", "ström", "qvist", "kvist",
                "quist", "strand", "vold", "voll", "moen", "bråten", "sæter", "sæther", "seth", "bø", "aas")
_MY_NAME = re.compile(rf"\b(?:my (?:real |full )?name is|my name's|call me|jeg heter|eg heiter|navnet mitt er|"
                      rf"mitt (?:ekte )?navn er|i am called|i'm called|heter jeg|heiter eg)\s+({_CAP})", re.I)
# "I'm Sara Lindqvist btw": "I'm" introduces a name only when a listed first name and a
# capitalised second word follow ("I'm Grace" or "I'm Happy Now" is no introduction).
# "mamma heter Gunn Kvernmo": anyone's name told with "heter", under the same conditions.
_IM_FULL = re.compile(rf"\b(?:i'?m|i am|this is|dette er|det er|jeg er|eg er|heter|heiter)\s+({_CAP})\s+({_CAP})\b",
                      re.I)


# Someone the writer knows ("my neighbour Kari Nordmann", "naboen min …"): a famous or
# placeholder name after one of these is a real person here.
_RELATION = re.compile(r"\b(?:my|min|mi|mitt)\s+(?:neighbou?r|friend|boss|manager|colleague|sister|brother|mum|mom|"
                       r"dad|aunt|uncle|cousin|ex|partner|wife|husband|boyfriend|girlfriend|teacher|doctor|therapist|"
                       r"nabo|venn|venninne|sjef|kollega|søster|bror|mamma|pappa|tante|onkel|fetter|kusine|"
                       r"kjæreste|kone|mann|lærer|lege|terapeut)\s*,?\s*$|"
                       r"\b(?:naboen|vennen|venninna|venninnen|sjefen|kollegaen|søsteren|broren|tanta|onkelen|"
                       r"kjæresten|læreren|legen|terapeuten|eksen)\s+(?:min|mi|mitt)\s*,?\s*$", re.I)
_FUNCTION_AFTER_NAME = frozenset("""og and er is i am from fra og men but her here""".split())


def famous_near(text: str, start: int, end: int) -> bool:
    window = text[max(0, start - 30):end + 30].casefold()
    return any(f in window for f in name_lists().famous)


def _is_full_name(a: str, b: str, lists: NameLists) -> bool:
    capital = a[:1].isupper() and b[:1].isupper()
    if a.capitalize() not in lists.first:
        return False
    b_key = b.capitalize()
    surname = b_key in lists.last or (capital and b_key.casefold().endswith(_SURNAME_END) and len(b) > 4
                                      and b.casefold() not in lists.common)
    if not surname:
        return False
    if capital:
        return True
    # lower case ("kari hansen"): both words must be names and not ordinary words
    return a.islower() and b.islower() and b_key in lists.last and \
        a.casefold() not in lists.common and b.casefold() not in lists.common


def names(text: str, pseudonym: str = "") -> list[Finding]:
    lists = name_lists()
    found: list[Finding] = []
    words = list(_WORD_RE.finditer(text))
    for i, m in enumerate(words):
        for j in (i + 1, i + 2):
            if j >= len(words):
                break
            between = text[m.end():words[j].start()]
            if j == i + 2:
                middle = words[i + 1].group()
                if not (middle[:1].isupper() and between.count(" ") <= 2):
                    break
            elif not between.strip() == "" or "\n" in between:
                break
            if _is_full_name(m.group(), words[j].group(), lists) and \
                    (_RELATION.search(text[max(0, m.start() - 30):m.start()]) or
                     not famous_near(text, m.start(), words[j].end())):
                found.append(Finding("name", text[m.start():words[j].end()], m.start()))
                break
    pseudo = pseudonym.casefold()
    for m in _MY_NAME.finditer(text):
        given = m.group(1)
        # "jeg heter Line Bakke": a first and last name after the introduction, listed or not
        full = re.match(rf"\s+({_CAP})\b", text[m.end():])
        full_name = full is not None and full.group(1).casefold() not in _FUNCTION_AFTER_NAME
        if given.casefold() != pseudo and (given.capitalize() in lists.first or full_name) and \
                not any(f.start <= m.start(1) < f.end for f in found):
            end = m.end() + full.end() if full_name else m.end()
            found.append(Finding("name", text[m.start():end], m.start()))
    for m in _IM_FULL.finditer(text):
        first, last = m.group(1), m.group(2)
        if first[:1].isupper() and last[:1].isupper() and first.capitalize() in lists.first and \
                first.casefold() != pseudo and last.casefold() not in lists.common and \
                last.casefold() not in _FUNCTION_AFTER_NAME and not famous_near(text, m.start(1), m.end(2)) and \
                not any(f.start <= m.start(1) < f.end for f in found):
            found.append(Finding("name", text[m.start(1):m.end(2)], m.start(1)))
    return found


@dataclass(frozen=True)
class Identity:
    """What the platform says about the author (from the event, never stored by this module)."""

    usernames: tuple[str, ...] = ()
    display_names: tuple[str, ...] = ()


def own_names(text: str, identity: Identity, pseudonym: str = "") -> list[Finding]:
    """The author's own platform names written in the text: the username, the whole display
    name, and its last name alone. A first name alone is everywhere ("Anna" as a friend's
    name) and counts only as "my name is Anna"."""
    pseudo = pseudonym.casefold()
    common = name_lists().common
    parts: set[str] = set()
    firsts: set[str] = set()
    for username in identity.usernames:
        username = username.strip().lstrip("@")
        if len(username) >= 4:          # "bob answers": a three-letter name is too often a word
            parts.add(username)
    for display in identity.display_names:
        words = display.split()
        if len(words) >= 2:
            parts.add(" ".join(words))
            parts.update(w for w in words[1:] if w.casefold() not in common)
        if words:
            firsts.add(words[0].casefold())
    found: list[Finding] = []
    for part in sorted(parts, key=len, reverse=True):
        if len(part) < 3 or part.casefold() == pseudo:
            continue
        for m in re.finditer(rf"(?<![\w@]){re.escape(part)}(?!\w)", text, re.I):
            found.append(Finding("name", m.group(), m.start()))
    for m in _MY_NAME.finditer(text):
        if m.group(1).casefold() in firsts and m.group(1).casefold() != pseudo:
            found.append(Finding("name", m.group(), m.start()))
    return found


# --- everything ---------------------------------------------------------------------------------
def _local_places(text: str, local: Iterable[str], others: list[Finding]) -> list[Finding]:
    """A configured local place counts only together with another detail (a town alone
    identifies nobody; a workplace, a school, a street or a number in it may)."""
    found: list[Finding] = []
    for name in local:
        name = name.strip()
        if not name:
            continue
        for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.I):
            if others and not any(f.start <= m.start() < f.end for f in others):
                found.append(Finding("place", m.group(), m.start()))
    return found


def detect(text: str, *, local: Iterable[str] = (), identity: Identity = Identity(),
           pseudonym: str = "") -> list[Finding]:
    """Every identifying detail in ``text``, in text order, without overlaps."""
    local = [n.strip() for n in local if n.strip()]
    found = phones(text) + accounts(text) + numbers(text)
    found += [Finding(kind, part, start) for kind, part, start in addresses(text)]
    found += [Finding(kind, part, start) for kind, part, start in institutions(text, local)
              if not famous_near(text, start, start + len(part))]
    found += names(text, pseudonym) + own_names(text, identity, pseudonym)
    found += [Finding(kind, part, start) for kind, part, start in workplaces(text, local)
              if not famous_near(text, start, start + len(part))]
    found += [Finding(kind, part, start) for kind, part, start in local_places(text, local)
              if not famous_near(text, start, start + len(part))]
    found += _local_places(text, local, found)
    # Where two detectors claim the same digits, the more specific one names it.
    found.sort(key=lambda f: (f.start, -len(f.text), f.kind != "id_number"))
    merged: list[Finding] = []
    for f in found:
        if merged and f.start < merged[-1].end:
            continue
        merged.append(f)
    return merged
