"""Recall and false alarms of the safety checks on the labelled posts in tests/data/.

    python -m bench.safety [--misses] [--data FILE ...] [--local Fjordvik,...] [--console] [--rules-only]

For each check (disclosure, crisis) and language: recall (labelled positives the check
catches) and false-alarm rate (labelled negatives it fires on), then the time per post for
both checks together. "Crisis" counts as caught only when the author would get the private
answer (tier 2) from both crisis stages together (moderation.crisis.combined_tier, exactly what
the bot acts on); a quiet queue note on a negative is not a false alarm.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from moderation.crisis import combined_tier
from moderation.crisis_model import probability, set_enabled
from moderation.disclosure_detect import detect

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "safety_posts.txt"
# Every labelled set: the first one the rules were built on, then held-out sets that were
# written by others and run once before any rule was changed for them.
SETS = tuple(DATA.parent / f"{name}.txt" for name in
             ("safety_posts", "safety_holdout", "safety_holdout2", "safety_blind", "safety_concepts",
              "safety_disclosure_dev", "safety_disclosure_set5", "safety_blind5_crisis", "safety_blind6",
              "safety_blind7_crisis", "safety_blind8_crisis", "safety_blind9_crisis",
              "safety_blind10_crisis", "safety_blind11_crisis"))
LOCAL = ("Fjordvik", "Nordby")          # the set's configured local place names
TARGETS = {"disclosure": (0.95, 0.05), "crisis": (0.95, 0.10)}
MAX_MS = 2.0


@dataclass(frozen=True)
class Post:
    lang: str
    disclosure: bool
    crisis: bool
    text: str


def load(path: Path = DATA) -> list[Post]:
    posts = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = [p.strip() for p in raw.split(" | ", 3)]
        if len(parts) != 4 or parts[0] not in ("en", "nb") or parts[1] not in "01" or parts[2] not in "01":
            raise ValueError(f"{path.name}:{number}: expected 'lang | 0/1 | 0/1 | text'")
        posts.append(Post(parts[0], parts[1] == "1", parts[2] == "1", parts[3].replace("\\n", "\n")))
    return posts


@dataclass
class Tally:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0

    def add(self, label: bool, fired: bool) -> None:
        if label:
            self.tp += fired
            self.fn += not fired
        else:
            self.fp += fired
            self.tn += not fired

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def false_alarms(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0


@dataclass
class Result:
    tallies: dict[tuple[str, str], Tally]
    ms_per_post: float
    misses: list[tuple[str, str, Post]]

    def total(self, check: str) -> Tally:
        out = Tally()
        for (c, _), t in self.tallies.items():
            if c == check:
                out.tp, out.fn, out.fp, out.tn = out.tp + t.tp, out.fn + t.fn, out.fp + t.fp, out.tn + t.tn
        return out

    def meets_targets(self) -> bool:
        return all(self.total(c).recall >= r and self.total(c).false_alarms <= f for c, (r, f) in TARGETS.items()) \
            and self.ms_per_post < MAX_MS


def run(posts: list[Post], local: tuple[str, ...] = LOCAL, rounds: int = 3) -> Result:
    tallies: dict[tuple[str, str], Tally] = {}
    misses: list[tuple[str, str, Post]] = []
    for post in posts:
        for check, label, fired in (("disclosure", post.disclosure, bool(detect(post.text, local=local))),
                                    ("crisis", post.crisis, combined_tier(post.text) == 2)):
            tallies.setdefault((check, post.lang), Tally()).add(label, fired)
            if label != fired:
                misses.append((check, "missed" if label else "false alarm", post))
    start = time.perf_counter()
    for _ in range(rounds):
        probability.cache_clear()           # time the model's work, not its cache
        for post in posts:
            detect(post.text, local=local)
            combined_tier(post.text)
    ms = (time.perf_counter() - start) * 1000 / (rounds * len(posts))
    return Result(tallies, ms, misses)


def report(result: Result, out=sys.stdout) -> None:  # type: ignore[no-untyped-def]
    report_rows(result, out)
    out.write(f"time per post (both checks, one core): {result.ms_per_post:.3f} ms (target < {MAX_MS} ms)\n")
    out.write("all targets met\n" if result.meets_targets() else "TARGETS NOT MET\n")


def report_rows(result: Result, out=sys.stdout) -> None:  # type: ignore[no-untyped-def]
    out.write(f"{'check':<11}{'lang':<6}{'recall':>8}{'false alarms':>14}{'pos':>6}{'neg':>6}\n")
    for check in TARGETS:
        rows = sorted((lang, t) for (c, lang), t in result.tallies.items() if c == check)
        for lang, t in rows + [("all", result.total(check))]:
            out.write(f"{check:<11}{lang:<6}{t.recall:>8.1%}{t.false_alarms:>14.1%}{t.tp + t.fn:>6}{t.fp + t.tn:>6}\n")
        recall, fa = TARGETS[check]
        out.write(f"{'':<11}target: recall ≥ {recall:.0%}, false alarms ≤ {fa:.0%}\n")


def console(posts: list[Post], local: tuple[str, ...], modes: tuple[str, ...], misses: bool,
            out=sys.stdout) -> bool:  # type: ignore[no-untyped-def]
    """The same posts through the console app (bench/safety_console.py): what the author saw,
    per way of posting, and where it differs from the detector."""
    from bench.safety_console import run_console
    seen = run_console([p.text for p in posts], modes, local)
    ok = True
    for mode in modes:
        tallies: dict[tuple[str, str], Tally] = {}
        differ = []
        for index, post in enumerate(posts):
            got = seen.get((index, mode))
            if got is None:
                continue
            for check, label, fired, direct in (
                    ("disclosure", post.disclosure, got.disclosure, bool(detect(post.text, local=local))),
                    ("crisis", post.crisis, got.crisis, combined_tier(post.text) == 2)):
                tallies.setdefault((check, post.lang), Tally()).add(label, fired)
                if fired != direct:
                    differ.append((check, fired, post))
        result = Result(tallies, 0.0, [])
        out.write(f"\nconsole, {mode}: {sum(1 for i, m in seen if m == mode)} posts\n")
        report_rows(result, out)
        out.write(f"differs from the detector: {len(differ)}\n")
        for check, fired, post in differ if misses else ():
            out.write(f"  {check:<11}{'console only' if fired else 'detector only':<14}{post.lang}  {post.text}\n")
        ok = ok and all(result.total(c).recall >= r and result.total(c).false_alarms <= f
                        for c, (r, f) in TARGETS.items())
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, nargs="+", default=[DATA])
    parser.add_argument("--all", action="store_true", help="every labelled set in tests/data, one by one")
    parser.add_argument("--local", default=",".join(LOCAL), help="local place names, comma-separated")
    parser.add_argument("--misses", action="store_true", help="list the posts each check got wrong")
    parser.add_argument("--console", action="store_true",
                        help="also post each text through the console app (plain, reply, /new, title)")
    parser.add_argument("--modes", default="plain,reply,new,title", help="console ways of posting")
    parser.add_argument("--rules-only", action="store_true",
                        help="crisis without the learned stage (moderation/crisis_model.py), to compare")
    args = parser.parse_args(argv)
    set_enabled(not args.rules_only)
    local = tuple(n for n in args.local.split(",") if n.strip())
    ok = True
    for path in (SETS if args.all else args.data):
        print(f"== {path.name}")
        posts = load(path)
        result = run(posts, local)
        report(result)
        ok = ok and result.meets_targets()
        if args.misses:
            for check, what, post in result.misses:
                print(f"{check:<11}{what:<12}{post.lang}  {post.text}")
        if args.console:
            ok = console(posts, local, tuple(m for m in args.modes.split(",") if m), args.misses) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
