"""The learned crisis stage (moderation/crisis_model.py, training/train.py): it ships current, it is
kept apart from the evaluation sets, and the bot acts on it the way crisis_combine says."""
from __future__ import annotations

import pytest

from bench.safety import DATA, load, run
from moderation import crisis_model
from moderation.crisis import assess_where, combined_tier
from moderation.crisis_combine import combine_rules
from moderation.crisis_model import decode, encode, features, shipped
from training import train


def _rules(text: str) -> int:
    tier, where = assess_where(text)
    return combine_rules(tier, text, where)


def test_the_model_ships_and_was_trained_on_the_corpus_only() -> None:
    model = shipped()
    assert model is not None
    files = set(model.info["files"])
    assert any(f.startswith("training/") for f in files)
    assert not {f.rsplit("/", 1)[-1] for f in files} & train.EVALUATION_ONLY
    assert 0.3 <= model.answer_at < 1 and 0 <= model.doubt_below < model.answer_at


def test_no_evaluation_post_is_in_the_training_corpus() -> None:
    training_texts = {p.text for p in train.corpus()[0]}
    for name in train.EVALUATION_ONLY:
        path = DATA.parent / name
        if path.exists():
            assert not training_texts & {p.text for p in load(path)}, name


def test_the_shipped_model_is_what_the_corpus_trains() -> None:
    # A stale model (corpus changed, file not retrained) would silently measure something else.
    fresh = decode(train.train(out=_Null()))
    model = shipped()
    assert (fresh.answer_at, fresh.doubt_below) == (model.answer_at, model.doubt_below)
    step = max(abs(w) for w in model.weights) / 32767
    assert max(abs(a - b) for a, b in zip(fresh.weights, model.weights)) <= 2 * step
    assert abs(fresh.bias - model.bias) < 1e-6


class _Null:
    def write(self, _text: str) -> None:
        pass


def test_the_file_format_round_trips() -> None:
    weights = [0.0] * (crisis_model.MASK + 1)
    weights[7], weights[12345] = 1.5, -0.25
    model = decode(encode(weights, 0.1, 0.7, 0.02, {"posts": 3}))
    assert model.weights[7] == pytest.approx(1.5, abs=1e-4) and model.weights[12345] == pytest.approx(-0.25, abs=1e-4)
    assert (model.bias, model.answer_at, model.doubt_below, model.info["posts"]) == (0.1, 0.7, 0.02, 3)
    with pytest.raises(ValueError):
        decode(b"not a model")


def test_spelling_games_reach_the_same_features() -> None:
    assert features("I want to DIIIE tonight") == features("i want to die tonight")
    assert features("an0rex1a") == features("anorexia")


def test_training_separates_what_it_was_shown() -> None:
    posts = [p for p in load(DATA) if p.crisis][:25] + [p for p in load(DATA) if not p.crisis][:25]
    weights, bias = train.fit([(features(p.text), p.crisis) for p in posts])
    model = crisis_model.Model(tuple(weights), bias, 0.5, 0.0, {})
    right = sum((model.probability(p.text) >= 0.5) == p.crisis for p in posts)
    assert right >= 45


def _corpus_post(wanted) -> str:  # type: ignore[no-untyped-def]
    for post in train.corpus()[0]:
        if wanted(post):
            return post.text
    pytest.skip("no such post in the corpus")


@pytest.fixture
def model_on():  # type: ignore[no-untyped-def]
    was = crisis_model._enabled
    crisis_model.set_enabled(True)
    yield
    crisis_model.set_enabled(was)


def test_an_oblique_post_no_rule_names_gets_the_answer(model_on) -> None:  # type: ignore[no-untyped-def]
    model = shipped()
    text = _corpus_post(lambda p: p.crisis and _rules(p.text) == 0 and model.probability(p.text) >= model.answer_at)
    assert combined_tier(text) == 2
    crisis_model.set_enabled(False)
    assert combined_tier(text) == 0           # the rules alone would have said nothing


def test_a_rule_answer_the_model_is_nearly_sure_of_becomes_a_note_not_nothing(model_on) -> None:  # type: ignore[no-untyped-def]
    model = shipped()
    if model.doubt_below == 0:
        pytest.skip("the calibrated model keeps every rule answer")
    text = _corpus_post(lambda p: _rules(p.text) == 2 and model.probability(p.text) < model.doubt_below)
    assert combined_tier(text) == 1


@pytest.mark.parametrize("text", ["hvordan har dere det?", "hva skal dere i kveld?", "noen som ser på fotball i kveld?",
                                  "noen som er våkne?", "how are you all tonight?",
                                  "hei alle, hvordan går det i kveld?"])
def test_an_everyday_question_gets_no_crisis_answer(text: str, model_on) -> None:  # type: ignore[no-untyped-def]
    # Tried on the console: before everyday posts were in the corpus, each of these got the
    # crisis answer and alerted the consultants.
    assert combined_tier(text) < 2
