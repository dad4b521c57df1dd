"""The verdict per claim: Holm against statsmodels and by hand, the four outcomes (and the fifth) on
constructed cell pairs with known per-query differences, seed replicates, and the claims data."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.multitest import multipletests

from qcpt.report import claims as qclaims
from qcpt.report import verdict as qv

# per-query differences (×100): A has mean 10, deviations 0, 2, −2, 0, 1, −1 (sum of squares 10, so
# sd √2, se √2/√6 = 1/√3, t = 10√3); B has mean 2.5, deviations 27.5, −22.5, 7.5, −12.5 (sum of
# squares 1475, sd √(1475/3)).
A = [0.10, 0.12, 0.08, 0.10, 0.11, 0.09]
B = [0.30, -0.20, 0.10, -0.10]
T975 = {5: 2.5705818356363146, 3: 3.1824463052837078}  # Student t quantiles (tables)


def _pair(diffs: list[float], base: float = 0.4) -> tuple[dict[str, float], dict[str, float]]:
    baseline = {f"q{i}": base for i in range(len(diffs))}
    ours = {f"q{i}": base + d for i, d in enumerate(diffs)}
    ours["only-ours"] = 1.0  # a query one side lacks is not paired
    return ours, baseline


def test_holm_equals_statsmodels_and_the_hand_computed_values():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> monotone 0.06
    assert qv.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert qv.holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
    # a claim not built is not counted among those tested
    assert qv.holm([0.01, None, 0.04]) == pytest.approx([0.02, None, 0.04])
    assert qv.holm([None]) == [None]


def test_paired_delta_and_interval_by_hand():
    r = qv.paired(*_pair(A), scale=100.0)
    se = 1 / math.sqrt(3)
    assert r.n == 6
    assert r.delta == pytest.approx(10.0)
    assert (r.low, r.high) == pytest.approx((10 - T975[5] * se, 10 + T975[5] * se))
    r = qv.paired(*_pair(B), scale=100.0)
    se = math.sqrt(1475 / 3) / 2
    assert r.delta == pytest.approx(2.5)
    assert (r.low, r.high) == pytest.approx((2.5 - T975[3] * se, 2.5 + T975[3] * se))
    assert qv.paired({"q": 1.0}, {"q": 0.0}) is None  # one shared query: no interval


def test_each_outcome_on_constructed_cell_pairs():
    neg_a = [-d for d in A]
    neg_b = [-d for d in B]
    cases = [
        ("replicated", 0.6, 1, [("o1", _pair(A)[0])], [("b1", _pair(A)[1])]),
        # B's 4 noisy queries detect only huge effects (MDE ≈ 80 points): a paper Δ above that stays
        # "same direction" / "inconclusive", one below it says so (tests/report/test_report_power.py)
        ("same", 500.0, 1, [("o2", _pair(B)[0])], [("b2", _pair(B)[1])]),
        ("same-small", 0.6, 1, [("o6", _pair(B)[0])], [("b6", _pair(B)[1])]),
        ("not", 0.6, 1, [("o3", _pair(neg_a)[0])], [("b3", _pair(neg_a)[1])]),
        ("inconclusive", 500.0, 1, [("o4", _pair(neg_b)[0])], [("b4", _pair(neg_b)[1])]),
        ("missing", 0.6, 1, [], [("b5", {"q0": 0.1, "q1": 0.2})]),
    ]
    out = {v.claim_id: v for v in qv.judge(cases, alpha=0.01, scale=100.0)}
    assert out["replicated"].word == qv.REPLICATED
    assert out["same"].word == qv.SAME_DIRECTION
    assert out["not"].word == qv.NOT_REPLICATED
    assert out["inconclusive"].word == qv.INCONCLUSIVE
    assert out["same-small"].word == qv.BELOW_MDE and out["same-small"].mde == pytest.approx(82.49, abs=0.01)
    assert out["missing"].word == qv.NOT_BUILT and out["missing"].result is None
    assert out["missing"].baseline_paths == ["b5"] and out["missing"].ours_paths == []
    # Holm over the 5 tested: A and −A (equal p) are multiplied by 5, B and −B capped at 1
    p_a = out["replicated"].result.p
    assert out["replicated"].p_holm == pytest.approx(5 * p_a)
    assert out["not"].p_holm == pytest.approx(5 * p_a)
    assert out["same"].p_holm == pytest.approx(1.0) and out["inconclusive"].p_holm == pytest.approx(1.0)
    assert out["not"].result.delta == pytest.approx(-10.0)
    assert out["replicated"].ratio == pytest.approx(10.0 / 0.6)
    # a claim of a negative Δ: −A replicates it
    (v,) = qv.judge([("neg", -0.3, -1, [("o", _pair(neg_a)[0])], [("b", _pair(neg_a)[1])])])
    assert v.word == qv.REPLICATED and v.ratio == pytest.approx(10.0 / 0.3)


def test_seed_replicates_are_averaged_per_query_and_their_spread_is_reported():
    base = {"q0": 0.2, "q1": 0.4, "q2": 0.6}
    seed1 = {q: v + 0.10 for q, v in base.items()}
    seed2 = {q: v + 0.02 for q, v in base.items()}
    assert qv.seed_average([seed1, seed2]) == pytest.approx({q: v + 0.06 for q, v in base.items()})
    (v,) = qv.judge([("c", 1.0, 1, [("o42", seed1), ("o43", seed2)], [("b42", base), ("b43", base)])], scale=100.0)
    assert v.result.delta == pytest.approx(6.0)
    assert v.seed_sd == pytest.approx(math.sqrt(32))  # per-seed Δ 10 and 2: sd √((16 + 16) / 1)
    assert v.below_seed_spread  # the paper's Δ (1.0) is below the spread between seeds


def _t_p(diffs: list[float]) -> float:
    """Two-tailed paired-t p of per-query differences, by hand (Student's t survival function)."""
    from scipy.stats import t as student

    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    return float(2 * student.sf(abs(mean / (sd / math.sqrt(n))), n - 1))


def test_three_seeds_give_the_seed_averaged_delta_its_spread_and_holm_p_by_hand():
    """Two claims over 3 seeds each: per seed, ours = baseline + a shift + query-level noise that
    grows with the seed. By hand: the seed-averaged Δ, the sd of the per-seed Δ, the paired t-test on
    the seed-averaged scores and Holm over the two claims."""
    queries = [f"q{i}" for i in range(8)]
    base = {q: 0.3 + 0.05 * i for i, q in enumerate(queries)}
    noise = [0.02, -0.02, 0.04, -0.04, 0.01, -0.01, 0.03, -0.03]  # mean 0

    def side(shifts: list[float], scale_noise: float) -> list[tuple[str, dict[str, float]]]:
        return [(f"s{k}", {q: base[q] + shift + noise[i] * scale_noise * (k + 1) for i, q in enumerate(queries)})
                for k, shift in enumerate(shifts)]

    baseline = [(f"b{k}", dict(base)) for k in range(3)]
    strong, weak = side([0.05, 0.01, 0.03], 0.1), side([0.02, -0.03, 0.04], 3.0)
    v1, v2 = qv.judge([("strong", 2.5, 1, strong, baseline), ("weak", 2.5, 1, weak, baseline)], alpha=0.01, scale=100.0)
    # strong: per-seed Δ 5, 1, 3 (×100): mean 3, sd 2; seed-averaged per-query Δ = 0.03 + 0.2 × noise
    assert v1.result.delta == pytest.approx(3.0) and v1.seed_sd == pytest.approx(2.0)
    p1 = _t_p([0.03 + 0.2 * x for x in noise])
    assert v1.result.p == pytest.approx(p1)
    # weak: per-seed Δ 2, −3, 4: mean 1, sd √(1 + 16 + 9) = √13; per-query Δ = 0.01 + 6 × noise
    assert v2.result.delta == pytest.approx(1.0) and v2.seed_sd == pytest.approx(math.sqrt(13))
    p2 = _t_p([0.01 + 6 * x for x in noise])
    assert v2.result.p == pytest.approx(p2)
    # Holm over two: the smaller p × 2, the larger × 1 (never below the first)
    low, high = sorted([p1, p2])
    holm_low, holm_high = min(1.0, 2 * low), min(1.0, max(2 * low, high))
    assert (v1.p_holm, v2.p_holm) == pytest.approx((holm_low, holm_high) if p1 <= p2 else (holm_high, holm_low))
    assert v1.p_holm <= 0.01 < v2.p_holm and v1.word == qv.REPLICATED and v2.word != qv.REPLICATED
    assert v2.below_seed_spread and not v1.below_seed_spread  # the paper's Δ 2.5: below √13, above 2
    assert len(v1.ours_paths) == len(v1.baseline_paths) == 3


def test_claims_files_parse_and_demo_claims_take_their_paper_claims_numbers():
    qac = {c.id: c for c in qclaims.CLAIMS["qac"][0]}
    assert qac["qac-t1-cocondenser-r2-mrr10"].numbers == (38.8, 39.4)
    assert qac["qac-t1-cocondenser-r2-mrr10"].paper_delta == pytest.approx(0.6)
    assert qac["qac-t4-cotmae-mixed-vs-query-mrr10"].direction == -1
    demo = {c.id: c for c in qclaims.CLAIMS["demo"][0]}
    mirror = demo["demo-r2-vs-r1-query"]
    assert mirror.numbers == (37.4, 39.4) and "qac-t1-cocondenser-query-r2-vs-r1-mrr10" in mirror.source
    assert {c.measure for c in demo.values()} == {"nDCG@10"}  # one measure for every demo claim
    llm = {c.id: c for c in qclaims.CLAIMS["llm"][0]}
    assert llm["llm-f3-bottleneck-curriculum-400k-mrr10"].paper_delta is None
    assert llm["llm-f3-bottleneck-curriculum-400k-mrr10"].direction == 1
    assert all(qclaims.CLAIMS[name][1] for name in qclaims.CLAIM_SETS)  # each says what it cannot express


@pytest.mark.parametrize("claim, message", [
    ({"paper": [1, 1]}, "no sign"),
    ({"paper": [1, 2], "direction": "-"}, "contradicts"),
    ({"paper": [1]}, "paper must be"),
    ({"like": "nope"}, "like 'nope'"),
    ({"paper": [1, 2], "colour": "red"}, "unknown keys"),
    ({"paper": [1, 2], "ours": {"schema": "contrastive", "context": "spam"}}, "ours.context"),
])
def test_a_bad_claim_names_file_and_claim(claim, message):
    raw = {"id": "x", "text": "t", "evalset": "e", "measure": "MRR@10",
           "ours": {"schema": "contrastive", "context": "query"}, "baseline": {"schema": "contrastive", "context": "span"},
           **claim}
    with pytest.raises(qclaims.ClaimError, match=message) as err:
        qclaims.parse_claims("qac", {"claims": [raw]})
    assert "claims-qac.yaml: claim x" in str(err.value)
