"""Numbers of public services ("Kirkens SOS 22 40 00 40", "116 123", "113"): not a person's.

People in the groups point each other to helplines all the time; asking the author whether
they meant to share a helpline's number would be a false alarm that teaches them to ignore
the question. The list lives in moderation/data/public_services.txt.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

_NOT_DIGIT = re.compile(r"\D")
# "ring meg på …", "my number", "nummeret hennes": after a service name, a person's number after all.
# ("I" only as a capital: "i" is Norwegian "in", as in "Kirkens SOS i Bergen: …").
_OWN = re.compile(r"\b(?:(?i:me|meg|my|mine|min|mitt|mi|jeg|eg|privat|private|own|egen|eget|hennes|hans|his|her|their|deres)|I)\b")
_CLAUSE_END = re.compile(r"[.!?\n;]\s")
WINDOW = 40


@dataclass(frozen=True)
class Services:
    numbers: frozenset[str]
    names: re.Pattern[str]


@lru_cache(maxsize=1)
def services() -> Services:
    text = resources.files("moderation").joinpath("data/public_services.txt").read_text(encoding="utf-8")
    numbers: set[str] = set()
    names: set[str] = set()
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or "|" not in line:
            continue
        number, _, listed = line.partition("|")
        digits = _NOT_DIGIT.sub("", number)
        if digits:
            numbers.add(digits)
        names.update(n.strip().casefold() for n in listed.split(",") if n.strip())
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return Services(frozenset(numbers), re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.I))


def _national(digits: str) -> str:
    """ "+47 22 40 00 40" and "0047…" are the Norwegian number itself."""
    for prefix in ("0047", "47"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 8:
            return digits[len(prefix):]
    return digits


def is_public(text: str, start: int, raw: str) -> bool:
    """The number ``raw`` at ``start`` is a public service's: listed, or written just after the
    name of a service in the same sentence without the writer making it their own."""
    known = services()
    national = _national(_NOT_DIGIT.sub("", raw))
    if national in known.numbers:
        return True
    if len(national) > 8:       # no service has a longer number: an 11-digit id stays a detail
        return False
    before = text[max(0, start - WINDOW):start]
    ends = list(_CLAUSE_END.finditer(before))
    if ends:
        before = before[ends[-1].end():]
    named = list(known.names.finditer(before))
    if named and not _OWN.search(before[named[-1].end():]):
        return True
    # "22 40 00 40 (Kirkens SOS)", "116 117 er nummeret til legevakta"
    after = text[start + len(raw):start + len(raw) + WINDOW]
    end = _CLAUSE_END.search(after)
    after = after[:end.start()] if end else after
    first = known.names.search(after)
    return first is not None and not _OWN.search(after[:first.start()])
