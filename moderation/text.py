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
from typing import Iterator

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
    "wana": ("want", "to"), "gona": ("going", "to"), "youre": ("you", "are"), "theyre": ("they", "are"),
    "thats": ("that", "is"), "whats": ("what", "is"), "theres": ("there", "is"), "itll": ("it", "will"),
    "youll": ("you", "will"), "theyll": ("they", "will"), "shouldnt": ("should", "not"),
    "couldnt": ("could", "not"), "hadnt": ("had", "not"), "hasnt": ("has", "not"), "werent": ("were", "not"),
    "aint": ("am", "not"), "idk": ("i", "do", "not", "know"), "ima": ("i", "am", "going", "to"),
    "imma": ("i", "am", "going", "to"), "iam": ("i", "am"), "ikek": ("ikke",), "idag": ("i", "dag"),
    "ikveld": ("i", "kveld"), "inatt": ("i", "natt"), "imorgen": ("i", "morgen"), "ikkje": ("ikke",),
}


# Contractions typed with an apostrophe ("I'll", "it's", "you're"); without it "ill" and "id"
# are ordinary words, so only the unambiguous ones are in _EXPAND.
_SUFFIX = {"ll": "will", "d": "would", "re": "are", "ve": "have", "m": "am"}
# Nynorsk and dialect spellings -> the bokmål word the lists use (keys already squeezed:
# "ikkje" -> "ikje"); "eg"/"æ" are "I", "meir" is "mer", "kje"/"itj" are "ikke".
_DIALECT = {"ikje": "ike", "ikj": "ike", "kje": "ike", "itj": "ike", "inkje": "ingenting",
            "eg": "jeg", "æ": "jeg", "je": "jeg", "mæ": "meg", "dæ": "deg", "sjølv": "selv", "sjøl": "selv",
            "meir": "mer", "lengre": "lenger", "leva": "leve", "vere": "være", "vera": "være", "væra": "være",
            "døy": "dø", "berre": "bare", "bære": "bare", "orkar": "orker", "orka": "orke", "klarar": "klarer",
            "klara": "klare", "heile": "hele", "eit": "et", "ein": "en", "kva": "hva", "korleis": "hvordan",
            "kvifor": "hvorfor", "dei": "de", "ho": "hun", "kjem": "komer", "einaste": "eneste",
            "framleis": "fremdeles", "ønskjer": "ønsker", "ynskjer": "ønsker", "ynskje": "ønske",
            "tenkjer": "tenker", "tenkje": "tenke", "nokon": "noen", "heime": "hjeme", "ska": "skal",
            "sku": "skule", "veit": "vet", "gjer": "gjør", "gjere": "gjøre", "gjera": "gjøre", "tek": "tar",
            "mykje": "mye", "selvmor": "selvmord"}
# Progressive forms of the crisis verbs -> the base form, so "ending it tonight" is "end it
# tonight" and each phrase need not be listed twice (keys squeezed: "cutting" -> "cuting").
_STEM = {"ending": "end", "kiling": "kil", "hurting": "hurt", "cuting": "cut", "harming": "harm",
         "hanging": "hang", "jumping": "jump", "taking": "take", "overdosing": "overdose", "starving": "starve",
         "drowning": "drown", "poisoning": "poison", "living": "live", "existing": "exist",
         "disapearing": "disapear", "swalowing": "swalow", "wanting": "want", "giving": "give",
         "finishing": "finish", "stoping": "stop", "sucide": "suicide", "suicde": "suicide",
         "suiside": "suicide", "sucidal": "suicidal", "suicdal": "suicidal", "myslef": "myself",
         "mysef": "myself", "myselff": "myself", "slef": "self", "deleting": "delete"}


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


def _final(word: str) -> str:
    word = _squeeze(word)
    word = _DIALECT.get(word, word)
    return _STEM.get(word, word)


@lru_cache(maxsize=65536)
def canon(word: str) -> tuple[str, ...]:
    """One typed word -> its canonical token(s)."""
    word = word.replace("’", "'").strip("'")
    if "'" in word:
        stem, _, suffix = word.rpartition("'")
        if suffix in _SUFFIX and stem.isalpha():
            return canon(stem) + (_SUFFIX[suffix] if suffix != "ll" else "wil",)
        if suffix == "s" and stem.isalpha():         # "it's", "tonight's the night" (and "mum's")
            return canon(stem) + ("is",)
    word = word.replace("'", "").strip("!|*")
    if any(c.isalpha() for c in word) and any(not c.isalpha() for c in word):
        word = word.translate(_LEET)
    word = word.replace("*", "")
    if not word:
        return ()
    if word in _EXPAND:
        return tuple(_final(t) for t in _EXPAND[word])
    squeezed = _squeeze(word)
    if squeezed in _EXPAND:                     # "wannna", "dontt"
        return tuple(_final(t) for t in _EXPAND[squeezed])
    return (_final(word),)


_DOTTED = re.compile(r"\b(?:[^\W\d_]\.){2,}[^\W\d_]?\b")       # "k.m.s" -> "kms"
# A zero for "ø" in the Norwegian words ("d0", "d0d"): tried only where it makes one of these.
_OSLASH = {"dø", "død", "dør", "døde", "døden", "dødd"}


def tokens(text: str) -> list[str]:
    """The canonical tokens of a text (no sentence structure)."""
    folded = _strip_marks(text.casefold().replace("’", "'"))
    if "0" in folded:
        folded = re.sub(r"\b\w*0\w*\b", lambda m: m.group().replace("0", "ø")
                        if m.group().replace("0", "ø") in _OSLASH else m.group(), folded)
    out: list[str] = []
    for m in _WORD.finditer(folded):
        out.extend(canon(m.group()))
    for i in range(len(out) - 1):           # "ill be gone": "I'll" typed without the apostrophe
        if out[i] == "il" and out[i + 1] in _AFTER_ILL:
            out[i:i + 1] = ["i", "wil"]
    return out


_AFTER_ILL = {"be", "never", "just", "do", "go", "end", "kil", "take", "make", "miss", "finaly", "probably", "not",
              "jump", "hurt", "cut", "die", "try", "stop", "disapear", "leave", "say", "let"}


_CLAUSE = re.compile(r"[.!?;,:\n]+|\s[-–—]\s|\s(?:but|men)\s", re.IGNORECASE)


def clauses(text: str) -> list[str]:
    if "." in text:                 # "k.m.s" is one word, not three sentences
        text = _DOTTED.sub(lambda m: m.group().replace(".", ""), text)
    return [c for c in _CLAUSE.split(text) if c.strip()]


def sectioned_lines(text: str) -> Iterator[tuple[str, str]]:
    """(section, line) for each entry of a phrase data file: ``[section]`` headers, ``#`` comments
    and blank lines are skipped; lines before the first header have the section ""."""
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        yield section, line


def phrase(text: str) -> tuple[str, ...]:
    """A phrase list entry in canonical form (``…`` stays as a gap marker)."""
    out: list[str] = []
    for part in text.split():
        out.extend(["…"] if part in ("…", "...") else tokens(part))
    return tuple(out)
