"""Can a claim be detected at all? The minimum detectable effect (MDE) of a paired test on an eval set.

A claim compares two systems on the same queries with a two-tailed paired t-test (:mod:`.verdict`).
Given the standard deviation ``sd`` of the per-query differences and the number ``n`` of queries, the
MDE is the smallest true mean difference that test finds at level ``alpha`` with probability ``power``:
the ``delta`` solving ``P(|T| > t_crit) = power`` for ``T`` non-central t with ``n − 1`` degrees of
freedom and non-centrality ``delta·√n / sd`` (exact; the textbook approximation is
``(t_{1−α/2} + t_{power})·sd/√n``). A paper Δ below it could not be confirmed even by a perfect
reproduction, so the verdict of such a claim says so instead of "same direction".

``sd`` comes, in order, from: the claim's own two runs (their paired per-query differences), any
two runs already built on the eval set and measure (the median sd over pairs), or an assumption per
measure (:data:`ASSUMED_SD`, with where it comes from). ``n`` comes from the built runs, else the
eval set's qrels file, else the public sizes in :data:`KNOWN_QUERIES`.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

POWER = 0.8  # the conventional 80% (Cohen)
MAX_PAIRS = 45  # pairs of built runs an eval set's sd is estimated from (10 runs)

PerQuery = dict[str, float]

# sd of per-query differences between two fine-tuned BERT-base dense retrievers, by measure, where no
# two runs on the eval set are built yet. Per-query MRR@10 is mostly 0 or 1/rank with mean ~0.35-0.4
# (per-query sd ~0.42); two runs of one recipe agree on most queries (correlation ~0.8 assumed), so
# the difference has sd ~0.42·√(2·0.2) ≈ 0.27. nDCG@10 is graded and smoother (per-query sd ~0.25 on
# TREC DL), so ~0.25·√0.4 ≈ 0.16. Recall at a deep cutoff moves on few queries.
ASSUMED_SD: dict[str, float] = {"MRR@10": 0.27, "nDCG@10": 0.16, "R@50": 0.20, "R@100": 0.15, "R@1000": 0.10}
ASSUMED_SOURCE = ("assumed sd of per-query Δ {sd:g} for {measure} (two runs of one recipe, correlation 0.8; "
                  "qcpt/report/power.py ASSUMED_SD)")

# Judged queries of the public eval sets (MS MARCO passage dev small; TREC DL 2019/2020 passage judged
# topics; BEIR test splits, Thakur et al. 2021, Table 1), for a plan made before the qrels are in place.
KNOWN_QUERIES: dict[str, int] = {
    "msmarco-dev": 6980, "dl19": 43, "dl20": 54,
    "beir-trec-covid": 50, "beir-nfcorpus": 323, "beir-nq": 3452, "beir-hotpotqa": 7405, "beir-fiqa": 648,
    "beir-arguana": 1406, "beir-webis-touche2020": 49, "beir-cqadupstack": 13145, "beir-quora": 10000,
    "beir-dbpedia-entity": 400, "beir-scidocs": 1000, "beir-fever": 6666, "beir-climate-fever": 1535,
    "beir-scifact": 300,
}


def mde(sd: float, n: int, alpha: float, power: float = POWER) -> float:
    """The smallest true mean difference a two-tailed paired t-test over ``n`` queries detects at
    level ``alpha`` with probability ``power``, for per-query differences of standard deviation ``sd``
    (same units as ``sd``). Needs ``n >= 2``; 0 when ``sd`` is 0."""
    from scipy.optimize import brentq
    from scipy.stats import nct
    from scipy.stats import t as student

    if n < 2:
        raise ValueError(f"an MDE needs at least 2 queries, got {n}")
    if sd < 0 or not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"bad arguments: sd={sd}, alpha={alpha}, power={power}")
    if sd == 0:
        return 0.0
    df = n - 1
    crit = float(student.isf(alpha / 2, df))  # isf: exact where 1 - alpha/2 rounds to 1.0
    if not math.isfinite(crit):
        return math.inf

    def shortfall(effect: float) -> float:  # effect in sd units
        nc = effect * math.sqrt(n)
        achieved = float(nct.sf(crit, df, nc) + nct.cdf(-crit, df, nc))
        if math.isnan(achieved):  # scipy's non-central t gives NaN at some (df, nc), not only in the tail
            achieved = _power_by_integration(crit, df, nc)
        return achieved - power

    # bracket from the normal-theory approximation, widened until the power is reached
    high = (crit + float(student.ppf(power, df))) / math.sqrt(n)
    for _ in range(200):  # 1.5**200: no real effect size is further; then no effect is detectable
        if shortfall(high) >= 0:
            return float(brentq(shortfall, 0.0, high, xtol=1e-12)) * sd
        high *= 1.5
    return math.inf


def _power_by_integration(crit: float, df: int, nc: float) -> float:
    """P(|T| > crit) for T non-central t(df, nc), as the expectation over V ~ chi2(df) of the normal
    tail probabilities of Z + nc beyond ±crit·sqrt(V/df)."""
    from scipy.integrate import quad
    from scipy.stats import chi2, norm

    def integrand(v: float) -> float:
        c = crit * math.sqrt(v / df)
        return float(chi2.pdf(v, df) * (norm.sf(c - nc) + norm.cdf(-c - nc)))

    low, high = float(chi2.ppf(1e-12, df)), float(chi2.ppf(1 - 1e-12, df))
    return float(quad(integrand, low, high, points=[float(df)], limit=200)[0])


def diff_sd(ours: PerQuery, baseline: PerQuery) -> tuple[float, int] | None:
    """sd of the per-query differences over the queries both score, and their count (None below 2)."""
    qids = sorted(set(ours) & set(baseline))
    if len(qids) < 2:
        return None
    return statistics.stdev(ours[q] - baseline[q] for q in qids), len(qids)


def runs_sd(runs: list[PerQuery]) -> tuple[float, int] | None:
    """The median sd of per-query differences over pairs of ``runs`` (at most :data:`MAX_PAIRS`), and
    the median number of queries paired; None without two runs sharing two queries."""
    found = [d for a, b in itertools.islice(itertools.combinations(runs, 2), MAX_PAIRS)
             if (d := diff_sd(a, b)) is not None]
    if not found:
        return None
    return statistics.median(s for s, _ in found), int(statistics.median(n for _, n in found))


def judged_queries(qrels: str | Path) -> int | None:
    """Queries a qrels file judges (TREC ``qid 0 docid rel`` or BEIR ``query-id corpus-id score``
    with a header); None where the file is absent or empty."""
    path = Path(qrels)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    qids = set()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if parts and parts[0] != "query-id":
                qids.add(parts[0])
    return len(qids) or None


@dataclass(frozen=True)
class Estimate:
    """What an MDE is computed from: sd of the per-query differences (unit scale), queries, and where
    the two came from (in words)."""

    sd: float
    n: int
    source: str

    def mde(self, alpha: float, scale: float = 100.0, power: float = POWER) -> float:
        return mde(self.sd, self.n, alpha, power) * scale


def assumed(measure: str, n: int) -> Estimate | None:
    sd = ASSUMED_SD.get(measure)
    if sd is None:
        return None
    return Estimate(sd, n, ASSUMED_SOURCE.format(sd=sd, measure=measure))


def estimate(measure: str, evalset: str, built: list[PerQuery], n_fallback: int | None,
             n_source: str = "") -> Estimate | None:
    """The sd of an eval set's per-query differences on ``measure`` from the ``built`` runs on it,
    else the assumption; the number of queries from the runs, else ``n_fallback``."""
    measured = runs_sd(built)
    if measured is not None:
        sd, n = measured
        return Estimate(sd, n, f"sd {sd:.3f} of per-query Δ over {min(len(built), 10)} built runs on {evalset}")
    n = n_fallback if n_fallback is not None else (max(map(len, built)) if built else None)
    if n is None or n < 2:
        return None
    guess = assumed(measure, n)
    if guess is None:
        return None
    return Estimate(guess.sd, n, f"{guess.source}; {n} queries{f' ({n_source})' if n_source else ''}")


def evalset_queries(config: dict, evalset: str, canonical: str | None = None) -> tuple[int | None, str]:
    """Queries of a config's eval set and where the number comes from: its qrels file where present
    (a mean over sub-sets, such as CQADupStack, sums theirs), else :data:`KNOWN_QUERIES` by its name
    or its paper name ``canonical``."""
    spec = config.get("evalsets", {}).get(evalset, {})
    if "mean_of" in spec:
        parts = [evalset_queries(config, name) for name in spec["mean_of"]]
        if parts and all(n is not None for n, _ in parts):
            return sum(n for n, _ in parts), f"the qrels of its {len(parts)} parts"  # type: ignore[misc]
    elif spec.get("qrels"):
        n = judged_queries(spec["qrels"])
        if n is not None:
            return n, f"judged in {spec['qrels']}"
    for name in (evalset, canonical):
        if name in KNOWN_QUERIES:
            return KNOWN_QUERIES[name], f"{name}'s published size"  # type: ignore[index]
    return None, "unknown"


def evalset_runs(results: str, evalset: str, available: list[str] | set[str] | None = None) -> list[str]:
    """Metrics files of runs on ``evalset`` under ``results``: those of ``available`` (the report's
    declared inputs) when given, else whatever exists."""
    root = Path(results) / "eval" / evalset
    if available is not None:
        return sorted(p for p in map(str, available) if Path(p).is_file() and Path(p).is_relative_to(root))
    return sorted(str(p) for p in root.rglob("metrics.json")) if root.is_dir() else []
