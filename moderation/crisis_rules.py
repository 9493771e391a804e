"""Crisis meanings composed from parts across a whole post, so that they need not be listed
phrase by phrase (moderation/crisis.py lists the phrases; the parts are sections of the same
data files).

Each rule pairs a part that is ordinary alone with one that makes it a crisis, and names what
undoes it:

- absence + a near future ("I won't be here next week"), undone by a reason to be away
  ("…I'm on holiday", "neste uke er jeg på hytta");
- going to a high place + a time or a farewell ("going to the bridge after work"), undone by
  an activity there ("the bridge club", "taking photos");
- having a method + readiness ("I have the rope ready"), undone by an everyday use;
- pointlessness + going on ("no reason to keep living", "hva er vitsen med å leve");
- a wish that everything end ("I want it all to be over");
- nobody noticing + being gone ("nobody will notice when I'm gone");
- finality and farewell at the end of a clause ("I'm done. Goodbye."), farewells counted once
  together so that "thanks all, bye" is one cue, and never with an object ("goodbye stress").
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from moderation.text import canon

if TYPE_CHECKING:
    from moderation.crisis import Lexicon

Phrase = tuple[str, ...]


def match_at(words: list[str], i: int, entry: Phrase) -> int:
    """The end index if ``entry`` matches ``words`` from ``i`` (gaps "…" span 0–3 words), else -1."""
    if not entry:
        return i
    head, rest = entry[0], entry[1:]
    if head == "…":
        for skip in range(0, 4):
            end = match_at(words, i + skip, rest)
            if end >= 0:
                return end
        return -1
    if i < len(words) and words[i] == head:
        return match_at(words, i + 1, rest)
    return -1


_HEADS: dict[int, tuple[object, dict[str, list[Phrase]]]] = {}


def _by_head(entries: Iterable[Phrase]) -> dict[str, list[Phrase]]:
    """A section's phrases by their first word (the lists are fixed tuples: keyed by identity,
    the tuple kept alive with its index so the id is not reused)."""
    found = _HEADS.get(id(entries))
    if found is None or found[0] is not entries:
        index: dict[str, list[Phrase]] = {}
        for entry in entries:
            index.setdefault(entry[0], []).append(entry)
        found = _HEADS[id(entries)] = (entries, index)
    return found[1]


def spans(words: list[str], entries: Iterable[Phrase], start: int = 0, stop: int | None = None
          ) -> list[tuple[int, int]]:
    stop = len(words) if stop is None else min(stop, len(words))
    index = _by_head(entries)
    out = []
    for i in range(max(start, 0), stop):
        for entry in index.get(words[i], ()):
            end = match_at(words, i, entry)
            if end >= 0:
                out.append((i, end))
    return out


def contains(words: list[str], entries: Iterable[Phrase], start: int = 0, stop: int | None = None) -> bool:
    return bool(spans(words, entries, start, stop))


def _any(clause_words: list[list[str]], entries: Iterable[Phrase]) -> bool:
    return any(contains(words, entries) for words in clause_words)


def away(clause_words: list[list[str]], lex: "Lexicon") -> bool:
    """A reason to be away is named somewhere in the post (a trip, work, the group ending)."""
    return _any(clause_words, lex.sections["away"])


def _absent_soon(clause_words: list[list[str]], lex: "Lexicon", other) -> bool:  # type: ignore[no-untyped-def]
    s = lex.sections
    for n, words in enumerate(clause_words):
        for start, end in spans(words, s["absent"]):
            if other(words, start):
                continue
            near = words[max(0, start - 4):] + [w for c in clause_words[n + 1:n + 2] for w in c]
            if contains(near, s["future"]) or contains(near, s["soon"]):
                return True
    return False


def _high_place(clause_words: list[list[str]], lex: "Lexicon") -> bool:
    s = lex.sections
    if _any(clause_words, s["activity"]):
        return False
    for words in clause_words:
        for _, g_end in spans(words, s["go"]):
            if contains(words, s["place"], g_end, g_end + 2) or (g_end < len(words) and words[g_end] in ("the", "a")
                                                                  and contains(words, s["place"], g_end, g_end + 1)):
                when = _any(clause_words, s["when"]) or _any(clause_words, s["soon"])
                if when or farewell_cues(clause_words, lex) > 0:
                    return True
        for _, b_end in spans(words, s["be_at"]):       # "writing this from the roof": there now
            if contains(words, s["place"], b_end, b_end + 1):
                return True
    return False


def _method_ready(clause_words: list[list[str]], lex: "Lexicon") -> bool:
    s = lex.sections
    if _any(clause_words, s["method_routine"]) or _any(clause_words, s["routine"]):
        return False
    for n, words in enumerate(clause_words):
        for _, p_end in spans(words, s["possess"]):
            if contains(words, s["method"], p_end, p_end + 7):
                near = words[p_end:] + [w for c in clause_words[n + 1:n + 2] for w in c]
                if contains(near, s["ready"]) or contains(near, s["soon"]):
                    return True
    return False


_ALL = frozenset(t for w in ("all", "alle", "every", "whole", "hele", "them", "dem") for t in canon(w))


def _amount(words: list[str], lex: "Lexicon") -> bool:
    return contains(words, lex.sections["amount"]) or any(w in _ALL or w.isdigit() for w in words)


def _method_at_hand(clause_words: list[list[str]], lex: "Lexicon") -> bool:
    """The means named with where they are, now ("the blade is right next to me", "sitter med alle
    tablettene foran meg"), or a plan to take them all soon ("tar alle i natt")."""
    s = lex.sections
    if _any(clause_words, s["method_routine"]) or _any(clause_words, s["routine"]):
        return False
    named = [n for n, words in enumerate(clause_words) if contains(words, s["method"]) or contains(words, s["pills"])]
    if not named:
        return False
    for n in named:
        words = clause_words[n]
        # pills in front of someone are every evening's; all of them, counted, are not
        hard = contains(words, s["method"]) and not contains(words, s["pills"])
        if contains(words, s["at_hand"]) and (hard or _amount(words, lex)):
            return True
    for words in clause_words[named[0]:]:
        for _, t_end in spans(words, s["take_all"]):
            if contains(words, s["soon"], t_end) or contains(words, s["recent"], t_end):
                return True
    return False


def _want_all_pills(words: list[str], lex: "Lexicon") -> bool:
    """A wish or thought to take all of them ("thinking of taking all my sleeping pills")."""
    s = lex.sections
    if contains(words, s["routine"]) or contains(words, s["method_routine"]):
        return False
    for _, w_end in spans(words, s["want"]) + spans(words, s["think"]):
        rest = words[w_end:w_end + 7]
        if _TOOK & set(rest[:3]) and (_ALL & set(rest)) and (contains(rest, s["pills"]) or contains(rest, s["method"])):
            return True
    return False


def _pointless(words: list[str], lex: "Lexicon") -> bool:
    s = lex.sections
    for _, p_end in spans(words, s["pointless"]):
        if contains(words, s["go_on"], p_end, p_end + 4) or contains(words, s["life"], p_end, p_end + 4):
            return True
    return False


def _all_over(words: list[str], lex: "Lexicon") -> bool:
    s = lex.sections
    for _, w_end in spans(words, s["want"]):
        for _, e_end in spans(words, s["everything"], w_end, w_end + 3):
            for _, o_end in spans(words, s["ending"], e_end, e_end + 3):
                if words[o_end:o_end + 1] not in (["with"], ["so"], ["med"], ["så"]):   # "over with"
                    return True
    return False


def _jump_there(clause_words: list[list[str]], lex: "Lexicon") -> bool:
    """A wish to jump where one stands ("I'm at the train station and I want to jump")."""
    s = lex.sections
    if not _any(clause_words, s["jump_place"]) or _any(clause_words, s["activity"]):
        return False
    return any(contains(words, s["jump"], w_end, w_end + 3)
               for words in clause_words for _, w_end in spans(words, s["want"]))


def _unnoticed(words: list[str], lex: "Lexicon") -> bool:
    s = lex.sections
    for _, n_end in spans(words, s["nobody"]):
        for _, c_end in spans(words, s["notice"], n_end, n_end + 5):
            if contains(words, s["gone"], c_end, c_end + 6):
                return True
    return False


def _better_gone(words: list[str], lex: "Lexicon") -> bool:
    """ "everyone would be happier if I just disappeared", "alle har det bedre uten meg"."""
    s = lex.sections
    return any(contains(words, s["if_gone"], b_end, b_end + 4) for _, b_end in spans(words, s["better"]))


_TOOK = frozenset(t for w in ("took", "taken", "swallowed", "tok", "tatt", "svelget", "svelgde", "take", "ta", "tar",
                                "swallow") for t in canon(w))


def _many_pills(words: list[str], lex: "Lexicon") -> bool:
    """ "took 20 paracetamol", "tok 30 tabletter": a count of pills no dose comes in."""
    for i, word in enumerate(words):
        if word.isdigit() and 8 <= int(word) <= 500 and _TOOK & set(words[max(0, i - 4):i]):
            after = i + 1 + (words[i + 1:i + 3] in (["of", "my"], ["av", "de"]) and 2 or 0)
            if contains(words, lex.sections["pills"], after, after + 1) or \
                    contains(words, lex.sections["method"], after, after + 1):
                return True
    return False


def _open_end(words: list[str], end: int, lex: "Lexicon") -> bool:
    """The cue ends its clause, or what follows is everyone/everything ("goodbye everyone")."""
    return end == len(words) or any(s == end for s, _ in spans(words, lex.sections["open_ok"], end, end + 1))


def farewell_cues(clause_words: list[list[str]], lex: "Lexicon") -> int:
    """Open farewell cues count once together; each distinct finality cue counts."""
    s = lex.sections
    final: set[Phrase] = set()
    farewell = False
    for words in clause_words:
        for start, end in spans(words, s["final_open"]):
            if _open_end(words, end, lex):
                final.add(tuple(words[start:end]))
        for start, end in spans(words, s["farewell_open"]):
            if _open_end(words, end, lex):
                farewell = True
    # "i am done" and "i am so done" in one post are the same cue
    return len({p[-1] for p in final}) + farewell


def composed_tier(clause_words: list[list[str]], lex: "Lexicon", other, past, figurative  # type: ignore[no-untyped-def]
                  ) -> int:
    """2 when one of the post-wide rules fires, else 0. ``other(words, i)``: the subject before
    word ``i`` is someone else; ``past(words)``/``figurative(words)``: the clause tells of the
    past / is a joke or hyperbole; such clauses take no part."""
    live = [w for w in clause_words if not past(w) and not figurative(w)]
    if not live:
        return 0
    if not away(clause_words, lex) and _absent_soon(live, lex, other):
        return 2
    if _high_place(live, lex) or _method_ready(live, lex) or _method_at_hand(live, lex) or _jump_there(live, lex):
        return 2
    for words in live:
        if _pointless(words, lex) or _all_over(words, lex) or _unnoticed(words, lex) or \
                _better_gone(words, lex) or _many_pills(words, lex) or _want_all_pills(words, lex):
            return 2
    return 0
