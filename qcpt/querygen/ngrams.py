"""The text normal form and character n-grams that the query audit's exact and near matches
compare (:mod:`.leakage`, :mod:`.audit`)."""

from __future__ import annotations

import math
import re
import unicodedata

_NON_WORD = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Case-folded, NFKC, punctuation dropped, whitespace collapsed: what an exact match compares."""
    if text.isascii():  # NFKC leaves ASCII as it is and casefold is lower there: the same, faster
        text = text.lower()
    else:
        text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _NON_WORD.sub(" ", text)).strip()


def ngrams(normalised: str, n: int = 3) -> frozenset[str]:
    padded = f" {normalised} "
    return frozenset(padded[i:i + n] for i in range(max(len(padded) - n + 1, 1)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not (a or b):
        return 1.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)  # |a ∪ b| without building the union


def shared_needed(size: int, threshold: float) -> int:
    """The fewest n-grams a set of ``size`` shares with any set it has Jaccard >= ``threshold`` with."""
    # (the tolerance keeps 0.8 · 15 = 12.000000000000002 from asking for a 13th shared n-gram)
    return math.ceil(threshold * size - 1e-9)
