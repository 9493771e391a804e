"""Crisis language, second stage: concepts combined, not phrases listed.

The phrase lists of moderation/crisis.py catch what people say in the words someone wrote
down; a crisis is as often told in parts that are ordinary alone — "bought a rope today",
"ga bort hunden min, trenger den ikke der jeg skal", "standing on the platform, next train in
4 minutes". Here each phrase of moderation/data/concepts_{en,nb}.txt names a concept (DEATH,
SELFHARM, METHOD, ACQUIRE, FAREWELL, DISPOSAL, FINALITY, NEAR …) and a post answers when the
concepts it holds make a crisis together (``RULES`` in moderation/crisis_evidence.py), e.g. a
method with a near time or with buying it, a farewell with a reason to be gone, self-harm with an
urge or "again", a plan (where, when, how) with a reason, clothes laid out "to be found in".

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

from moderation.text import clauses, sectioned_lines, tokens

CONCEPTS = ("death", "selfharm", "method", "pills", "amount", "stash", "acquire", "prepare", "at_hand", "means",
            "blade", "place", "water", "go", "farewell", "lastpost", "note", "placed", "disposal", "settled",
            "finality", "calm", "near", "present", "covert", "ready", "do_it", "urge", "future", "again", "hopeless",
            # meanings told in everyday words (moderation/crisis_evidence.py): where/when/how decided,
            # preparing to be found, medicine kept back, absent from a day ahead, a pet rehomed, a
            # deadline, a secret kept, what is left for others
            "plan", "plan2", "found", "hoard", "absent", "occasion", "rehome", "deadline", "secret", "legacy",
            "afterwards", "enclosed", "engine", "withheld", "hidden", "done", "boxes", "swallow", "ingested",
            # a reason told to others and taken back ("told her it was for a holiday. it isn't"), a
            # handing over for good ("she can keep him forever")
            "denial", "permanent",
            # something to hang from, something to hang with, and tying or testing it
            "anchor", "ligature", "cord", "fasten",
            # what an overdose does to the body, and a dose taken minutes or hours ago
            "symptom", "ago",
            # a time set for an act left unnamed ("that's when"), voices heard, a hose for the exhaust
            "when_it", "voices", "exhaust",
            # the others rid of the writer, a gun loaded, an overdose taking effect (no regret, the
            # next dose), a time as a decision, a failed attempt to be done properly
            "riddance", "armed", "effect", "no_regret", "more_dose", "decided", "failed", "properly",
            "last_left", "tied", "decided_soft")
CONTEXT = ("idiom", "negation", "third", "fear", "past", "recovered", "fiction", "help_other", "routine",
           "drink", "return", "away", "plural", "safekeeping")
GAP, END = "…", "$"
# Concepts an everyday use undoes ("rope for the boat", "gave my bike away, I got a new one").
EVERYDAY = {"method", "pills", "acquire", "at_hand", "disposal", "prepare", "place", "go", "blade",
            "stash", "means", "settled", "water", "plan", "plan2", "rehome", "engine", "boxes", "ligature", "cord", "anchor"}
# Said of the writer's own life whoever is the grammatical subject ("my neighbour is taking the
# dog on sunday", "he'll need them after this weekend").
ANY_SUBJECT = {"near", "present", "deadline", "secret", "rehome", "legacy", "occasion", "afterwards", "hidden",
               "at_hand", "denial", "permanent", "when_it", "voices"}
# A drink is an everyday purpose ("a coffee on the bridge"), except beside pills: alcohol with
# an amount of them is a danger, not a use.
WITH_DRINK = {"pills", "method", "boxes"}
# Concepts a way back undoes ("my last post before the holidays, see you in January").
RETURNABLE = {"farewell", "lastpost", "finality", "disposal", "settled"}
# Blind set 10: "you'll be rid of me till Monday, see you then" has a way back; a cord for the
# charger or a cable for the TV is everyday, and so is a recipe that "didn't work".
RETURNABLE |= {"riddance"}
EVERYDAY |= {"cord", "failed"}
# A mention of these that was undone is still worth a quiet note (tier 1).
NOTEWORTHY = {"death", "selfharm", "method", "place", "water"}
FIRST = frozenset(t for w in ("i", "me", "my", "myself", "mine", "jeg", "meg", "min", "mitt", "mine", "selv")
                  for t in tokens(w))
# after a negation these take it elsewhere: "can't stop", "don't know it's forever"
_NOT_NEGATING = frozenset(t for w in ("stop", "help", "slutte", "la", "wait", "vente", "know", "knows", "realise",
                                      "realize") for t in tokens(w))
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
_AGO = frozenset(tokens("siden"))
# "around 2015" / "rundt 2015" too (blind set 10: a past told as such)
_YEAR = re.compile(r"\b(?:in|i|since|siden|fra|back in|around|rundt|cirka) (?:19|20)\d\d\b", re.IGNORECASE)
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
    pairs: dict[tuple[str, str], tuple[tuple[str, Entry], ...]]     # first two plain words, for common heads
    prefix: dict[str, tuple[tuple[str, Entry], ...]]     # first two letters of a prefix head
    suffix: tuple[tuple[str, Entry], ...]                # heads that are suffixes ("*brua"): tried on every word


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    exact: dict[str, list[tuple[str, Entry]]] = {}
    prefix: dict[str, list[tuple[str, Entry]]] = {}
    suffix: list[tuple[str, Entry]] = []
    for lang in ("en", "nb"):
        text = resources.files("moderation").joinpath(f"data/concepts_{lang}.txt").read_text(encoding="utf-8")
        for section, line in sectioned_lines(text):
            if section not in CONCEPTS + CONTEXT:
                raise ValueError(f"concepts_{lang}.txt: unknown section [{section}]")
            entry = _entry(line)
            if entry:
                head = entry[0]
                index = suffix if head.startswith("*") else \
                    prefix.setdefault(head[:2], []) if head.endswith("*") else exact.setdefault(head, [])
                index.append((section, entry))
    # "the", "my", "take" head dozens of entries: those whose second word is plain are found by
    # the first two words, so each word tries a handful of entries, not all of them
    pairs: dict[tuple[str, str], list[tuple[str, Entry]]] = {}
    for head in [h for h, v in exact.items() if len(v) > 8]:
        rest = []
        for section, entry in exact[head]:
            second = entry[1] if len(entry) > 1 else GAP
            if second in (GAP, END) or second.startswith("*") or second.endswith("*"):
                rest.append((section, entry))
            else:
                pairs.setdefault((head, second), []).append((section, entry))
        exact[head] = rest
    return Lexicon({k: tuple(v) for k, v in exact.items()}, {k: tuple(v) for k, v in pairs.items()},
                   {k: tuple(v) for k, v in prefix.items()}, tuple(suffix))


def _same(word: str, item: str) -> bool:
    if item.endswith("*"):
        return word.startswith(item[:-1])
    return word.endswith(item[1:]) if item.startswith("*") else word == item


# Norwegian puts the verb before the subject after a fronted time or place ("i dag kutta jeg meg",
# "så skar jeg meg igjen"): a "jeg" between a verb and its "meg" is the same statement as "kutta meg".
_ME, _I_NB = tokens("meg")[0], tokens("jeg")[0]


def _match(words: list[str], i: int, entry: Entry, k: int = 0) -> int:
    """The end index if ``entry[k:]`` matches ``words`` from ``i``, else -1."""
    while k < len(entry):
        item = entry[k]
        if item == _ME and k > 0 and i + 1 < len(words) and words[i] == _I_NB and words[i + 1] == _ME:
            i += 1                                  # "kutta jeg meg" as "kutta meg"
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
        pair = lex.pairs.get((word, words[i + 1]), ()) if i + 1 < len(words) else ()
        if words[i + 1:i + 3] == [_I_NB, _ME]:
            pair += lex.pairs.get((word, _ME), ())              # "skar jeg meg" (see _match)
        for section, entry in lex.exact.get(word, ()) + pair + lex.prefix.get(word[:2], ()) + lex.suffix:
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
    negated: frozenset[str] = frozenset()      # sections undone by a negation before them

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
              and (s.start == 0 or words[s.start - 1] not in _PREP or words[s.end:s.end + 1] == [_WHO_REL[0]]
                   or words[s.end:s.end + 1] == [_WHO_REL[1]]) and not _asked(words, s)]
    if not others:
        return False
    last_other = max(others)
    return not any(w in _SUBJECT_I for w in words[last_other:c.start])


# "with my partner who took an overdose", "med kjæresten min som tok en overdose": after a
# preposition the person is an object, but a "who" after them makes them the subject of what follows
_WHO_REL = (tokens("who")[0], tokens("som")[0])
_KNOW = frozenset(t for w in ("know", "knows", "vet", "veit") for t in tokens(w))
_WHO_ASK = frozenset(t for w in ("som", "who", "does", "do") for t in tokens(w))


def _asked(words: list[str], s: Span) -> bool:
    """ "noen som vet om taket …", "does anyone know …", "vet noen …": the person named is
    the one asked, not the subject of what follows."""
    after, before = words[s.end:s.end + 2], words[max(0, s.start - 1):s.start]
    return bool(after) and (after[0] in _KNOW or after[0] in _WHO_ASK and after[1:] and after[1] in _KNOW) \
        or bool(before) and before[0] in _KNOW


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
    # what a denial takes back is not said ("ikke til en bok" is no book, "not for the view" no
    # outing), and a routine word inside a concept's own words is that concept ("moved all my
    # savings" is no move)
    denials = [s for s in spans if s.section == "denial"]
    spans = [s for s in spans if s.section in CONCEPTS or not any(
        d.clause == s.clause and d.start <= s.start and s.end <= d.end for d in denials)]
    spans = [s for s in spans if s.section not in ("routine", "drink") or not any(
        c.clause == s.clause and c.start <= s.start and s.end <= c.end
        for c in inside)]
    # blind set 10: "fri fra alt" (free from it all) is a finality, not "fri fra selvskading"
    spans = [s for s in spans if s.section != "recovered" or not any(
        c.clause == s.clause and c.start <= s.start and s.end <= c.end and c.section == "finality" for c in inside)]
    post = {s.section for s in spans}
    clause_has = {(s.clause, s.section) for s in spans}
    told = {n for n, c in enumerate(parts) if _YEAR.search(c) or (n, "past") in clause_has}
    # the post says the writer came through, and nothing outside the story is wanted again now
    came_through = "recovered" in post and bool(told) and not any(
        s.section in ("again", "urge") and s.clause not in told for s in spans)
    helping = "help_other" in post and "third" in post
    facts = _Facts(spans, clause_words, clause_has, told, came_through, helping, _returns(spans, clause_words))
    live, undone, negated = [], set(), set()
    scoped = [s for s in hidden if s.section in CONCEPTS]
    for c in spans:
        if c.section not in CONCEPTS:
            continue
        why = _undone_by(c, facts)
        if why:
            undone.add(c.section)
            if why in SCOPES:
                scoped.append(c)
            if why == "negated":
                negated.add(c.section)
        else:
            live.append(c)
    return Reading(live, undone, scoped, clause_words, frozenset(negated))


@dataclass(frozen=True)
class _Facts:
    """What the whole post says that can undo a concept."""
    spans: list[Span]
    clause_words: list[list[str]]
    clause_has: set[tuple[int, str]]
    told: set[int]                 # clauses that tell of the past
    came_through: bool             # the post says the writer came through
    helping: bool                  # the writer asks how to help someone else
    returns: bool                  # a way back is named

    def around(self, n: int, section: str) -> bool:
        return any((m, section) in self.clause_has for m in (n - 1, n, n + 1))


# Why a concept is undone, when the reason is a clear statement about the writer's own words:
# someone else is the subject, a negation, a story the writer came through, a way back, an
# everyday purpose named with it (and an idiom, above). These (not a film, not an everyday
# word in the next clause) may also lower stage one's reading of the same words.
SCOPES = {"other", "negated", "recovered", "returns", "purpose"}


def _undone_by(c: Span, f: _Facts) -> str:
    """The reason a concept does not count, or "" when it counts."""
    words, here = f.clause_words[c.clause], {s for n, s in f.clause_has if n == c.clause}
    if "fiction" in here:
        return "fiction"                                  # a film, a book, the news
    if "recovered" in here or f.came_through:
        return "recovered"                                # "clean from sh for a year"
    if f.helping:
        return "other"                                    # "how can I help my friend, he bought a rope"
    if c.clause in f.told and "near" not in here:
        return "told"                                     # "years ago …", not "… and tonight"
    routine = ("routine",) if c.section in WITH_DRINK else ("routine", "drink")
    # an everyday purpose the writer takes back right after ("sa det var mens jeg er på ferie. det
    # er ikke det", "it's not for the lamp") is a cover story: it undoes nothing
    # (or right before: "she thinks i'm at the gym. i'm at the quarry")
    denied = any((m, "denial") in f.clause_has for m in (c.clause - 1, c.clause, c.clause + 1, c.clause + 2)) \
        or bool(_OVERDOSE & set(words[c.start:c.end]))      # "overdose" has no everyday purpose
    # "tied the scarf to the curtain rail": "to"/"til" a thing to hang from is where, not what for
    tied_to = c.section in ("method", "ligature", "cord") and any(
        s.section == "anchor" and s.clause == c.clause and c.end < s.start <= c.end + 3 for s in f.spans)
    if not denied and (c.section in EVERYDAY and any(r in here for r in routine)
                       or c.section in ("method", "pills", "means", "ligature", "cord", "anchor")
                       and _purpose(words, c) and not tied_to):
        return "purpose"                                  # "rope for the climbing gym", "pills for my headache"
    if not denied and c.section in EVERYDAY and c.section != "rehome" and any(f.around(c.clause, r) for r in routine):
        return "everyday"                                 # an everyday word in the clause next to it
    if c.section == "legacy" and f.around(c.clause, "safekeeping"):
        return "purpose"                                  # "my passwords in case something happens on the flight"
    if c.section == "absent" and f.around(c.clause, "away"):
        return "purpose"                                  # "won't be around at christmas, going up north"
    if c.section == "riddance" and f.around(c.clause, "away"):
        return "purpose"                                  # "you'll be rid of me for a week, off to Crete"
    if c.section in ("plan", "plan2") and any(p.clause == c.clause and p.section in ("plan", "plan2")
                                              and _for_a_task(words, p) for p in f.spans):
        return "purpose"                                  # "I know how and when to ask for help"
    if c.section in ("plan", "plan2", "rehome") and "plural" in here:
        return "other"                                    # "we've decided where and when": a shared plan
    if c.section in RETURNABLE and f.returns:
        return "returns"
    if c.section == "death" and _near(f.spans, "fear", c, WINDOW + 1):
        return "fear"                                     # "scared of dying"
    if _negated(words, f.spans, c):
        return "negated"
    if c.section not in ANY_SUBJECT and _other_subject(words, f.spans, c):
        return "other"
    return ""


_TO = frozenset(t for w in ("to", "å") for t in tokens(w))
_WHO_WILL = (tuple(tokens("i will")), tuple(tokens("jeg skal")), tuple(tokens("i am going to")))
_DO_IT = frozenset(t for w in ("do", "it", "gjøre", "det", "end", "die", "dø", "go", "gå", "jump", "hoppe", "kill",
                                "this", "dette", "that") for t in tokens(w))


def _for_a_task(words: list[str], c: Span) -> bool:
    """A where/when/how followed by what it is for ("… to tell my family", "… jeg skal be om
    hjelp"), unless that is "do it", "end it", "go"."""
    rest = words[c.end:c.end + 5]
    if rest[:1] and rest[0] in _TO:
        task = rest[1:3]
    else:
        lead = next((len(w) for w in _WHO_WILL if tuple(rest[:len(w)]) == w), 0)
        if not lead:
            return False
        task = rest[lead:lead + 2]
    return bool(task) and not _DO_IT & set(task)


def _purpose(words: list[str], c: Span) -> bool:
    after = words[c.end:c.end + 3]
    if not after or after[0] not in _PURPOSE:
        return False
    if _AGO & set(words[c.end + 1:c.end + 5]):
        return False              # "for et kvarter siden": a time ago, not what they are for
    return not _NO_PURPOSE & set(after[1:]) and not any(w.isdigit() for w in after[1:])


_OVERDOSE = frozenset(t for w in ("overdose", "overdosere", "overdoser") for t in tokens(w))
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
