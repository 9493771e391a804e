"""The learned crisis stage: a linear model over hashed character and word n-grams.

The phrase rules (moderation/crisis.py) and the concept stage (crisis_concepts.py) know what their
writers thought of; measured on text nobody tuned them on they caught little more than half of the
oblique crisis posts. This stage learns from a labelled corpus (training/ and tests/data, except
the files training/train.py lists as evaluation-only; none is committed yet) how crisis posts tend to be
worded, including the understated ones, and gives a probability. moderation/crisis_combine.py
decides what the bot does with it.

The model ships as one small file (moderation/data/crisis_model.bin): a JSON header (feature
settings, bias, thresholds, the corpus it was trained on) and the weights as 16-bit integers,
zlib-compressed. It is pure Python: no numpy at run time, about 0.2 ms a post.
"""
from __future__ import annotations

import json
import math
import sys
from array import array
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Sequence

from moderation.text import tokens

MAGIC = b"PHCM1\n"
BITS = 18                       # 262,144 buckets: collisions are rare at this corpus size
MASK = (1 << BITS) - 1
CHAR_NS = (3, 4, 5)


def feature_names(text: str) -> set[str]:
    """What the model looks at: canonical words (moderation.text: case, diacritics, leetspeak,
    repeated letters and contractions undone), word pairs, and the 3–5 letter pieces of each
    word with its edges, so "pills" and "pillene", "unalive" and "unaliving" share evidence."""
    toks = tokens(text)
    names: set[str] = set()
    for tok in toks:
        names.add("w" + tok)
        padded = f" {tok} "
        for n in CHAR_NS:
            for i in range(len(padded) - n + 1):
                names.add("c" + padded[i:i + n])
    for first, second in zip(toks, toks[1:]):
        names.add(f"b{first} {second}")
    if toks:
        names.add("bias-len" + str(min(len(toks) // 10, 6)))      # very short and very long posts differ
    return names


def features(text: str) -> list[int]:
    """The hashed buckets of a text (sorted, each once)."""
    return sorted({zlib.crc32(name.encode("utf-8")) & MASK for name in feature_names(text)})


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class _Scaled(Sequence[float]):
    """The weights as numbers, read through the file's int16 steps without copying them."""

    def __init__(self, steps: Sequence[int], step: float) -> None:
        self._steps, self._step = steps, step

    def __len__(self) -> int:
        return len(self._steps)

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        return self._steps[index] * self._step


@dataclass(frozen=True)
class Model:
    raw: Sequence[float]    # the weights, in units of ``step`` (the file's int16 values)
    bias: float
    answer_at: float        # probability from which the author gets the answer on this stage alone
    doubt_below: float      # below this, a phrase rule's answer is reconsidered (crisis_combine)
    info: dict
    step: float = 1.0

    @property
    def weights(self) -> Sequence[float]:
        return self.raw if self.step == 1.0 else _Scaled(self.raw, self.step)

    def of_features(self, feats: list[int]) -> float:
        if not feats:
            return 0.0
        return sigmoid(self.bias + self.step / math.sqrt(len(feats)) * sum(self.raw[j] for j in feats))

    def probability(self, text: str) -> float:
        return self.of_features(features(text))


def encode(weights: list[float], bias: float, answer_at: float, doubt_below: float, info: dict) -> bytes:
    peak = max((abs(w) for w in weights), default=0.0) or 1.0
    step = peak / 32767
    header = dict(info, bits=BITS, char_ns=list(CHAR_NS), bias=bias, step=step,
                  answer_at=answer_at, doubt_below=doubt_below)
    packed = struct.pack(f"<{len(weights)}h", *(round(w / step) for w in weights))
    head = json.dumps(header, sort_keys=True).encode("utf-8")
    return MAGIC + struct.pack("<I", len(head)) + head + zlib.compress(packed, 9)


def decode(blob: bytes) -> Model:
    if not blob.startswith(MAGIC):
        raise ValueError("not a Peerhaven crisis model file")
    at = len(MAGIC)
    (size,) = struct.unpack_from("<I", blob, at)
    header = json.loads(blob[at + 4:at + 4 + size])
    if header["bits"] != BITS or tuple(header["char_ns"]) != CHAR_NS:
        raise ValueError("the model file was made with other feature settings")
    # Kept as the file's int16 steps (half a MiB), not as 262,144 Python floats (about 15 MiB and
    # 45 ms to build, on the first post screened).
    weights = array("h", zlib.decompress(blob[at + 4 + size:]))
    if sys.byteorder == "big":
        weights.byteswap()
    info = {k: v for k, v in header.items() if k not in ("bias", "step", "answer_at", "doubt_below")}
    return Model(weights, header["bias"], header["answer_at"], header["doubt_below"], info, header["step"])


@lru_cache(maxsize=1)
def shipped() -> Model | None:
    """The model in the package, or None when it is absent (then only the rules decide)."""
    path = resources.files("moderation") / "data" / "crisis_model.bin"
    if not path.is_file():
        return None
    return decode(path.read_bytes())


# On in the bot since 2026-12-03. It was off while the corpus in training/ had crisis vocabulary
# in nearly every negative ("hvordan har dere det?" then scored 0.97); with 739 everyday posts
# among the negatives that question scores 0.31. On a crisis set written blind (279 posts, en/nb)
# the rules alone scored 74 % recall / 13 % false alarms, rules and model together 88 % / 6 %
# (tests/data/safety_blind5_crisis.txt, never trained on); with 1,840 more posts in the corpus 92 % / 9 %,
# 93 % / 2 % on set 6 and 92 % / 4 % on set 7 (tests/data/safety_blind{6,7_crisis}.txt).
_enabled = True


def set_enabled(enabled: bool) -> None:
    """Switch the learned stage on or off (bench.safety --model; tests)."""
    global _enabled
    _enabled = enabled
    probability.cache_clear()


@lru_cache(maxsize=4096)
def probability(text: str) -> float | None:
    """The shipped model's probability that ``text`` needs the crisis answer (None: no model or
    switched off). Cached: one post is screened by several callers (check, disclosure, title)."""
    model = shipped() if _enabled else None
    return None if model is None else model.probability(text)
