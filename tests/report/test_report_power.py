"""The minimum detectable effect of a claim (qcpt/report/power.py): by hand on constructed per-query
scores, against statsmodels' power solver, and in the verdict (a claim below it is flagged)."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import TTestPower

from qcpt.report import power as qpower
from qcpt.report import verdict as qv

# 400 queries; ours − baseline alternates +0.3 and −0.1: mean 0.1, deviations ±0.2, so the sd of the
# differences is √(400·0.04 / 399) = √(16/399).
N = 400
BASE = {f"q{i}": 0.2 + 0.001 * (i % 7) for i in range(N)}
OURS = {q: v + (0.3 if i % 2 == 0 else -0.1) for i, (q, v) in enumerate(BASE.items())}
SD = math.sqrt(16 / 399)
Z995, Z80 = 2.5758293035489004, 0.8416212335729143  # normal quantiles (tables)


def test_sd_of_per_query_differences_by_hand():
    sd, n = qpower.diff_sd(OURS, BASE)
    assert n == N and sd == pytest.approx(SD)
    assert qpower.diff_sd({"a": 1.0}, {"a": 0.0}) is None


def test_mde_against_a_hand_computation_and_statsmodels():
    exact = qpower.mde(SD, N, alpha=0.01)
    # by hand: (z_{1-α/2} + z_{power})·sd/√n, the normal approximation; t at 399 df is a little wider
    by_hand = (Z995 + Z80) * SD / math.sqrt(N)
    assert by_hand == pytest.approx(3.4174505371218147 * 0.20025047 / 20, rel=1e-6)
    assert exact == pytest.approx(by_hand, rel=0.01) and exact > by_hand
    effect = TTestPower().solve_power(nobs=N, alpha=0.01, power=0.8, alternative="two-sided")
    assert exact == pytest.approx(effect * SD, rel=1e-6)
    # fewer queries, wider: 43 queries (DL19) at the same sd
    assert qpower.mde(SD, 43, 0.01) == pytest.approx(
        TTestPower().solve_power(nobs=43, alpha=0.01, power=0.8) * SD, rel=1e-5)
    assert qpower.mde(0.0, 10, 0.01) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        qpower.mde(0.1, 1, 0.01)


def test_the_issues_worked_examples():
    """MS MARCO dev (6,980 queries): about 1 MRR@10 point; DL19 (43): several nDCG@10 points."""
    dev = qpower.assumed("MRR@10", 6980).mde(0.01)
    dl19 = qpower.assumed("nDCG@10", 43).mde(0.01)
    assert 0.8 < dev < 1.5 and 5 < dl19 < 12


def test_runs_sd_is_the_median_over_pairs():
    a = {f"q{i}": 0.0 for i in range(4)}
    b = {f"q{i}": float(i % 2) for i in range(4)}  # a − b: 0, −1, 0, −1: sd √(1/3)
    c = {f"q{i}": float(i) for i in range(4)}  # a − c: sd √(5/3); b − c: 0, 0, 2, 2: sd √(4/3)
    sd, n = qpower.runs_sd([a, b, c])
    assert n == 4 and sd == pytest.approx(math.sqrt(4 / 3))
    assert qpower.runs_sd([a]) is None


def test_estimate_falls_back_to_the_assumption_with_the_eval_sets_size():
    est = qpower.estimate("MRR@10", "msmarco-dev", [], 6980, "published")
    assert est.sd == qpower.ASSUMED_SD["MRR@10"] and est.n == 6980 and "assumed" in est.source
    est = qpower.estimate("MRR@10", "msmarco-dev", [OURS, BASE], None)
    assert est.sd == pytest.approx(SD) and est.n == N and "built runs" in est.source
    assert qpower.estimate("P@5", "x", [], 10) is None  # no assumption for a measure: no MDE


def test_judged_queries_reads_trec_and_beir_qrels(tmp_path):
    trec = tmp_path / "qrels.txt"
    trec.write_text("1 0 d1 1\n1 0 d2 0\n2 0 d3 2\n")
    beir = tmp_path / "test.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td1\t1\nq3\td2\t1\n")
    assert qpower.judged_queries(trec) == 2 and qpower.judged_queries(beir) == 3
    assert qpower.judged_queries(tmp_path / "absent") is None


def test_a_claim_below_its_mde_says_so_instead_of_same_direction():
    # the claim's own runs: Δ +10 points over 400 queries, MDE ≈ 3.4 points
    (big,) = qv.judge([("c", 5.0, 1, [("o", OURS)], [("b", BASE)])], alpha=0.01, scale=100.0)
    assert big.word == qv.REPLICATED and big.mde == pytest.approx(qpower.mde(SD, N, 0.01) * 100)
    assert not big.below_mde and big.power.source == "the claim's own two runs"
    # a noisy small effect: not significant, paper Δ 0.6 below the MDE of 4 queries
    noisy_ours = {"q0": 0.7, "q1": 0.2, "q2": 0.5, "q3": 0.3}
    noisy_base = {"q0": 0.4, "q1": 0.4, "q2": 0.4, "q3": 0.4}
    (small,) = qv.judge([("s", 0.6, 1, [("o", noisy_ours)], [("b", noisy_base)])], alpha=0.01, scale=100.0)
    assert small.below_mde and small.word == qv.BELOW_MDE
    # not built: the fallback estimate gives the MDE, the word stays "not built"
    fallback = {"n": qpower.assumed("MRR@10", 6980)}
    (nb,) = qv.judge([("n", 0.1, 1, [], [])], fallback=fallback)
    assert nb.word == qv.NOT_BUILT and nb.below_mde and nb.mde == pytest.approx(fallback["n"].mde(0.01))


def test_mde_where_scipys_non_central_t_gives_nan():
    """At 4 queries scipy's nct returns NaN at some effects; the MDE must still have 80% power
    (a Monte Carlo of the paired t-test at that effect)."""
    import numpy as np
    from scipy.stats import t as student

    effect, n = qpower.mde(1.0, 4, 0.01), 4
    x = np.random.default_rng(0).normal(effect, 1.0, size=(200_000, n))
    t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(n))
    assert (np.abs(t) > student.isf(0.005, n - 1)).mean() == pytest.approx(0.8, abs=0.005)
