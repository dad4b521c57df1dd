"""Did it replicate? One verdict per claim (:mod:`.claims`) from the per-query scores of its two cells.

Per claim: our Δ (ours − baseline, on the paper's scale) over the queries both cells score, with a
95% confidence interval from the paired t distribution (the same test as its p-value:
``scipy.stats.ttest_rel`` through :func:`.stats.paired_ttest`); the p-values of the claims judged
together are Holm-corrected (``statsmodels.stats.multitest.multipletests``). The word:

- *replicated*: our Δ has the paper's sign and is significant (Holm p ≤ alpha);
- *same direction*: the paper's sign, not significant;
- *not replicated*: the opposite sign, significant;
- *inconclusive*: the opposite sign (or no difference), not significant;
- *not built*: a metrics file (or its per-query values) is missing;
- *paper Δ below MDE*: not significant, and the paper's Δ is below the minimum detectable effect of
  the eval set (:mod:`.power`: paired, alpha, 80% power), so even a perfect reproduction could not
  confirm it; this replaces *same direction* and *inconclusive* for such a claim.

Each verdict carries its claim's MDE: from the claim's own two runs where built, else from the
``fallback`` estimate the caller gives (other runs on the eval set, or an assumption).

With seed replicates a side's per-query scores are the mean over its seeds (the queries every seed
scores), and the spread between seeds is the standard deviation of the per-seed Δ: the verdict notes
when the paper's Δ is smaller than it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .power import Estimate

REPLICATED, SAME_DIRECTION, NOT_REPLICATED = "replicated", "same direction", "not replicated"
INCONCLUSIVE, NOT_BUILT = "inconclusive", "not built"
BELOW_MDE = "paper Δ below MDE"
WORDS = (REPLICATED, SAME_DIRECTION, NOT_REPLICATED, INCONCLUSIVE, BELOW_MDE, NOT_BUILT)

PerQuery = dict[str, float]


@dataclass
class Paired:
    """Our Δ over the paired queries, its confidence interval and the paired t-test's p."""

    delta: float
    low: float
    high: float
    p: float | None
    n: int
    sd: float = 0.0  # of the per-query differences, unscaled


def paired(ours: PerQuery, baseline: PerQuery, scale: float = 1.0, level: float = 0.95) -> Paired | None:
    """Mean difference ours − baseline over the queries both score, times ``scale``, with the
    ``level`` t interval; None below 2 shared queries. A constant difference has a zero-width
    interval (and p 0, or 1 when it is zero, as :func:`.stats.paired_ttest`)."""
    import numpy as np
    from scipy.stats import t as student

    from .stats import paired_ttest

    qids = sorted(set(ours) & set(baseline))
    if len(qids) < 2:
        return None
    diff = np.array([ours[q] - baseline[q] for q in qids], dtype=float) * scale
    mean = float(diff.mean())
    half = float(student.ppf(0.5 + level / 2, len(qids) - 1) * diff.std(ddof=1) / math.sqrt(len(qids)))
    p, n = paired_ttest(ours, baseline)
    return Paired(mean, mean - half, mean + half, p, n, float(diff.std(ddof=1)) / scale)


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-corrected p-values of the claims tested together (None stays None, and is not counted)."""
    from statsmodels.stats.multitest import multipletests

    tested = [p for p in pvalues if p is not None]
    if not tested:
        return list(pvalues)
    corrected = iter(float(p) for p in multipletests(tested, method="holm")[1])
    return [None if p is None else next(corrected) for p in pvalues]


def word(delta: float | None, p_corrected: float | None, direction: int, alpha: float) -> str:
    if delta is None or p_corrected is None:
        return NOT_BUILT
    same = delta * direction > 0
    significant = p_corrected <= alpha
    if same:
        return REPLICATED if significant else SAME_DIRECTION
    return NOT_REPLICATED if significant and delta != 0 else INCONCLUSIVE


def seed_average(replicates: list[PerQuery]) -> PerQuery:
    """Per query, the mean over the seeds that all score it."""
    if not replicates:
        return {}
    shared = set(replicates[0]).intersection(*replicates[1:])
    return {q: sum(r[q] for r in replicates) / len(replicates) for q in sorted(shared)}


@dataclass
class Verdict:
    claim_id: str
    paper_delta: float | None
    direction: int
    ours_paths: list[str] = field(default_factory=list)  # one per seed present
    baseline_paths: list[str] = field(default_factory=list)
    result: Paired | None = None
    p_holm: float | None = None
    seed_sd: float | None = None  # sd of the per-seed Δ (≥ 2 seeds on both sides)
    word: str = NOT_BUILT
    power: Estimate | None = None  # what the MDE is computed from
    mde: float | None = None  # on the paper's scale

    @property
    def below_mde(self) -> bool:
        return self.mde is not None and self.paper_delta is not None and abs(self.paper_delta) < self.mde

    @property
    def ratio(self) -> float | None:
        if self.result is None or not self.paper_delta:
            return None
        return self.result.delta / self.paper_delta

    @property
    def below_seed_spread(self) -> bool:
        return self.seed_sd is not None and self.paper_delta is not None and abs(self.paper_delta) < self.seed_sd


def judge(
    claims: list[tuple[str, float | None, int, list[tuple[str, PerQuery]], list[tuple[str, PerQuery]]]],
    alpha: float = 0.01, scale: float = 100.0, level: float = 0.95,
    fallback: Mapping[str, Estimate | None] | None = None,
) -> list[Verdict]:
    """Verdicts of claims judged together: each ``(id, paper Δ, direction, ours, baseline)`` with a
    side's ``[(metrics path, per-query scores)]`` per seed present, in seed order (empty: not built).
    ``fallback``: per claim id, the MDE estimate where its two runs are not both built."""
    import statistics

    out = []
    for cid, paper_delta, direction, ours, baseline in claims:
        v = Verdict(cid, paper_delta, direction, [p for p, _ in ours], [p for p, _ in baseline])
        if ours and baseline:
            v.result = paired(seed_average([q for _, q in ours]), seed_average([q for _, q in baseline]), scale, level)
            if len(ours) >= 2 and len(ours) == len(baseline):
                per_seed = [paired(a, b, scale, level) for (_, a), (_, b) in zip(ours, baseline, strict=True)]
                if all(r is not None for r in per_seed):
                    v.seed_sd = statistics.stdev(r.delta for r in per_seed)  # type: ignore[union-attr]
        out.append(v)
    corrected = holm([None if v.result is None else v.result.p for v in out])
    for v, p in zip(out, corrected, strict=True):
        v.p_holm = p
        v.word = word(None if v.result is None else v.result.delta, p, v.direction, alpha)
        if v.result is not None and v.result.n >= 2:
            v.power = Estimate(v.result.sd, v.result.n, "the claim's own two runs")
        else:
            v.power = (fallback or {}).get(v.claim_id)
        if v.power is not None:
            v.mde = v.power.mde(alpha, scale)
        if v.word in (SAME_DIRECTION, INCONCLUSIVE) and v.below_mde:
            v.word = BELOW_MDE
    return out
