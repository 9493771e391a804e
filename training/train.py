"""Train the learned crisis stage (moderation/crisis_model.py) and write moderation/data/crisis_model.bin.

    python -m training.train [--check] [--folds 5] [--out PATH]

The corpus is every labelled file in training/ plus the sets in tests/data that rules were
developed on. Files listed in EVALUATION_ONLY are never read here: they are for measuring the bot
(`python -m bench.safety --data FILE`) on text neither the rules nor the model saw. The names are
reserved for blind sets; safety_blind5_crisis.txt is committed (written blind, never trained on).

Logistic regression with class-balanced weights, AdaGrad steps and an L2 penalty, fully
deterministic (a seeded shuffle), in pure Python. The two thresholds the bot uses are chosen by
k-fold cross-validation together with the rules: each post is scored by a model that did not see
it, and the thresholds are the pair that catches the most crisis posts while the rules and the
model together raise at most FALSE_ALARM_BUDGET false alarms on the negatives.

--check retrains and fails if the result differs from the shipped file (a stale model).
"""
from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

from bench.safety import Post, load
from moderation.crisis import assess_where
from moderation.crisis_combine import answers, rules_reading
from moderation.crisis_model import MASK, Model, decode, encode, features, sigmoid

ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = ROOT / "training"
TESTS_DATA = ROOT / "tests" / "data"
OUT = ROOT / "moderation" / "data" / "crisis_model.bin"
# Written by people who never saw the code or the corpus, and measured, never trained on.
EVALUATION_ONLY = frozenset({"safety_blind5_crisis.txt", "safety_blind5_disclosure.txt", "safety_blind6.txt",
                             "safety_blind7_crisis.txt", "safety_blind8_crisis.txt",
                             "safety_blind9_crisis.txt", "safety_blind10_crisis.txt",
                             "safety_blind11_crisis.txt"})
FALSE_ALARM_BUDGET = 0.10      # the issue allows 10 %; when unsure, answer (a kind false alarm costs little)
EPOCHS, RATE, L2, SEED = 12, 0.4, 1e-6, 20261202


def corpus_files() -> list[Path]:
    files = sorted(CORPUS_DIR.glob("*.txt")) + sorted(TESTS_DATA.glob("safety_*.txt"))
    return [f for f in files if f.name not in EVALUATION_ONLY]


def corpus() -> tuple[list[Post], list[bool]]:
    """The posts, and for each whether it comes from training/crisis_*.txt — text the rules
    were not written from, so the thresholds are calibrated on it (the sets in tests/data
    flatter the rules, which were tuned on them). The everyday posts (training/everyday_*.txt)
    train the model but are left out of the calibration: easy negatives would dilute the
    false-alarm budget, which is meant for text that uses crisis words."""
    seen: set[str] = set()
    posts, fresh = [], []
    for path in corpus_files():
        for post in load(path):
            if post.text not in seen:           # a post in two files counts once
                seen.add(post.text)
                posts.append(post)
                fresh.append(path.parent == CORPUS_DIR and path.name.startswith("crisis_"))
    return posts, fresh


def fit(rows: list[tuple[list[int], bool]]) -> tuple[list[float], float]:
    """Weights and bias of a balanced, L2-penalised logistic regression on hashed features."""
    weights = [0.0] * (MASK + 1)
    squares = [1e-8] * (MASK + 1)
    bias, bias_sq = 0.0, 1e-8
    positives = sum(1 for _, y in rows if y) or 1
    negatives = len(rows) - positives or 1
    class_weight = {True: len(rows) / (2 * positives), False: len(rows) / (2 * negatives)}
    order = list(range(len(rows)))
    rng = random.Random(SEED)
    for _ in range(EPOCHS):
        rng.shuffle(order)
        for i in order:
            feats, label = rows[i]
            if not feats:
                continue
            x = 1.0 / math.sqrt(len(feats))
            z = bias + x * sum(weights[j] for j in feats)
            p = sigmoid(z)
            g = (p - label) * class_weight[label]
            for j in feats:
                grad = g * x + L2 * weights[j]
                squares[j] += grad * grad
                weights[j] -= RATE * grad / math.sqrt(squares[j])
            bias_sq += g * g
            bias -= RATE * g / math.sqrt(bias_sq)
    return weights, bias


def _model(weights: list[float], bias: float) -> Model:
    return Model(tuple(weights), bias, 1.0, 0.0, {})


def cross_scores(posts: list[Post], folds: int) -> list[float]:
    """Each post's probability from a model trained on the other folds."""
    rows = [(features(p.text), p.crisis) for p in posts]
    scores = [0.0] * len(posts)
    for fold in range(folds):
        train = [r for i, r in enumerate(rows) if i % folds != fold]
        model = _model(*fit(train))
        for i, (feats, _) in enumerate(rows):
            if i % folds == fold:
                scores[i] = model.of_features(feats)
    return scores


def choose_thresholds(posts: list[Post], scores: list[float], rules: list[tuple[bool, bool, bool, bool]]) -> tuple[float, float, float, float]:
    """(answer_at, doubt_below, recall, false alarms): the most recall within the budget; on a tie
    the higher answer_at and the lower doubt_below (closer to the rules)."""
    best = (-1.0, 0.0, 1.0, 0.0)
    for answer_tenths in range(30, 100, 2):
        answer_at = answer_tenths / 100
        for doubt_below in (0.0, 0.01, 0.02, 0.03, 0.05, 0.08):
            tp = fp = pos = neg = 0
            for post, p, (rule, note, sure, denied) in zip(posts, scores, rules):
                fired = answers(rule, note, p, len(post.text.split()), answer_at, doubt_below, sure, denied)
                pos += post.crisis
                neg += not post.crisis
                tp += fired and post.crisis
                fp += fired and not post.crisis
            recall, fa = tp / max(pos, 1), fp / max(neg, 1)
            if fa <= FALSE_ALARM_BUDGET and (recall, answer_at, -doubt_below) > (best[0], best[2], -best[1]):
                best = (recall, doubt_below, answer_at, fa)
    recall, doubt_below, answer_at, fa = best
    return answer_at, doubt_below, recall, fa


def _rules_reading(text: str) -> tuple[bool, bool, bool, bool]:
    """(the rules answer, the rules at least note, a rule the model may not lower fired, the writer
    denies wanting it) a post, without the model."""
    first, where = assess_where(text)
    tier, sure, denied = rules_reading(first, text, where, with_denial=True)
    return tier == 2, tier > 0, sure, denied


def train(folds: int = 5, out=sys.stdout) -> bytes:  # type: ignore[no-untyped-def]
    posts, fresh = corpus()
    rules = [_rules_reading(p.text) for p in posts]
    scores = cross_scores(posts, folds)
    pick = [i for i, f in enumerate(fresh) if f] or list(range(len(posts)))
    answer_at, doubt_below, recall, fa = choose_thresholds(
        [posts[i] for i in pick], [scores[i] for i in pick], [rules[i] for i in pick])
    weights, bias = fit([(features(p.text), p.crisis) for p in posts])
    info = {"posts": len(posts), "calibrated_on": len(pick), "crisis_posts": sum(p.crisis for p in posts),
            "files": [f.relative_to(ROOT).as_posix() for f in corpus_files()],
            "cv_folds": folds, "cv_recall": round(recall, 4), "cv_false_alarms": round(fa, 4)}
    out.write(f"{len(posts)} posts ({info['crisis_posts']} crisis) from {len(info['files'])} files\n"
              f"cross-validated with the rules on {len(pick)} posts the rules were not written from: recall {recall:.1%}, false alarms {fa:.1%} "
              f"(answer at p ≥ {answer_at:.2f}, a rule's answer kept unless p < {doubt_below:.2f})\n")
    return encode(weights, bias, answer_at, doubt_below, info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="fail if the shipped model is stale")
    args = parser.parse_args(argv)
    blob = train(args.folds)
    if args.check:
        same = args.out.is_file() and decode(args.out.read_bytes()) == decode(blob)
        print("the shipped model is current" if same else "the shipped model is STALE: run python -m training.train")
        return 0 if same else 1
    args.out.write_bytes(blob)
    print(f"wrote {args.out} ({len(blob) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
