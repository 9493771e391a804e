"""Crisis language, second stage: concepts combined, not phrases listed.

The phrase lists of moderation/crisis.py catch what people say in the words someone wrote
down; a crisis is as often told in parts that are ordinary alone — "bought a rope today",
"ga bort hunden min, trenger den ikke der jeg skal", "standing on the platform, next train in
4 minutes". Here each phrase of moderation/data/concepts_{en,nb}.txt names a concept (DEATH,
SELFHARM, METHOD, ACQUIRE, FAREWELL, DISPOSAL, FINALITY, NEAR …) and a post answers when the
concepts it holds make a crisis together (``RULES``), e.g. a method with a near time or with
buying it, a farewell with a reason to be gone, self-harm with an urge or "again".

A concept counts unless a clear signal undoes it: someone else is the subject of its clause,
a negation stands right before it, its clause tells of the distant past (or the post says the
writer came through), it is an idiom ("dying laughing", "dør av latter"), an everyday use
("rope for the boat", "took my pills as usual"), fiction or news, or the writer asks how to
help someone else. When unsure it counts: a kind false alarm costs little, a missed crisis a
lot. Matching uses moderation/text.py, so spelling games are undone exactly as in stage one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from moderation.text import clauses, tokens

CONCEPTS = ("death", "selfharm", "method", "pills", "amount", "stash", "acquire", "prepare", "at_hand", "means",
            "blade", "place", "water", "go", "farewell", "lastpost", "note", "placed", "disposal", "settled",
            "finality", "calm", "near", "present", "covert", "ready", "do_it", "urge", "future", "again", "hopeless")
CONTEXT = ("idiom", "negation", "third", "fear", "past", "recovered", "fiction", "help_other", "routine",
           "return")
GAP, END = "…", "$"
# Concepts an everyday use undoes ("rope for the boat", "gave my bike away, I got a new one").
EVERYDAY = {"method", "pills", "acquire", "at_hand", "disposal", "prepare", "place", "go", "blade",
            "stash", "means", "settled", "water"}
# Concepts a way back undoes ("my last post before the holidays, see you in January").
RETURNABLE = {"farewell", "lastpost", "finality", "disposal", "settled"}
# A mention of these that was undone is still worth a quiet note (tier 1).
NOTEWORTHY = {"death", "selfharm", "method", "place", "water"}
FIRST = frozenset(t for w in ("i", "me", "my", "myself", "mine", "jeg", "meg", "min", "mitt", "mine", "selv")
                  for t in tokens(w))
_NOT_NEGATING = frozenset(t for w in ("stop", "help", "slutte", "la", "wait", "vente") for t in tokens(w))
_PREP = frozenset(t for w in ("to", "for", "with", "from", "about", "of", "til", "for", "med", "fra", "om", "av",
                              "hos", "på", "at", "and", "og") for t in tokens(w))
_SUBJECT_I = frozenset(t for w in ("i", "jeg") for t in tokens(w))
_JOIN = frozenset(t for w in ("where", "when", "because", "since", "if", "that", "who", "which", "and", "hvor",
                              "der", "når", "fordi", "siden", "hvis", "som", "at", "og") for t in tokens(w))
# After a method, "for"/"til" and a thing is its everyday purpose ("a rope for the hammock",
# "tau til båten", "pills for my headache"), unless what follows is a time or the writer.
_PURPOSE = frozenset(t for w in ("for", "til") for t in tokens(w))
_NO_PURPOSE = frozenset(t for w in ("tonight", "tomorrow", "later", "when", "after", "me", "myself", "it", "i",
                                    "kveld", "natt", "morgen", "senere", "når", "etter", "meg", "det", "this",
                                    "dette", "good", "godt", "alltid", "ever", "the end",
                                    # a duration, not a use: "saving my meds for two weeks"
                                    "weeks", "days", "months", "years", "a while", "uker", "dager", "måneder",
                                    "år", "lenge", "long", "ages") for t in tokens(w))
_YEAR = re.compile(r"\b(?:in|i|since|siden|fra|back in) (?:19|20)\d\d\b", re.IGNORECASE)
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|«[^»\n]*»|^\s*>.*$", re.MULTILINE)
WINDOW = 4          # words between a negation or a fear and the concept it undoes

# canonical words; GAP = 0–3 words; END = the end of the clause; "word*" a prefix, "*word" a suffix
Entry = tuple[str, ...]


def _entry(line: str) -> Entry:
    out: list[str] = []
    for part in line.split():
        if part in (GAP, "..."):
            out.append(GAP)
        elif part == END:
            out.append(END)
        elif part.endswith("*") and len(part) > 2:
            words = tokens(part[:-1])
            out.extend(words[:-1] + [words[-1] + "*"] if words else [])
        elif part.startswith("*") and len(part) > 2:
            words = tokens(part[1:])
            out.extend(["*" + words[0]] + words[1:] if words else [])
        else:
            out.extend(tokens(part))
    while out and out[0] == GAP:
        out.pop(0)
    return tuple(out)


@dataclass(frozen=True)
class Lexicon:
    exact: dict[str, tuple[tuple[str, Entry], ...]]      # first word -> (section, entry)
    prefix: dict[str, tuple[tuple[str, Entry], ...]]     # first two letters of a prefix head
    suffix: tuple[tuple[str, Entry], ...]                # heads that are suffixes ("*brua"): tried on every word


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    exact: dict[str, list[tuple[str, Entry]]] = {}
    prefix: dict[str, list[tuple[str, Entry]]] = {}
    suffix: list[tuple[str, Entry]] = []
    for lang in ("en", "nb"):
        text = resources.files("moderation").joinpath(f"data/concepts_{lang}.txt").read_text(encoding="utf-8")
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                if section not in CONCEPTS + CONTEXT:
                    raise ValueError(f"concepts_{lang}.txt: unknown section [{section}]")
                continue
            entry = _entry(line)
            if entry:
                head = entry[0]
                index = suffix if head.startswith("*") else \
                    prefix.setdefault(head[:2], []) if head.endswith("*") else exact.setdefault(head, [])
                index.append((section, entry))
    return Lexicon({k: tuple(v) for k, v in exact.items()}, {k: tuple(v) for k, v in prefix.items()}, tuple(suffix))


def _same(word: str, item: str) -> bool:
    if item.endswith("*"):
        return word.startswith(item[:-1])
    return word.endswith(item[1:]) if item.startswith("*") else word == item


def _match(words: list[str], i: int, entry: Entry, k: int = 0) -> int:
    """The end index if ``entry[k:]`` matches ``words`` from ``i``, else -1."""
    while k < len(entry):
        item = entry[k]
        if item == GAP:
            for skip in range(4):
                end = _match(words, i + skip, entry, k + 1)
                if end >= 0:
                    return end
            return -1
        if item == END:
            return i if i == len(words) else -1
        if i >= len(words) or not _same(words[i], item):
            return -1
        i, k = i + 1, k + 1
    return i


@dataclass(frozen=True)
class Span:
    section: str
    clause: int
    start: int
    end: int


def _find(words: list[str], n: int, lex: Lexicon) -> list[Span]:
    found = []
    for i, word in enumerate(words):
        for section, entry in lex.exact.get(word, ()) + lex.prefix.get(word[:2], ()) + lex.suffix:
            end = _match(words, i, entry)
            if end > i:
                found.append(Span(section, n, i, end))
    return found


@dataclass
class Reading:
    """What a post holds: concept spans that count, and the sections of those undone."""
    live: list[Span]
    undone: set[str]
    scoped: list[Span]                 # undone by a clear statement about whose or when (SCOPES)
    clause_words: list[list[str]]

    def has(self, *sections: str) -> bool:
        return any(s.section in sections for s in self.live)

    def distinct(self, section: str) -> int:
        """How many separate places the concept is named ("i love you all" is one, not two)."""
        count, last = 0, (-1, -1)
        for s in sorted((s for s in self.live if s.section == section), key=lambda s: (s.clause, s.start)):
            if (s.clause, s.start) >= last:
                count += 1
            last = max(last, (s.clause, s.end))
        return count


def _near(spans: list[Span], section: str, target: Span, before: int) -> list[Span]:
    return [s for s in spans if s.section == section and s.clause == target.clause
            and target.start - before <= s.start and s.end <= target.start]


def _negated(words: list[str], spans: list[Span], c: Span) -> bool:
    """A negation just before the concept, with no new "I" between ("not going to lie, I want to
    die" is not negated) and not "can't stop" / "klarer ikke slutte", which do not negate."""
    for neg in _near(spans, "negation", c, WINDOW + 1):
        between = words[neg.end:c.start]
        if between[:1] and between[0] in _NOT_NEGATING:
            continue
        # "won't need anything where I'm going": a new subject or clause ends the negation
        if not (FIRST | _JOIN) & set(between + words[c.start:c.start + 1]):
            return True
    return False


def _other_subject(words: list[str], spans: list[Span], c: Span) -> bool:
    """The nearest person before the concept in its clause is someone else ("she wants to die",
    "broren min snakker om selvmord") — unless the concept itself says me ("better off without me")."""
    if FIRST & set(words[c.start:c.end]):
        return False
    # "she wrote me a goodbye letter": only a new "I" takes the subject back
    # "wrote letters to my kids and put them…": after a preposition the person is an object
    others = [s.end for s in spans if s.section == "third" and s.clause == c.clause and s.end <= c.start
              and (s.start == 0 or words[s.start - 1] not in _PREP)]
    if not others:
        return False
    last_other = max(others)
    return not any(w in _SUBJECT_I for w in words[last_other:c.start])


def read(text: str) -> Reading:
    lex = lexicon()
    plain = _QUOTED.sub(" . ", text)           # quotes are stage one's (songs, books, someone else)
    parts = clauses(plain)
    clause_words = [tokens(c) for c in parts]
    spans: list[Span] = []
    hidden: list[Span] = []
    for n, words in enumerate(clause_words):
        found = _find(words, n, lex)
        idioms = [s for s in found if s.section == "idiom"]
        # an idiom hides the concepts it contains ("dying laughing", "kill time", "my last post before")
        for s in found:
            inside_idiom = s.section != "idiom" and any(
                i.start <= s.start < i.end or i.start < s.end <= i.end for i in idioms)
            (hidden if inside_idiom else spans).append(s)
    inside = [s for s in spans if s.section in CONCEPTS]
    spans = [s for s in spans if s.section != "negation" or not any(
        c.clause == s.clause and c.start <= s.start and s.end <= c.end and c is not s for c in inside)]
    post = {s.section for s in spans}
    clause_has = {(s.clause, s.section) for s in spans}
    told = {n for n, c in enumerate(parts) if _YEAR.search(c) or (n, "past") in clause_has}
    # the post says the writer came through, and nothing outside the story is wanted again now
    came_through = "recovered" in post and bool(told) and not any(
        s.section in ("again", "urge") and s.clause not in told for s in spans)
    helping = "help_other" in post and "third" in post
    returns = _returns(spans, clause_words)
    live, undone = [], set()
    scoped = [s for s in hidden if s.section in CONCEPTS]
    for c in spans:
        if c.section not in CONCEPTS:
            continue
        words = clause_words[c.clause]
        here = {s for n, s in clause_has if n == c.clause}
        near_routine = any((m, "routine") in clause_has for m in (c.clause - 1, c.clause, c.clause + 1))
        why = _undone_by(c, words, spans, here, c.clause in told, (came_through, helping), near_routine, returns)
        if why:
            undone.add(c.section)
            if why in SCOPES:
                scoped.append(c)
        else:
            live.append(c)
    return Reading(live, undone, scoped, clause_words)


# Why a concept is undone, when the reason is a clear statement about the writer's own words:
# someone else is the subject, a negation, a story the writer came through, a way back, an
# everyday purpose named with it (and an idiom, above). These (not a film, not an everyday
# word in the next clause) may also lower stage one's reading of the same words.
SCOPES = {"other", "negated", "recovered", "returns", "purpose"}


def _undone_by(c: Span, words: list[str], spans: list[Span], here: set[str], told: bool,
               post: tuple[bool, bool], near_routine: bool, returns: bool) -> str:
    """The reason a concept does not count, or "" when it counts; ``post``: (the post says the
    writer came through, the writer asks how to help someone else)."""
    came_through, helping = post
    if "fiction" in here:
        return "fiction"                                  # a film, a book, the news
    if "recovered" in here or came_through:
        return "recovered"                                # "clean from sh for a year"
    if helping:
        return "other"                                    # "how can I help my friend, he bought a rope"
    if told and "near" not in here:
        return "told"                                     # "years ago …", not "… and tonight"
    if c.section in EVERYDAY and "routine" in here or c.section in ("method", "pills", "means") and _purpose(words, c):
        return "purpose"                                  # "rope for the climbing gym", "pills for my headache"
    if c.section in EVERYDAY and near_routine:
        return "everyday"                                 # an everyday word in the clause next to it
    if c.section in RETURNABLE and returns:
        return "returns"
    if c.section == "death" and _near(spans, "fear", c, WINDOW + 1):
        return "fear"                                     # "scared of dying"
    if _negated(words, spans, c):
        return "negated"
    if _other_subject(words, spans, c) and c.section not in ("near", "present"):
        return "other"
    return ""


def _purpose(words: list[str], c: Span) -> bool:
    after = words[c.end:c.end + 3]
    if not after or after[0] not in _PURPOSE:
        return False
    return not _NO_PURPOSE & set(after[1:]) and not any(w.isdigit() for w in after[1:])


_NEVER = frozenset(t for w in ("never", "aldri") for t in tokens(w))


def _returns(spans: list[Span], clause_words: list[list[str]]) -> bool:
    """A way back is named ("see you in January", "vi ses neste uke"), not inside a finality
    phrase ("won't come back") and not negated."""
    final = [s for s in spans if s.section == "finality"]
    for r in (s for s in spans if s.section == "return"):
        inside = any(f.clause == r.clause and f.start <= r.start < f.end for f in final)
        never = _NEVER & set(clause_words[r.clause][r.end:r.end + 3])      # "see you never"
        if not inside and not never and not _negated(clause_words[r.clause], spans, r):
            return True
    return False


def _has_first(text: str) -> bool:
    return bool(FIRST & set(tokens(text)))


# Each rule: a name (for tests and the audit detail), the concept that anchors it, what must
# come with it (any one), and whether it is strong enough to overrule stage one's reading of
# the post as a mere mention.
RULES: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("method+near", "method", ("near", "covert"), True),
    ("method+acquire", "method", ("acquire",), True),
    ("method+at_hand", "method", ("at_hand",), True),
    ("method+prepare", "method", ("prepare", "ready"), True),
    ("method+urge", "method", ("urge", "finality", "hopeless", "death", "do_it"), False),
    ("selfharm+again", "selfharm", ("again", "near"), True),
    ("selfharm+urge", "selfharm", ("urge", "ready", "at_hand", "future"), False),
    ("death+hopeless", "death", ("hopeless", "ready"), True),
    ("death+context", "death", ("first", "near", "urge", "ready", "hopeless", "finality", "do_it", "future"), False),
    ("farewell+final", "farewell", ("finality", "disposal", "hopeless", "lastpost", "note", "death"), False),
    ("lastpost", "lastpost", ("first", "near", "finality", "farewell", "hopeless", "ready"), False),
    ("note+left", "note", ("placed", "finality", "disposal", "hopeless", "farewell"), False),
    ("disposal+final", "disposal", ("finality", "hopeless", "farewell", "ready"), False),
    ("calm+ready", "calm", ("ready", "disposal", "farewell", "note", "lastpost", "hopeless"), False),
    ("covert+means", "covert", ("ready", "method", "place", "do_it", "death", "prepare", "finality", "selfharm"), True),
    ("means+acquire", "means", ("acquire", "at_hand"), False),      # needs a third part, below
    ("settled", "settled", ("first", "finality", "near", "hopeless", "farewell"), False),
    ("hopeless+final", "hopeless", ("finality", "prepare"), False),
    ("prepare+final", "prepare", ("finality", "do_it", "hopeless"), False),
)


def _pills_as_method(reading: Reading, text: str) -> bool:
    """Pills are every day's; with an amount, a stash or a search they are a method — and
    counted, stored up or a deadly dose they are a plan (returned True)."""
    pills = [s for s in reading.live if s.section == "pills"]
    if not pills:
        return False
    many = any(w.isdigit() and 10 <= int(w) < 1000 for w in tokens(text))     # "43. should be enough"
    laid_out = reading.has("at_hand") and reading.has("ready", "near", "finality", "hopeless", "urge", "covert")
    if many or laid_out or reading.has("amount", "acquire", "prepare", "stash"):
        reading.live.extend(Span("method", p.clause, p.start, p.end) for p in pills)
    return reading.has("stash") or many and reading.has("amount", "acquire", "again")


def evidence(text: str) -> tuple[int, bool, list[str]]:
    """(tier, strong, rules that fired): tier 2 answer + alert, 1 an undone mention, 0 nothing."""
    return evidence_of(read(text), text)


def evidence_of(reading: Reading, text: str) -> tuple[int, bool, list[str]]:
    fired: list[str] = ["pills+stash"] if _pills_as_method(reading, text) else []
    strong = bool(fired)
    first = _has_first(text)
    for name, anchor, companions, is_strong in RULES:
        if not reading.has(anchor):
            continue
        with_ = [c for c in companions if c == "first" and first or c != "first" and reading.has(c)]
        if name == "disposal+final" and not with_ and reading.distinct("disposal") >= 2:
            with_ = ["disposal"]                 # deleted the accounts and paid the rent ahead
        if name == "farewell+final" and not with_ and reading.distinct("farewell") >= 2:
            with_ = ["farewell"]
        if name == "means+acquire" and not reading.has("near", "covert", "hopeless", "finality", "death", "ready"):
            with_ = []                  # "bought everything I need" is shopping until a time or a reason comes
        if with_:
            fired.append(name)
            strong = strong or is_strong
    # a high place is anyone's; being there now, or going there soon, or with a reason, is not
    reason = reading.has("finality", "hopeless", "urge", "farewell", "death", "ready", "covert")
    if reading.has("place") and (reading.has("at_hand") and (reading.has("present") or reason)
                                 or reading.has("go") and (reading.has("near") or reason)):
        fired.append("place+there")
        strong = strong or reading.has("present", "near")
    # water is for swimming and fishing, unless a reason comes with going there
    if reading.has("water") and reading.has("go", "at_hand") and reason:
        fired.append("water+reason")
    # a knife is in every kitchen; hidden or at hand with an urge or self-harm it is not
    if reading.has("blade") and reading.has("at_hand", "placed", "urge", "selfharm", "finality", "hopeless"):
        fired.append("blade+at_hand")
    if fired:
        return 2, strong, fired
    return (1 if reading.undone & NOTEWORTHY else 0), False, []


def assess(text: str) -> int:
    """The concept stage's tier of a post: 2 answer + alert, 1 an undone mention, 0 nothing."""
    return evidence(text)[0]
