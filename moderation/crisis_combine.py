"""How the two crisis stages are combined into what the bot acts on (moderation.crisis.combined_tier).

Under a plain max() the concept stage could raise stage one's reading but never lower it, so a
phrase rule firing on "I have no plans to hurt myself" or "broren min snakker om selvmord" always
answered. Here stage one's answer is lowered to a quiet note only when the concept stage reads the
very clauses stage one fired on as clearly scoped — someone else the subject, a negation, a past
the writer came through, a goodbye with a way back, an everyday purpose named with it, an idiom —
and nothing else in the post points to a crisis. Anything less and stage one stands: when unsure,
answer.
"""
from __future__ import annotations

from moderation.crisis_concepts import CONCEPTS, Reading, read
from moderation.crisis_evidence import SURE, evidence_of
from moderation.crisis_model import probability, shipped

# What stage one's phrases speak of, and what still points to a crisis when it is live.
TOPIC = set(CONCEPTS) - {"near", "present", "future", "amount", "urge", "again", "go", "at_hand", "calm"}
CONCERN = {"death", "selfharm", "method", "acquire", "farewell", "lastpost", "note", "disposal", "finality",
           "hopeless", "do_it", "ready", "prepare", "stash", "at_hand", "covert", "again"}


def _scoped(reading: Reading, where: list[list[str]]) -> bool:
    """Stage one's words are, by this stage's reading, clearly someone else's, negated, a past the
    writer came through or a goodbye with a way back — and nothing else in the post points to a
    crisis. ``where``: the clauses stage one fired on (empty: a rule across the post)."""
    if any(s.section in CONCERN for s in reading.live):
        return False
    clauses_hit = set()
    for words in where:
        if words not in reading.clause_words:
            return False                        # a quoted clause or another split: unsure, answer
        clauses_hit.add(reading.clause_words.index(words))
    topics = [s for s in reading.scoped if s.section in TOPIC]
    if not clauses_hit:
        return bool(topics)
    return all(any(s.clause == n for s in topics) for n in clauses_hit)


# The model alone (no rule fired at all) answers only a post of some length. A short crisis post
# names its danger in words the rules know ("kms", "I'm done. Goodbye."); a short question the
# rules find nothing in ("noen som er våkne?", "noen som ser på fotball i kveld?") scored 0.96
# on the model: the corpus has too few short everyday questions. Such a post is a quiet note.
MODEL_ALONE_WORDS = 8


def combine(first_stage: int, text: str, where: list[list[str]] | None = None) -> int:
    """The rules' reading (``combine_rules``) and the learned stage (moderation/crisis_model.py):
    - the model's probability at or above its answer threshold answers, whatever the rules said —
      it catches the oblique posts no phrase names (alone, only in a post of MODEL_ALONE_WORDS
      words or more; a shorter one is a quiet note);
    - a rule's answer stands unless the model is nearly sure it is not a crisis (below
      ``doubt_below``): then it is a quiet note for the consultant, never nothing;
    - a probability of one half or more is at least a quiet note.
    Both thresholds were chosen by cross-validation (training/train.py)."""
    tier, sure, denied = rules_reading(first_stage, text, where, with_denial=True)
    model, p = shipped(), probability(text)
    if model is None or p is None:
        return tier
    if answers(tier == 2, tier > 0, p, len(text.split()), model.answer_at, model.doubt_below, sure, denied):
        return 2
    if tier == 2 or p >= model.answer_at:
        return 1
    return max(tier, 1) if p >= 0.5 else tier


def answers(rule_answers: bool, rule_notes: bool, p: float, words: int, answer_at: float,
            doubt_below: float, sure: bool = False, denied: bool = False) -> bool:
    """Whether the author gets the answer: the one decision, shared with the threshold search
    (training/train.py), so the cross-validated figures are what the bot does. The model
    answers alone, and lowers the rules' answer to a note, only in a post of MODEL_ALONE_WORDS
    words or more: on shorter posts it is least sure, and there the rules stand. (Lowering only
    the phrase lists' answers, not the concept stage's, was measured: worse on every blind set.)"""
    long = words >= MODEL_ALONE_WORDS
    if rule_answers and sure:
        return True              # a rule of crisis_evidence.SURE: the model cannot lower it
    if denied and not rule_answers:
        return False             # the writer says they do not want to die (``_denies_wanting``)
    if p >= answer_at:
        return rule_notes or long
    return rule_answers and (p >= doubt_below or not long)


def combine_rules(first_stage: int, text: str, where: list[list[str]] | None = None) -> int:
    """The rules' tier alone (``rules_reading``)."""
    return rules_reading(first_stage, text, where)[0]


# Negated, these say the writer does not want what a crisis is ("jeg vil ikke dø, jeg vil bare at
# livet skal bli annerledes", "I'm not going to hurt myself"); with nothing else in the post that
# points to one, the learned stage — which weighs the words "die" and "hurt myself" whatever stands
# before them — may not answer alone. The rules still note it for the consultant.
DENIABLE = {"death", "selfharm"}
DENIED_ALONE = DENIABLE | {"urge", "stash", "future", "again"}    # "to die" is a stash word too; "never … again"


def _denies_wanting(reading: Reading) -> bool:
    return bool(reading.negated & DENIABLE) and reading.negated <= DENIED_ALONE and not any(
        s.section in CONCERN for s in reading.live)


def rules_reading(first_stage: int, text: str, where: list[list[str]] | None = None,
                  with_denial: bool = False):  # type: ignore[no-untyped-def]
    """Stage one's tier and this stage's together: the higher, except that
    - stage one's reading of a post as a mention (1: negated, past, someone else's) is overruled
      only by strong evidence (a method with a time, a purchase or at hand; self-harm again or now);
    - stage one's answer (2) is lowered to a note when this stage fires nothing and reads the
      same words as clearly scoped (``_scoped``); ``where`` are the clauses stage one fired on
      (None: unknown, so stage one stands).
    The second value: a rule of crisis_evidence.SURE fired, which the model may not lower — a
    set-up no everyday post describes, in words the corpus may never have held.
    The third (``with_denial``): the writer denies wanting to die or to self-harm and nothing else
    points to a crisis (``_denies_wanting``)."""
    reading = read(text)
    tier, strong, fired = evidence_of(reading, text)
    sure = bool(SURE.intersection(fired))
    if first_stage == 2:
        tier, sure = (1 if tier < 2 and where is not None and _scoped(reading, where) else 2), sure
    elif tier == 2 and first_stage == 1 and not strong:
        tier, sure = 1, False
    else:
        tier = max(first_stage, tier)
    if with_denial:
        return tier, sure, _denies_wanting(reading)
    return tier, sure
