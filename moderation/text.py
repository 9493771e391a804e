"""Text normalisation shared by the safety checks: one canonical token list per text.

Case folding, diacritics (but not the Norwegian letters æ/ø, which carry meaning), common
leetspeak inside words ("an0rex1a"), letters repeated for emphasis ("sooo", "diiie") and
contractions ("don't", "wanna") are all undone, so a phrase list entry matches however it
was typed — and only on whole words, never inside another word.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
                       "!": "i", "|": "i", "€": "e"})
_WORD = re.compile(r"[\w@$!|€*']+", re.UNICODE)
_KEEP = {"æ", "ø", "å"}
_EXPAND = {
    "im": ("i", "am"), "ive": ("i", "have"),
    "dont": ("do", "not"), "doesnt": ("does", "not"), "didnt": ("did", "not"), "cant": ("can", "not"),
    "cannot": ("can", "not"), "wont": ("will", "not"), "wouldnt": ("would", "not"),
    "isnt": ("is", "not"), "arent": ("are", "not"), "wasnt": ("was", "not"), "havent": ("have", "not"),
    "wanna": ("want", "to"), "gonna": ("going", "to"), "gotta": ("got", "to"), "2": ("to",), "u": ("you",),
}


def _strip_marks(text: str) -> str:
    out = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            if out and out[-1] == "a" and ch == "\u030a":     # å stays å
                out[-1] = "å"
            continue
        out.append(ch)
    return "".join(out)


def _squeeze(word: str) -> str:
    """Collapse runs of a repeated letter to one ("diiie" -> "die", "kill" -> "kil")."""
    return re.sub(r"(.)\1+", r"\1", word)


@lru_cache(maxsize=65536)
def canon(word: str) -> tuple[str, ...]:
    """One typed word -> its canonical token(s)."""
    word = word.replace("'", "").replace("’", "").strip("!|*")
    if any(c.isalpha() for c in word) and any(not c.isalpha() for c in word):
        word = word.translate(_LEET)
    word = word.replace("*", "")
    if not word:
        return ()
    if word in _EXPAND:
        return tuple(_squeeze(t) for t in _EXPAND[word])
    return (_squeeze(word),)


def tokens(text: str) -> list[str]:
    """The canonical tokens of a text (no sentence structure)."""
    folded = _strip_marks(text.casefold().replace("’", "'"))
    out: list[str] = []
    for m in _WORD.finditer(folded):
        out.extend(canon(m.group()))
    return out


_CLAUSE = re.compile(r"[.!?;,:\n]+|\s[-–—]\s|\s(?:but|men)\s", re.IGNORECASE)


def clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE.split(text) if c.strip()]


def phrase(text: str) -> tuple[str, ...]:
    """A phrase list entry in canonical form (``…`` stays as a gap marker)."""
    out: list[str] = []
    for part in text.split():
        out.extend(["…"] if part in ("…", "...") else tokens(part))
    return tuple(out)
