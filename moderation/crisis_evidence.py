"""The concept stage's rules: which concepts make a crisis together (moderation/crisis_concepts.py
reads a post into the concepts that count; this module decides what they mean together).

Each rule anchors on one concept and needs one companion; a few classes need their parts in
one place (an absence right before a date ahead, a plan named twice). The classes are meanings,
not phrases: a method with a time, a purchase or at hand; a plan (where, when, how) with a
reason; preparing to be found; medicine kept back instead of taken; being absent from a day
ahead; a pet rehomed against a deadline or in secret; what is left for others afterwards.
"""
from __future__ import annotations

from moderation.crisis_concepts import FIRST, NOTEWORTHY, Reading, Span, read
from moderation.text import tokens


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
    # an amount of pills already taken: an overdose now, whatever else the post says
    ("method+ingested", "method", ("ingested",), True),
    ("selfharm+again", "selfharm", ("again", "near"), True),
    ("selfharm+urge", "selfharm", ("urge", "ready", "at_hand", "future"), False),
    ("death+hopeless", "death", ("hopeless", "ready"), True),
    ("death+near", "death", ("near",), True),
    ("death+plan", "death", ("plan", "plan2", "prepare"), True),   # "the thoughts sound like instructions now"             # "disappear for good, tonight feels like the night"
    ("death+context", "death", ("first", "near", "urge", "ready", "hopeless", "finality", "do_it", "future"), False),
    ("farewell+final", "farewell", ("finality", "disposal", "hopeless", "lastpost", "note", "death"), False),
    ("lastpost", "lastpost", ("first", "near", "finality", "farewell", "hopeless", "ready"), False),
    ("note+left", "note", ("placed", "finality", "disposal", "hopeless", "farewell"), False),
    ("disposal+final", "disposal", ("finality", "hopeless", "farewell", "ready"), False),
    ("calm+ready", "calm", ("ready", "disposal", "farewell", "note", "lastpost", "hopeless"), False),
    ("covert+means", "covert", ("ready", "method", "place", "do_it", "death", "prepare", "finality", "selfharm",
                                "hoard", "plan", "pills", "found"), True),
    ("means+acquire", "means", ("acquire", "at_hand"), False),      # needs a third part, below
    ("settled", "settled", ("first", "finality", "near", "hopeless", "farewell"), False),
    ("hopeless+final", "hopeless", ("finality", "prepare"), False),
    ("prepare+final", "prepare", ("finality", "do_it", "hopeless"), False),
    # where, when or how decided, with anything that says what for ("chosen the place and I
    # know when, none of it matters"; a plan named twice counts too, below)
    ("plan+reason", "plan", ("death", "selfharm", "method", "hopeless", "finality", "ready", "calm", "covert", "denial",
                             "disposal", "farewell", "note", "found", "hoard", "legacy", "rehome", "prepare", "place",
                             "plan2"), False),
    ("plan2", "plan2", ("first", "ready", "finality", "hopeless", "calm"), False),
    ("ready+plan", "ready", ("plan", "plan2", "found"), False),      # "sunday is the day, it's all worked out"                 # two of where, when and how: "I know how and when"
    # clothes chosen, a place tidied "for when they find me": being found is the plan
    ("found", "found", ("first", "placed", "at_hand", "prepare", "ready", "note", "settled", "disposal", "calm",
                        "finality"), False),
    # medicine kept back instead of taken, or gathered from the pharmacy: a stash by another name
    ("hoard", "hoard", ("pills", "at_hand", "near", "amount", "stash", "ready", "covert"), True),
    # medicine not taken for a while, and kept somewhere out of sight
    ("withheld+hidden", "withheld", ("hidden", "stash", "at_hand", "amount"), True),
    # ("finality" is no companion here: "won't be here" is both)
    ("absent+reason", "absent", ("farewell", "calm", "hopeless", "disposal", "note", "rehome", "legacy",
                                 "ready", "plan"), False),
    # a pet rehomed against a deadline, in secret or with a reason to be gone
    ("rehome+reason", "rehome", ("deadline", "secret", "finality", "hopeless", "farewell", "calm", "ready", "plan",
                                 "note", "legacy", "absent", "denial"), False),
    # a cover story taken back ("it's not for the lamp", "ikke for utsikten sin del") beside a
    # means, a high place or a goodbye: what it is really for is left unsaid
    ("denial+means", "denial", ("method", "place", "pills", "blade", "water", "means", "stash", "farewell",
                                "legacy", "absent"), False),
    # passwords and papers left for others, with a reason they will need them ("finally sorted"
    # is no reason: "changed my will after the divorce, finally sorted")
    ("legacy+reason", "legacy", ("afterwards", "finality", "hopeless", "farewell", "note", "found", "calm", "plan", "covert",
                                 "rehome", "disposal", "settled", "absent"), False),
    # a time set for something left unnamed ("set my alarm for 3am when everyone's asleep. that's
    # when", "stemmene sier at det er i natt"), with anything that says what it is
    # ("finally" and "want" are no reason here: "da skjer det, endelig ferie!")
    ("when_it+reason", "when_it", ("covert", "plan", "plan2", "hopeless", "finality", "method", "pills",
                                   "stash", "farewell", "death", "selfharm", "secret", "disposal", "voices",
                                   "calm", "note", "lastpost", "hoard", "legacy"), False),
    # voices heard telling a time or an act
    ("voices+act", "voices", ("when_it", "do_it", "method", "selfharm"), False),
    # a car's engine running where the air cannot get out
    ("engine+enclosed", "engine", ("enclosed",), True),
    # blind set 10: the others relieved of the writer, with a time, a goodbye or a reason
    ("riddance", "riddance", ("near", "future", "finality", "hopeless", "farewell", "lastpost", "occasion",
                              "absent", "note"), False),
    # a gun loaded: the method at hand and ready
    ("method+armed", "method", ("armed",), True),
    # "I took them. Don't call anyone": what was taken, and help kept away
    ("ingested+covert", "ingested", ("covert",), True),
    # a time given as a decision ("Friday. That's when.", "så det blir i dag")
    ("decided+near", "decided", ("near", "occasion"), True),
)
# Rules the learned stage may not lower to a note (moderation/crisis_combine.answers): each names
# a set-up that has no everyday reading once its parts are there — a ligature tied or tested on
# something to hang from, an amount taken minutes ago or with the body reacting, a hose and tape
# for a car. The model, which
# never saw such wording, is no judge of them.
SURE = frozenset({"ligature+anchor", "overdose+now", "exhaust+car"})
# Rules whose anchor named twice is enough ("found the place, and the date is set").
TWICE = {"plan+reason": "plan", "disposal+final": "disposal",
         "farewell+final": "farewell"}


def _pills_as_method(reading: Reading, text: str) -> bool:
    """Pills are every day's; with an amount (boxes of them too), a stash or a search they are
    a method — and counted, stored up or a deadly dose they are a plan (returned True)."""
    pills = [s for s in reading.live if s.section == "pills"]
    if not pills:
        return False
    many = _counted(text)          # "43. should be enough", not "50 mg" (a dose, not a count)
    laid_out = reading.has("at_hand") and reading.has("ready", "near", "finality", "hopeless", "urge", "covert")
    if many or laid_out or reading.has("amount", "acquire", "prepare", "stash", "boxes"):    # "2 brett imovane"
        reading.live.extend(Span("method", p.clause, p.start, p.end) for p in pills)
    return reading.has("stash") or many and reading.has("amount", "acquire", "again")


_UNITS = frozenset(t for w in ("mg", "milligram", "milligrams", "milligrammer", "ml", "mcg", "µg", "g", "kg", "km",
                                "min", "mins", "minutes", "minutter", "hours", "timer", "years", "år", "days",
                                "dager", "weeks", "uker", "kr", "%") for t in tokens(w))


_CAR = frozenset(tokens("car cars bil bilen bilene bilens garage"))
_CAR_PREFIXES = tuple(tokens("eksos exhaust garasj"))


def _counted(text: str) -> bool:
    """A count of ten or more in the post that is not a dose in mg, a time or a price ("took 24",
    "I have 40 left", not "25 mg", "20 min ago")."""
    words = tokens(text)
    return any(w.isdigit() and 10 <= int(w) < 1000 and (i + 1 == len(words) or words[i + 1] not in _UNITS)
               for i, w in enumerate(words))


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
        if name in TWICE and not with_ and reading.distinct(anchor) >= 2:
            with_ = [anchor]                     # deleted the accounts and paid the rent ahead
        if name == "means+acquire" and not reading.has("near", "covert", "hopeless", "finality", "death", "ready"):
            with_ = []                  # "bought everything I need" is shopping until a time or a reason comes
        if with_:
            fired.append(name)
            strong = strong or is_strong
    # a high place is anyone's; being there now, or going there soon, or with a reason, is not
    reason = reading.has("finality", "hopeless", "urge", "farewell", "death", "ready", "covert")
    if reading.has("place") and (reading.has("at_hand") and (reading.has("present") or reason)
                                 or reading.has("go") and (reading.has("near") or reason)
                                 or reading.has("near") and (reason or reading.has("done"))):      # "i'm done. tomorrow, the tracks"
        fired.append("place+there")
        strong = strong or reading.has("present", "near")
    # water is for swimming and fishing, unless a reason comes with going there
    if reading.has("water") and reading.has("go", "at_hand") and reason:
        fired.append("water+reason")
    # a knife is in every kitchen; hidden or at hand with an urge or self-harm it is not
    if reading.has("blade") and reading.has("at_hand", "placed", "urge", "selfharm", "finality", "hopeless"):
        fired.append("blade+at_hand")
    # boxes (of what, unsaid) beside the writer, with water, a time or a reason
    if reading.has("boxes") and (reading.has("swallow", "covert") or reading.has("at_hand") and reading.has(
            "ready", "near", "finality", "hopeless", "calm", "urge", "death", "do_it", "swallow", "covert")):
        fired.append("boxes+laid_out")
    # something to hang from (a beam, a door frame, a hook) with a belt or a noose tied or tested
    # on it is a method ("har festa beltet i dørkarmen", "knotted the belt round the banister");
    # a cord, a cable or a rope is hung from beams every day (lights, hammocks, leads) and is a
    # method there only with a reason or a time ("tested the knot on the beam, waiting till
    # everyone's asleep", "ledning og krok, det er ikke til lampa"). A purpose named ("a hook for
    # the lamp") has undone the part it names already.
    # (a time or "finally" is no reason here: "bought a belt and a hook today, finally")
    reason_to_hang = reading.has("covert", "hopeless", "finality", "denial", "urge", "death", "farewell", "calm",
                                 "do_it")
    if reading.has("anchor") and (reading.has("ligature") and (reading.has("fasten") or reason_to_hang)
                                  or reading.has("cord", "method") and reason_to_hang):
        fired.append("ligature+anchor")
        strong = True
    # a pet handed over for good today ("leverte hamsteren i dag, hun kan beholde den for alltid");
    # for good alone is often a kind ending ("she's keeping the dog forever, he's happier there")
    if reading.has("rehome") and reading.has("permanent") and reading.has("near"):
        fired.append("rehome+permanent")
    # an amount taken minutes ago, or with the body already reacting, is an overdose now ("tok 24 for
    # 20 min siden", "idk how many i took. 20? 25? head is spinning"); a dose in milligrams is not
    # a count, and a side effect ("took my meds and feel dizzy") has no amount
    # (medicine named at all, even as an everyday word: "tok hele dosetten", "the pills from the doctor")
    medicine = reading.has("pills", "method", "boxes") or bool({"pills", "method", "boxes"} & reading.undone)
    counted = _counted(text)
    if reading.has("ingested") and (counted or "amount" in reading.undone or reading.has("amount")) and (
            reading.has("symptom", "ago")) and (medicine or counted):
        fired.append("overdose+now")
        strong = True
    # a hose and tape with a car: carbon monoxide ("skaffet slange og teip til bilen"); with the
    # garden ("hose and tape for the sprinkler") no car is named
    if reading.has("exhaust") and (reading.has("engine", "enclosed") or any(
            w in _CAR or w.startswith(_CAR_PREFIXES) for w in tokens(text))):
        fired.append("exhaust+car")
        strong = True
    if _absent_from_a_day(reading):
        fired.append("absent+occasion")
    fired.extend(_three_part_meanings(reading))
    if fired:
        return 2, strong, fired
    return (1 if reading.undone & NOTEWORTHY else 0), False, []


def _absent_from_a_day(reading: Reading) -> bool:
    """Not being there for a day ahead, named right after ("won't be here for christmas", "tror
    ikke jeg er her til påske"); a trip or a visit near it has undone the absence already."""
    days = [s for s in reading.live if s.section == "occasion"]
    return any(d.clause == a.clause and a.end <= d.start <= a.end + 4 or abs(d.clause - a.clause) == 1
               for a in reading.live if a.section == "absent" for d in days)


def assess(text: str) -> int:
    """The concept stage's tier of a post: 2 answer + alert, 1 an undone mention, 0 nothing."""
    return evidence(text)[0]


# Meanings that need three parts, or a clause's shape, not one companion (found from blind set
# 10's categories of misses). A day said alone, or with a word of time around it.
_DAY_NAMED = frozenset(t for w in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                                   "tonight", "tomorrow", "today", "mandag", "tirsdag", "onsdag", "torsdag",
                                   "fredag", "lørdag", "søndag", "kveld", "natt", "morgen", "dag")
                        for t in tokens(w))
_BARE_TIME = _DAY_NAMED | frozenset(t for w in ("i", "on", "then", "da", "på") for t in tokens(w))


def _three_part_meanings(reading: Reading) -> list[str]:
    out = []
    # a day alone as a sentence ("Lørdag.", "Tonight.") after an ending named: the date decided
    # (not after "ready", which holds "endelig": "Endelig. Fredag." is the weekend)
    bare = any(w and set(w) <= _BARE_TIME and _DAY_NAMED & set(w) and len(w) <= 3 for w in reading.clause_words)
    if bare and reading.has("finality", "hopeless", "death", "calm", "riddance", "lastpost"):
        out.append("bare_time+reason")
    # a cord or a noose ready or hung, with a wish for it all to stop; tied somewhere, now will do
    if reading.has("cord") and reading.has("ready", "at_hand", "placed") and reading.has(
            "urge", "hopeless", "death", "finality", "do_it", "calm", "covert", "farewell"):
        out.append("cord+ready")
    if reading.has("cord") and reading.has("tied") and reading.has(
            "near", "present", "urge", "hopeless", "death", "finality", "do_it", "calm", "covert", "farewell"):
        out.append("cord+tied")
    # "that's the day" after a day named, with the house empty or a reason, or after the day
    # alone as a sentence ("Sunday. That's when it happens.")
    if reading.has("decided_soft") and (reading.has("near", "occasion") and reading.has(
            "covert", "hopeless", "finality", "death", "calm", "riddance", "farewell") or bare):
        out.append("decided_soft+reason")
    # a dose taking effect now: a symptom, what was taken, and no regret, help kept away or the next dose
    if reading.has("effect") and reading.has("pills", "ingested", "boxes", "method", "amount") and reading.has(
            "no_regret", "more_dose", "covert", "farewell", "hopeless", "death", "lastpost"):
        out.append("effect+dose")
    # an attempt that failed, to be done properly, now or again ("trying again tonight, properly")
    if reading.has("failed") and reading.has("properly") and reading.has("near", "again", "future"):
        out.append("failed+retry")
    # everything deleted, and this the last account left: the writer is what remains to go
    if reading.has("last_left") and ("disposal" in reading.undone or reading.has("disposal")):
        out.append("last_left+disposal")
    return out
