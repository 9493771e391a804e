"""The labelled set meets the safety targets (bench/safety.py), and single rules behave."""
from __future__ import annotations

import pytest

from bench.safety import DATA, MAX_MS, TARGETS, load, run
from moderation.crisis import assess
from moderation.disclosure_detect import Identity, detect


def test_the_labelled_set_is_large_mixed_and_half_positive() -> None:
    posts = load()
    assert len(posts) >= 300
    assert {p.lang for p in posts} == {"en", "nb"}
    positive = sum(p.disclosure or p.crisis for p in posts) / len(posts)
    assert 0.4 <= positive <= 0.6


def test_targets_on_the_labelled_set() -> None:
    result = run(load(), rounds=1)
    for check, (recall, false_alarms) in TARGETS.items():
        total = result.total(check)
        assert total.recall >= recall, (check, [p.text for c, w, p in result.misses if c == check])
        assert total.false_alarms <= false_alarms, (check, [p.text for c, w, p in result.misses if c == check])
    assert result.ms_per_post < MAX_MS * 3      # generous here: the suite shares a loaded machine


@pytest.mark.parametrize("number", ["15108695088", "151086 95088"])
def test_a_birth_number_needs_a_valid_checksum(number: str) -> None:
    assert [f.kind for f in detect(f"nummeret er {number}.")] == ["id_number"]
    assert not detect("koden er 15108695077.")           # eleven digits, wrong check digits


def test_the_authors_own_names_count_but_the_pseudonym_does_not() -> None:
    me = Identity(("nightowl77",), ("Siri Vangen",))
    assert {f.text for f in detect("hilsen Siri Vangen, aka nightowl77", identity=me)} == {"Siri Vangen", "nightowl77"}
    assert detect("Vangen er et fint sted", identity=me)          # the surname alone
    assert not detect("Siri sa noe fint", identity=me)            # a first name alone is everywhere
    assert not detect("Birch here again", identity=me, pseudonym="Birch")


def test_a_local_place_counts_only_with_another_detail() -> None:
    assert not detect("Det er kaldt i Fjordvik i dag", local=["Fjordvik"])
    assert {f.kind for f in detect("Ring 912 34 567, jeg bor i Fjordvik", local=["Fjordvik"])} == {"phone", "place"}


@pytest.mark.parametrize("text", ["She is a skilled painter", "Kill the lights", "jeg døde av latter"])
def test_crisis_words_match_whole_words_and_not_figures_of_speech(text: str) -> None:
    assert assess(text) < 2


@pytest.mark.parametrize("text", ["i wanna diiie", "thinking about sewerslide", "my an0rex1a is back, I'm starving myself"])
def test_crisis_matching_survives_spelling_games(text: str) -> None:
    assert assess(text) == 2


# Sets written by others; each was run once before any rule changed for it (figures in the
# commit messages and /work/notes): they guard the rules' generality, not their examples.
HELD_OUT = [DATA.parent / "safety_holdout.txt", DATA.parent / "safety_holdout2.txt", DATA.parent / "safety_blind.txt",
            DATA.parent / "safety_concepts.txt"]


@pytest.mark.parametrize("path", HELD_OUT, ids=lambda p: p.name)
def test_targets_on_the_held_out_sets(path) -> None:
    result = run(load(path), rounds=1)
    for check, (recall, false_alarms) in TARGETS.items():
        total = result.total(check)
        wrong = [p.text for c, w, p in result.misses if c == check]
        assert total.recall >= recall and total.false_alarms <= false_alarms, (check, wrong)


@pytest.mark.parametrize("text", [
    "I hope I won't wake up",                                # "won't" is "will not", as typed in full
    "I hope I will not wake up",
    "they'd all be better off without me",                   # "they" is not the subject of the wish
    "de hadde klart seg bedre uten meg",
    "i wanna kill myself lol not joking",                    # "lol" is undone by "not joking"
    "Sorry for everything. Please look after my cat.",       # farewell cues together
    "har bestemt meg. det skjer i kveld",                    # a decision with a near time
    "took a whole box of paracetamol an hour ago",           # "an hour ago" is now, not the past
])
def test_crisis_signals_that_only_count_together_or_in_context(text: str) -> None:
    assert assess(text) == 2


@pytest.mark.parametrize("text", [
    "this is my last message before my holiday, back in two weeks!",
    "ha det bra alle sammen, snakkes i morgen",
    "Sorry for everything I said yesterday, I was tired",
    "jeg vil forsvinne under dyna med en god bok",
    "I've had enough coffee for today",
    "I'm not giving up, and thank you for everything",
])
def test_farewell_words_with_a_way_back_or_an_object_are_not_a_crisis(text: str) -> None:
    assert assess(text) < 2


@pytest.mark.parametrize("text", [
    "honestly I really just want to f-ing die",              # a wish, then death, words between
    "har så lyst til å bare dø",
    "jeg har ikke lyst til å leve lenger",                   # life negated, with a wish between
    "jeg orker ikke å være til lenger",
    "I'm looking up how many pills it takes",
    "thinking of taking all my antidepressants at once",     # pills with an amount
])
def test_crisis_meanings_composed_from_parts(text: str) -> None:
    assert assess(text) == 2


@pytest.mark.parametrize("text", [
    "I don't live in Oslo anymore",
    "jeg har ikke lyst til å leve som før, vil endre livet mitt",
    "I take all my meds at once in the morning, is that ok?",
    "I watched a documentary about suicide in prisons",
    "I was suicidal in 2019 but I'm much better now",
    "har bestemt meg for å begynne å jogge",                 # one decision is not two farewell cues
])
def test_composed_parts_that_are_everyday_are_not_a_crisis(text: str) -> None:
    assert assess(text) < 2


# Tuning sets for the crisis concept classes (rules were changed for them): regressions only.
TUNING = [DATA.parent / "safety_concepts_dev.txt", DATA.parent / "safety_oblique_dev.txt",
          DATA.parent / "safety_oblique_probes.txt"]


@pytest.mark.parametrize("path", TUNING, ids=lambda p: p.name)
def test_crisis_targets_on_the_tuning_sets(path) -> None:
    result = run(load(path), rounds=1)
    total = result.total("crisis")
    wrong = [p.text for c, w, p in result.misses if c == "crisis"]
    assert total.recall >= TARGETS["crisis"][0] and total.false_alarms <= TARGETS["crisis"][1], wrong
