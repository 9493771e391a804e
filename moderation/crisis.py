"""Crisis language: two tiers, from phrase lists shipped with the package (moderation/data)
and extended by ``safety.crisis_words``.

Tier 1 (answer the author now, alert every consultant): the writer speaks of themselves —
intent, plan, method or time. Tier 2 (no answer, at most a quiet note): the same words
negated, in the past, figurative, quoted, or about someone else or the news. When a clause
is unclear it counts as tier 1: a kind false alarm costs little, a missed crisis a lot.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable

from moderation.checks import PUBLISH, Submission, Verdict, register
from moderation.crisis_combine import combine
from moderation.crisis_rules import away, composed_tier, contains, farewell_cues, match_at, spans
from moderation.text import canon, clauses, phrase, sectioned_lines, tokens

LANGS = ("en", "nb")
SECTIONS = ("self", "intent", "topic", "needs_i", "fed_up", "negation", "past", "past_near", "recent", "third",
            "news", "figurative", "serious", "weak", "return", "soon",
            "want", "death", "life", "pills", "amount", "routine", "think",
            # parts of the post-wide rules (moderation/crisis_rules.py)
            "absent", "future", "away", "go", "place", "when", "activity", "possess", "method", "ready",
            "method_routine", "final_open", "farewell_open", "open_ok", "pointless", "go_on", "everything",
            "ending", "nobody", "notice", "gone", "self_say", "be_at", "better", "if_gone",
            "at_hand", "take_all", "jump_place", "jump")
FIRST_PERSON = {"i", "me", "my", "myself", "mine", "am", "jeg", "meg", "min", "mitt", "mine", "selv", "eg",
                "æ", "mæ", "je"}
THIRD_PERSON_NEAR = {"he", "she", "they", "his", "her", "their", "han", "hun", "de", "hans", "hennes",
                     "deres", "someone", "somebody", "noen", "who", "som", "we", "vi"}
# Right before a [needs_i] phrase: the writer is the subject ("jeg tar livet av meg").
I_OR_MODAL = FIRST_PERSON | {"skal", "vil", "kommer", "å", "to", "will", "going", "gonna", "ska"}
# After a [fed_up] phrase: words that keep it about the writer's life ("orker ikke mer nå").
FED_UP_OK = {"nå", "lenger", "i", "og", "men", "jeg", "meg", "å", "leve", "livet", "dette", "det", "now", "and",
             "but", "me", "to", "anymore", "live", "life", "this", "it", "tonight", "today", "in", "kveld",
             "dag", "natt", "orker", "klarer", "right", "at", "all", "alt", "noe", "mer", "more", "really",
             "helt", "bare", "just", "sorry", "unnskyld", "hjelp", "help", "please", "vær", "så", "snill", "like",
             "sånn", "slik", "forever", "permanently", "completely"}
LIFE_WORDS = {"livet", "leve", "life", "living", "alive", "live", "meg", "myself", "selv", "existing", "godt",
              "alltid", "forever", "permanently", "everything", "everyone", "alle", "world", "verden"}
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|«[^»\n]*»|„[^“\n]*“|^\s*>.*$", re.MULTILINE)


def _canon_set(words: set[str]) -> frozenset[str]:
    """Word sets in the form the tokens have ("will" -> "wil", "all" -> "al"), else they never match."""
    return frozenset(t for w in words for t in canon(w))


FIRST_PERSON, THIRD_PERSON_NEAR = _canon_set(FIRST_PERSON), _canon_set(THIRD_PERSON_NEAR)
I_OR_MODAL, FED_UP_OK, LIFE_WORDS = _canon_set(I_OR_MODAL), _canon_set(FED_UP_OK), _canon_set(LIFE_WORDS)
_NOT_NEGATING = {canon(w) for w in ("stop", "help", "slutte", "la")}
_WAS = _canon_set({"was", "were", "var"})
_SUBJECT_I = _canon_set({"i", "jeg"})
_POSSESSIVE = _canon_set({"my", "min", "mi", "mitt", "mine"})
_YEAR = re.compile(r"\b(?:in|i|since|siden|fra) (?:19|20)\d\d\b")     # "in 2019", "i 2015"
WINDOW = 3          # words between a negation/past cue and the phrase it changes


Phrase = tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    sections: dict[str, tuple[Phrase, ...]]
    first: dict[str, tuple[tuple[str, Phrase], ...]]     # first token -> (section, phrase)


def _parse(text: str) -> dict[str, list[Phrase]]:
    found: dict[str, list[Phrase]] = {s: [] for s in SECTIONS}
    for section, line in sectioned_lines(text):
        if section in found:
            entry = phrase(line)
            if entry:
                found[section].append(entry)
    return found


@lru_cache(maxsize=16)
def lexicon(extra: tuple[str, ...] = ()) -> Lexicon:
    """All languages' lists in one index; configured words count as [intent] (tier 1)."""
    merged: dict[str, list[Phrase]] = {s: [] for s in SECTIONS}
    for lang in LANGS:
        text = resources.files("moderation").joinpath(f"data/crisis_{lang}.txt").read_text(encoding="utf-8")
        for section, entries in _parse(text).items():
            merged[section].extend(entries)
    merged["intent"].extend(p for p in (phrase(w) for w in extra) if p)
    first: dict[str, list[tuple[str, Phrase]]] = {}
    for section in ("self", "intent", "topic", "needs_i"):
        for entry in merged[section]:
            first.setdefault(entry[0], []).append((section, entry))
    return Lexicon({s: tuple(v) for s, v in merged.items()}, {k: tuple(v) for k, v in first.items()})


_match_at, _contains = match_at, contains


@dataclass(frozen=True)
class Hit:
    section: str
    start: int
    end: int


def _hits(words: list[str], lex: Lexicon) -> list[Hit]:
    hits: list[Hit] = []
    for i, word in enumerate(words):
        for section, entry in lex.first.get(word, ()):
            end = _match_at(words, i, entry)
            if end >= 0:
                hits.append(Hit(section, i, end))
    return hits


def _spans(words: list[str], entries: Iterable[Phrase]) -> list[tuple[int, int]]:
    return spans(words, entries)


# Alone after a negation these are everyday ("I don't live there", "I won't wake up early"):
# they count only with a wish between ("I don't want to live", "har ikke lyst til å leve").
_GENERIC_LIFE = {tuple(t for w in p.split() for t in canon(w)) for p in
                 ("live", "leve", "be here", "være her", "wake up", "våkne", "leve mer", "fortsette", "finnes")}


_WHERE = _canon_set({"i", "in", "på", "at", "there", "der", "her", "here", "with", "med", "sammen", "together",
                     "som", "as", "near", "nær", "alone", "alene", "on", "abroad", "utenlands", "by", "ved"})


def _composed(words: list[str], lex: Lexicon) -> list[Hit]:
    """Crisis meanings built from parts, so they need not be listed phrase by phrase: a wish
    or plan followed by death ("I really just want to f-ing die", "har så lyst til å bare dø"),
    life or being here negated ("har ikke lyst til å leve lenger", "won't be here next week"),
    and pills with an amount ("how many pills it takes", "alle tablettene på en gang")."""
    s = lex.sections
    hits: list[Hit] = []
    deaths = _spans(words, s["death"])
    for w_start, w_end in _spans(words, s["want"]):
        for d_start, d_end in deaths:
            between = words[w_end:d_start]
            if not w_end <= d_start <= w_end + 7:
                continue
            if THIRD_PERSON_NEAR & set(between) or _OBJECTS & set(between) or _someone_was(between):
                hits.append(Hit("other", w_start, d_end))      # "I wish he was dead": not the writer
            elif words[d_end:d_end + 1] not in (["than"], ["enn"], ["with"], ["med"]):
                # not "I'd rather die than sing", "I should end it with him"
                hits.append(Hit("intent", w_start, d_end))
    for l_start, l_end in _spans(words, s["life"]):
        generic = tuple(words[l_start:l_end]) in _GENERIC_LIFE
        if generic and words[l_end:l_end + 1] and words[l_end] in _WHERE:
            continue                      # "I don't want to live alone / in Oslo / som før"
        for n_start, n_end in _spans(words, s["negation"]):
            wanted = any(n_end <= w < l_start for w, _ in _spans(words, s["want"]))
            if n_end <= l_start <= n_end + 4 and (wanted or not generic):
                hits.append(Hit("intent", n_start, l_end))
    pills = _spans(words, s["pills"])
    if pills and not _contains(words, s["routine"]):
        for a_start, a_end in _spans(words, s["amount"]):
            p_start, p_end = min(pills, key=lambda p: abs(p[0] - a_start))
            if abs(p_start - a_start) <= 5:
                hits.append(Hit("intent", min(a_start, p_start), max(a_end, p_end)))
    return hits


_OBJECTS = _canon_set({"him", "her", "them", "you", "ham", "henne", "dem", "deg", "dere", "it", "this", "that"})
_BE_PAST = _canon_set({"was", "were", "would", "var", "ble", "is", "er"})


_LIVE = _canon_set({"live", "leve", "bo"})
# After "live in/with …" these keep it about life itself ("live in this world", "with this pain").
_LIFE_ITSELF = _canon_set({"world", "verden", "pain", "smerte", "smerter", "smertene", "fear", "frykt", "body",
                           "kroppen", "life", "livet", "hell", "helvete", "darkness", "mørket", "misery",
                           "way", "måten", "feeling", "følelsen"})


def _lives_somewhere(words: list[str], hit: "Hit") -> bool:
    """A phrase ending in "live" followed by a place or a household ("in Oslo", "with my mum")."""
    if hit.end >= len(words) or words[hit.end - 1] not in _LIVE or words[hit.end] not in _WHERE:
        return False
    rest = words[hit.end + 1:hit.end + 4]
    return not _LIFE_ITSELF & set(rest)


def _someone_was(between: list[str]) -> bool:
    """ "wish my boss was dead": a "was" whose subject is not the writer."""
    return any(w in _BE_PAST and (i == 0 or between[i - 1] not in FIRST_PERSON) for i, w in enumerate(between))


def _subject_is_other(words: list[str], start: int) -> bool:
    """The nearest person word before the phrase is someone else ("she wants to die")."""
    for word in reversed(words[max(0, start - 6):start]):
        if word in _POSSESSIVE:          # "venninnen min snakket om …": whose, not who
            continue
        if word in FIRST_PERSON:
            return False
        if word in THIRD_PERSON_NEAR:
            return True
    return False


def _negated(words: list[str], lex: Lexicon, start: int) -> bool:
    """A negation shortly before the phrase — but "can't stop thinking about" and "can't help"
    do not negate what follows."""
    near = max(0, start - WINDOW - 1)
    for i in range(near, start):
        for entry in lex.sections["negation"]:
            end = _match_at(words, i, entry) if words[i] == entry[0] else -1
            # "not going to lie, I want to die": a new subject between starts another statement
            if 0 <= end <= start and tuple(words[end:end + 1]) not in _NOT_NEGATING and \
                    not _SUBJECT_I & set(words[end:start]):
                return True
    return False


def _fed_up(words: list[str], hit: "Hit", lex: Lexicon) -> bool:
    """ "orker ikke mer regn", "can't take it anymore with this noise": a complaint, not a crisis,
    unless what follows is life itself."""
    phrase = tuple(words[hit.start:hit.end])
    if phrase not in lex.sections["fed_up"] or hit.end >= len(words):
        return False
    rest = words[hit.end:]
    if rest[0] in ("av", "med", "of", "with") and not LIFE_WORDS & set(rest[1:]):
        return True
    return rest[0] not in FED_UP_OK and not LIFE_WORDS & set(rest)


def _about_me(words: list[str], start: int) -> bool:
    """The writer is the subject right before the topic word ("I keep thinking about suicide")."""
    return _subject_is_other(words, start) is False and \
        any(w in FIRST_PERSON and w not in _POSSESSIVE for w in words[max(0, start - 6):start])


def clause_tier(words: list[str], lex: Lexicon, away: bool = False, routine: bool = False,
                serious: bool = False) -> int:
    """2 = first-person crisis, 1 = a mention (note), 0 = nothing. ``serious``: the post says
    elsewhere that it is no joke, so a "lol" or "haha" here does not make it figurative."""
    best = 0
    s = lex.sections
    for hit in _hits(words, lex) + _composed(words, lex):
        slice_start = max(0, hit.start - WINDOW - 1)
        if hit.section == "other":
            best = max(best, 1)
            continue
        if _lives_somewhere(words, hit):
            best = max(best, 1)          # "I don't want to live in this city anymore"
            continue
        if routine and _contains(words[hit.start:hit.end], s["method"]):
            best = max(best, 1)          # "kjøpt tau til båten": a rope for the boat
            continue
        if away and _contains(words[hit.start:hit.end], s["absent"]):
            best = max(best, 1)          # "I won't be here next week, I'm on holiday"
            continue
        if hit.section == "needs_i" and (hit.start == 0 or words[hit.start - 1] not in I_OR_MODAL):
            best = max(best, 1)
            continue
        if _negated(words, lex, hit.start) or _fed_up(words, hit, lex):
            best = max(best, 1)
            continue
        if _contains(words, s["figurative"]) and not serious and not _contains(words, s["serious"]):
            best = max(best, 1)
            continue
        recent = _contains(words, s["recent"])
        past = _contains(words, s["past"]) or _YEAR.search(" ".join(words)) is not None or _contains(words, s["past_near"], slice_start, hit.start)
        if past and not recent:
            best = max(best, 1)
            continue
        mine = bool(FIRST_PERSON & set(words[hit.start:hit.end]))      # "they'd be better off without me"
        if hit.section == "intent" and not mine and _subject_is_other(words, hit.start):
            best = max(best, 1)
            continue
        if hit.section == "intent" and _contains(words, s["news"]) and not any(w in FIRST_PERSON for w in words):
            best = max(best, 1)      # "the book is about someone who wants to die"
            continue
        if hit.section == "topic":
            if _contains(words, s["news"]) and not _contains(words, s["think"], hit.start - 4, hit.start):
                best = max(best, 1)      # "I watched a documentary about suicide"
                continue
            if any(w in _WAS for w in words[max(0, hit.start - 2):hit.start]) and not recent:
                best = max(best, 1)      # "I was suicidal in 2019"
                continue
            other = _contains(words, s["third"])
            if other and not _about_me(words, hit.start):
                best = max(best, 1)
                continue
        return 2
    return best


def _weak_signals(clause_words: list[list[str]], lex: Lexicon) -> tuple[int, bool]:
    """Farewell and finality cues ("thank you for everything", "I've made up my mind", "ha det
    alle sammen") that are ordinary alone but a crisis together: (how many distinct cues,
    whether a near time is named). A promise to come back ("see you tomorrow") cancels them."""
    s = lex.sections
    found: set[Phrase] = set()
    soon = False
    for words in clause_words:
        if _contains(words, s["return"]):
            return 0, False
        soon = soon or _contains(words, s["soon"])
        taken: set[int] = set()          # "my last message" is one cue, not "my last" + "last message"
        for start, end in sorted(_spans(words, s["weak"]), key=lambda se: se[0] - se[1]):
            if taken.isdisjoint(range(start, end)) and not _negated(words, lex, start):
                taken.update(range(start, end))
                found.add(tuple(words[start:end]))
    return len(found), soon


def is_past(words: list[str], lex: Lexicon) -> bool:
    s = lex.sections
    return (_contains(words, s["past"]) or _YEAR.search(" ".join(words)) is not None) and \
        not _contains(words, s["recent"])


def _own_thought(plain_words: list[list[str]], lex: Lexicon) -> bool:
    """Outside the quotes the writer says the quoted words are their own thought ("'I want to
    die' is all I can think", "jeg tenker bare «jeg vil dø»"), not a song, a book or a friend."""
    s = lex.sections
    flat = [w for c in plain_words for w in c]
    return bool(FIRST_PERSON & set(flat)) and (_contains(flat, s["think"]) or _contains(flat, s["self_say"])) \
        and not _contains(flat, s["news"]) and not _contains(flat, s["third"])


def _says_no_joke(clause_words: list[list[str]], lex: Lexicon) -> bool:
    """The post says, in a clause of its own, that it is not joking ("lol I'm going to kill myself.
    not a joke", "ikke en spøk, jeg skriver bare lol når jeg får panikk"): a laugh elsewhere in the
    post is then nervousness, not a joke. Only phrases of two words or more count post-wide; a lone
    "seriously" or "fr" is an intensifier ("seriously, this exam will kill me")."""
    phrases = [p for p in lex.sections["serious"] if len(p) >= 2]
    return any(_contains(w, phrases) for w in clause_words)


def assess(text: str, extra: tuple[str, ...] = ()) -> int:
    """The crisis tier of a whole text: 2 answer + alert, 1 quiet note, 0 nothing."""
    return assess_where(text, extra)[0]


def assess_where(text: str, extra: tuple[str, ...] = ()) -> tuple[int, list[list[str]]]:
    """The tier and, for tier 2, the clauses (as token lists) whose phrases decided it — empty
    when a post-wide rule did (farewell cues together, parts across clauses, a quoted thought)."""
    lex = lexicon(extra)
    quoted = " . ".join(m.group() for m in _QUOTED.finditer(text))
    plain = _QUOTED.sub(" . ", text)
    best = 0
    clause_words = [tokens(c) for c in clauses(plain)]
    gone = away(clause_words, lex)
    routine = any(_contains(w, lex.sections["method_routine"]) for w in clause_words)
    serious = _says_no_joke(clause_words, lex)
    for words in clause_words:
        best = max(best, clause_tier(words, lex, gone, routine, serious))
        if best == 2:
            return 2, [words]
    if composed_tier(clause_words, lex, _subject_is_other, lambda w: is_past(w, lex),
                     lambda w: _contains(w, lex.sections["figurative"]) and not _contains(w, lex.sections["serious"])) == 2:
        return 2, []
    weak, soon = _weak_signals(clause_words, lex)
    farewell = 0 if gone else farewell_cues(clause_words, lex)
    if weak + farewell >= 2 or (weak and soon):
        return 2, []
    if quoted:
        tier = max((clause_tier(tokens(c), lex) for c in clauses(quoted)), default=0)
        if tier == 2 and _own_thought(clause_words, lex):
            return 2, []
        best = max(best, 1 if tier else 0)
    return best, []


def combined_tier(text: str, extra: tuple[str, ...] = ()) -> int:
    """What the bot acts on: these phrase rules and the concept stage (moderation/crisis_concepts.py)
    together — the benchmark, the check, the disclosure question and thread titles all use this."""
    tier, where = assess_where(text, extra)
    return combine(tier, text, where)


def extra_words(ctx) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return configured_words(ctx.config.safety.crisis_words)


def configured_words(words: dict[str, list[str]]) -> tuple[str, ...]:
    """``safety.crisis_words`` (per language) as the one tuple the lexicon is built with."""
    return tuple(w for lang in sorted(words) for w in words[lang])


@register("crisis", order=10)
def crisis_check(sub: Submission) -> Verdict:
    tier = combined_tier(sub.text, extra_words(sub.ctx))
    if tier == 0:
        return PUBLISH
    from moderation.alerts import crisis_answer, raise_alert, queue_held
    if "crisis:answered" in sub.skip:
        # The author already had the answer and the consultants the alert (the text then
        # waited for the disclosure question): only the hold is left to apply.
        hold = tier == 2 and sub.ctx.config.safety.crisis_action == "hold" and not sub.is_edit
        if not hold:
            return PUBLISH
        return Verdict("alert", "crisis", hold=True, detail="answered", after=queue_held)
    if tier == 1:
        return Verdict("publish", "crisis", note=True, detail="mention",
                       after=lambda ctx, post: raise_alert(ctx, post, "note", sub.text))
    hold = sub.ctx.config.safety.crisis_action == "hold" and not sub.is_edit
    key, params = crisis_answer(sub.ctx, hold)
    return Verdict("alert", "crisis", answer_key=key, answer_params=params, hold=hold, detail="first-person",
                   after=lambda ctx, post: raise_alert(ctx, post, "crisis", sub.text))
