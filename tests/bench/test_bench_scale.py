"""bench/scale.py: the fitting functions, the synthetic text, and a tiny end-to-end run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import scale  # noqa: E402


def test_fit_exponent_recovers_a_power_law():
    sizes = [1_000, 10_000, 100_000, 1_000_000]
    assert scale.fit_exponent(sizes, [3.0 * n**1.7 for n in sizes]) == pytest.approx(1.7, abs=1e-3)
    assert scale.fit_exponent(sizes, [5.0] * 4) == pytest.approx(0.0, abs=1e-3)
    # least squares over noisy points: between the slopes of the pairs
    noisy = [n * f for n, f in zip(sizes, (1.0, 1.3, 0.8, 1.1), strict=True)]
    assert 0.9 < scale.fit_exponent(sizes, noisy) < 1.1
    assert scale.fit_exponent([10], [1.0]) is None
    assert scale.fit_exponent([10, 10], [1.0, 2.0]) is None


def test_pair_exponent_and_extrapolation():
    assert scale.pair_exponent(100_000, 10.0, 1_000_000, 100.0) == pytest.approx(1.0)
    assert scale.pair_exponent(100_000, 10.0, 1_000_000, 1000.0) == pytest.approx(2.0)
    # a quadratic stage: the power law through the two largest sizes predicts it exactly
    x = scale.extrapolate([1_000, 10_000, 100_000], [1e-6 * n**2 for n in (1_000, 10_000, 100_000)], 1_000_000)
    assert x["slope"] == pytest.approx(2.0)
    assert x["value"] == pytest.approx(1e6, rel=1e-3)
    # a large fixed base hides linear growth from the power law; the affine reading keeps it
    rss = [300 + 0.001 * n for n in (10_000, 100_000)]
    y = scale.extrapolate([10_000, 100_000], rss, 10_000_000)
    assert y["affine"] == pytest.approx(300 + 0.001 * 10_000_000)
    assert y["power"] < y["affine"] and y["value"] == y["affine"]


def _stage(times: dict[int, float], rss: dict[int, float]) -> dict:
    rec = {"sizes": {str(n): {"status": "ok", "seconds": times[n], "peak_rss_mib": rss[n]} for n in times}}
    scale.summarise(rec)
    return rec


def test_acceptance_flags_superlinear_and_memory_heavy_stages():
    linear = _stage({100_000: 10.0, 1_000_000: 100.0}, {100_000: 200.0, 1_000_000: 400.0})
    quadratic = _stage({100_000: 1.0, 1_000_000: 100.0}, {100_000: 200.0, 1_000_000: 400.0})
    heavy = _stage({100_000: 1.0, 1_000_000: 10.0}, {100_000: 1_000.0, 1_000_000: 10_000.0})
    assert linear["exponent_time_100k_1m"] == pytest.approx(1.0)
    assert linear["extrapolated_8_8m"]["peak_rss_gib"] < 16
    ok = scale.acceptance({"a": linear, "faiss": heavy})
    assert ok["time_exponent"]["pass"] and ok["memory_8_8m"]["pass"]  # faiss is exempt from the memory limit
    slow = scale.acceptance({"a": linear, "b": quadratic})
    assert not slow["time_exponent"]["pass"]
    assert slow["time_exponent"]["stages"]["b"]["exponent"] == pytest.approx(2.0)
    big = scale.acceptance({"a": linear, "c": heavy})
    assert not big["memory_8_8m"]["pass"] and big["memory_8_8m"]["stages"]["c"] > 16


def test_a_stage_measured_at_one_size_says_so_and_never_passes():
    one = _stage({100_000: 10.0}, {100_000: 200.0})
    linear = _stage({100_000: 10.0, 1_000_000: 100.0}, {100_000: 200.0, 1_000_000: 400.0})
    assert one["extrapolated_8_8m"]["method"] == scale.ONE_SIZE
    assert one["extrapolated_8_8m"]["seconds"] == pytest.approx(10.0 * scale.TARGET_PASSAGES / 100_000, abs=0.1)
    acc = scale.acceptance({"one": one, "linear": linear})
    assert acc["time_exponent"]["stages"]["one"] == {"exponent": None, "from": scale.ONE_SIZE, "pass": False}
    assert acc["time_exponent"]["stages"]["linear"]["pass"] is True
    assert acc["time_exponent"]["pass"] is False
    assert acc["memory_8_8m"]["one_size"]["stages"] == ["one"]


def test_dev_topics_do_not_grow_with_the_passages(tmp_path):
    made = [scale.Inputs(tmp_path / str(n), n, 0, lambda: scale.TextMaker(["alpha", "beta", "gamma"]), 50)
            for n in (100, 1_000)]
    counts = [len(i.dev_topics()[0].read_text().splitlines()) for i in made]
    assert counts == [50, 50]


def test_text_maker_segments_have_the_asked_word_counts():
    maker = scale.TextMaker(["alpha", "beta", "gamma", "delta", "epsilon"])
    rng = np.random.default_rng(0)
    counts = np.array([1, 7, 40, 3])
    texts = maker.segments(rng, counts, sentences=True)
    assert [len(t.split()) for t in texts] == counts.tolist()
    assert all(t.endswith(".") and t[0].isupper() for t in texts)
    chunked = list(maker.chunked(np.random.default_rng(1), counts, max_words=5))
    assert [len(t.split()) for t in chunked] == counts.tolist()
    plain = maker.segments(rng, np.array([4]))
    assert plain[0] == plain[0].lower() and "." not in plain[0]


def test_tiny_run_writes_the_json_and_the_plot(tmp_path):
    out = tmp_path / "scale.json"
    stages = ["passage_order", "query_selection", "pretrain_data", "train_data", "mining", "faiss", "evaluate",
              "audit_queries", "report"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--sizes", "300", "1000",
                           "--stages", *stages, "--dev-queries", "200", "--out", str(out), "--keep", str(tmp_path / "work")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 1000
    assert report["sizes"] == [300, 1000]
    assert "cpu_model" in report["machine"]
    assert set(report["stages"]) == set(stages)
    for name, rec in report["stages"].items():
        assert set(rec["sizes"]) == {"300", "1000"}, name
        for size in ("300", "1000"):
            one = rec["sizes"][size]
            assert one["status"] == "ok", (name, one)
            assert one["seconds"] > 0 and one["peak_rss_mib"] > 10
            # the process's own peak: os.wait4's ru_maxrss is floored at the bench parent's RSS
            if one.get("workers") and one.get("children_max_rss_mib"):  # the parent plus each worker
                assert one["peak_rss_mib"] == pytest.approx(one["vmhwm_mib"] + one["workers"] * one["children_max_rss_mib"],
                                                            abs=0.11), (name, one)
            elif name != "pretrain_data":  # (its processes are checked below)
                assert one["peak_rss_source"] == "VmHWM" and one["peak_rss_mib"] == one["vmhwm_mib"], (name, one)
        for key in ("exponent_time", "exponent_rss", "exponent_time_100k_1m", "exponent_rss_100k_1m"):
            assert key in rec
        assert rec["exponent_time_100k_1m"] is None  # neither 100k nor 1M was run
        assert math.isfinite(rec["exponent_time"])
        assert rec["extrapolated_8_8m"]["seconds"] > 0 and rec["extrapolated_8_8m"]["peak_rss_gib"] > 0
    acc = report["acceptance"]
    assert isinstance(acc["time_exponent"]["pass"], bool) and isinstance(acc["memory_8_8m"]["pass"], bool)
    assert acc["time_exponent"]["stages"]["faiss"]["from"].startswith("300->1000")
    assert report["stages"]["faiss"]["sizes"]["1000"]["vectors_mib"] == pytest.approx(1000 * 768 * 4 / 2**20, abs=0.1)
    # pre-training: two ranks and an import-only baseline, each with its own memory report
    pre = report["stages"]["pretrain_data"]["sizes"]["1000"]
    assert set(pre["processes"]) == {"baseline", "rank0", "rank1"}
    for proc in pre["processes"].values():
        assert proc["peak_rss_source"] == "VmHWM" and proc["pss_mib"] > 0
    assert pre["processes"]["rank0"]["examples"] == 1000
    assert pre["rank_peak_rss_beyond_baseline_mib"] == pytest.approx(
        max(pre["processes"][r]["vmhwm_mib"] for r in ("rank0", "rank1")) - pre["processes"]["baseline"]["vmhwm_mib"], abs=0.2)
    assert "pretrain_rank_memory" in acc and acc["pretrain_rank_memory"]["pass"] is False  # 1M not measured
    # the synthetic inputs are what the stages read: the selection kept 20 queries for every passage
    work = tmp_path / "work" / "run-1000" / "query_selection"
    stats = json.loads((work / "stats.json").read_text())
    assert stats["passages"] == 1000 and stats["queries"] == 20_000
