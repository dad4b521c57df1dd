"""bench/gpu.py's code path at tiny size on the CPU (`--dry`): the JSON it writes has every part,
and the plan reads its rates (the same keys on both sides), so the GPU run is known to work up to the
GPU itself; without CUDA and without --dry it refuses, saying why. bench/gpu.sh is checked for form."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

from qcpt.plan.estimate import Rates


@pytest.fixture(scope="module")
def dry_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-bench") / "dry.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--dry", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def test_dry_run_measures_every_part(dry_json):
    assert dry_json["kind"] == "cpu-dry" and dry_json["device"]["name"] == "cpu"
    for schema in ("contrastive", "cotmae", "bottleneck"):
        part = dry_json["pretrain"][schema]
        assert part["samples_per_second"] > 0 and part["parameters"]["encoder"] > 0
        assert part["tokens_per_sample"] == dry_json["size"]["max_len"]
    ft = dry_json["finetune"]
    assert ft["queries_per_second"] > 0
    assert ft["tokens_per_second"] == pytest.approx(ft["queries_per_second"] * ft["tokens_per_query"], rel=1e-3)
    assert dry_json["encode"]["passages_per_second"] > 0 and dry_json["encode"]["passages"] == 64


def test_the_plan_reads_what_the_bench_writes(dry_json, tmp_path):
    """A CPU dry run is not a GPU's rate (kind cpu-dry is ignored); as a GPU's JSON, its numbers are
    the plan's pre-training, fine-tuning and encoding rates."""
    config = {"results": str(tmp_path / "results")}
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "dry.json").write_text(json.dumps(dry_json))
    assert Rates(config, tmp_path / "bench").benches == []
    as_gpu = {**dry_json, "kind": "gpu", "device": {**dry_json["device"], "name": "NVIDIA H100 80GB HBM3"}}
    (tmp_path / "bench" / "dry.json").write_text(json.dumps(as_gpu))
    rates = Rates(config, tmp_path / "bench")
    assert rates.pretrain("cotmae", "h100").value == dry_json["pretrain"]["cotmae"]["samples_per_second"]
    assert rates.training_tokens("h100").value == dry_json["finetune"]["tokens_per_second"]
    max_len = dry_json["encode"]["max_len"]
    assert rates.encode(max_len, "h100").value == pytest.approx(dry_json["encode"]["passages_per_second"])
    assert rates.pretrain("cotmae", "a100").source.startswith("QAC")  # another GPU: the paper's statement


def test_without_cuda_the_full_bench_refuses():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py")], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr


def test_gpu_sh_runs_the_gpu_group_then_the_bench_within_8_minutes():
    script = (ROOT / "bench" / "gpu.sh").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / "bench" / "gpu.sh")]).returncode == 0
    assert "pytest -m gpu" in script and "bench/gpu.py" in script
    limits = [int(x) for x in __import__("re").findall(r"timeout (\d+)", script)]
    assert len(limits) == 2 and sum(limits) < 8 * 60
