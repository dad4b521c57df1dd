"""The GPU paths (marker ``gpu``; `python -m pytest -m gpu`, and bench/gpu.sh runs them first): short
bf16 training runs of each pre-training schema and of fine-tuning on CUDA (loss finite and falling,
a killed run resumes from its checkpoint), the pre-training entry point under torchrun with 2
processes (NCCL) where 2 GPUs exist, fp16-autocast encoding close to fp32, and FAISS on the GPU
equal to FAISS on the CPU where faiss-gpu is installed. Each skips, saying why, where its piece is
absent: on a CPU machine all of them do."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qcpt.pretrain.tiny import build_tiny_encoder, write_tiny_corpus
from qcpt.training.checkpoints import RETENTION_ENV

pytestmark = pytest.mark.gpu
ROOT = Path(__file__).resolve().parents[1]
STEPS = 30


def _no_cuda_reason() -> str | None:
    if not torch.cuda.is_available():
        return f"no CUDA device (torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'})"
    return None


@pytest.fixture
def cuda():
    reason = _no_cuda_reason()
    if reason:
        pytest.skip(reason)
    if not torch.cuda.is_bf16_supported():
        pytest.skip(f"{torch.cuda.get_device_name(0)} has no bf16")
    return torch.device("cuda")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu")
    init = build_tiny_encoder(root / "init", hidden=64, layers=2, heads=2, intermediate=128, dropout=0.0)
    passages, queries = write_tiny_corpus(root / "data", documents=48)
    return {"root": root, "init": init, "passages": passages, "queries": queries}


def _losses(log: dict) -> list[float]:
    return [h["loss"] for h in sorted(log["history"], key=lambda h: h["step"]) if "loss" in h]


def _falling(losses: list[float]) -> bool:
    """The second half of the run's losses lower on average than the first (single steps are noisy)."""
    k = len(losses) // 2
    return k > 0 and sum(losses[-k:]) / k < sum(losses[:k]) / k


def _pretrain(tiny, name: str, params: dict) -> tuple[Path, dict]:
    from qcpt.pretrain.driver import main

    out = tiny["root"] / name
    argv = ["--passages", str(tiny["passages"]), "--queries", str(tiny["queries"]), "--init", str(tiny["init"]),
            "--out", str(out / "model"), "--checkpoints", str(out / "ckpt"), "--log", str(out / "log.json"),
            "--params", json.dumps(params)]
    assert main(argv) == 0
    return out, json.loads((out / "log.json").read_text())


@pytest.mark.parametrize("schema", ["contrastive", "cotmae", "bottleneck"])
def test_bf16_pretraining_trains_and_resumes(cuda, tiny, schema, monkeypatch):
    monkeypatch.setenv(RETENTION_ENV, '{"delete_after_final": false}')
    params = {"schema": schema, "context": "query", "batch_size": 8, "max_steps": STEPS, "save_steps": STEPS // 2,
              "logging_steps": 1, "learning_rate": 1e-3, "warmup_ratio": 0.0, "bf16": True}
    out, log = _pretrain(tiny, f"pt-{schema}", params)
    losses = _losses(log)
    assert len(losses) == STEPS and all(math.isfinite(x) for x in losses)
    assert _falling(losses), losses
    # killed after the mid-run checkpoint: the rerun resumes there and ends at the same step
    shutil.rmtree(out / "model")
    shutil.rmtree(out / "ckpt" / f"checkpoint-{STEPS}")
    out, log = _pretrain(tiny, f"pt-{schema}", params)
    assert log["resumed_from_steps"] == [STEPS // 2]
    assert json.loads((out / "model" / "qcpt_pretrain.json").read_text())["final_step"] == STEPS


def test_bf16_finetuning_trains_and_resumes(cuda, tmp_path, monkeypatch):
    from retrieval.test_retrieval_dense import _train_file, tiny_model_dir, write_collection

    from qcpt.retrieval.finetune import driver as ft

    init, collection, train = tiny_model_dir(tmp_path), write_collection(tmp_path), _train_file(tmp_path)
    # all 6 training queries in each batch: the loss of one fixed batch falls steadily
    params = {"max_steps": STEPS, "per_device_batch_size": 6, "train_n_passages": 3, "p_max_len": 24,
              "learning_rate": 3e-4, "save_steps": STEPS // 2, "logging_steps": 1, "bf16": True}
    argv = ["--train", str(train), "--collection", str(collection), "--init", str(init), "--out", str(tmp_path / "o"),
            "--checkpoints", str(tmp_path / "c"), "--log", str(tmp_path / "log.json"), "--params", json.dumps(params),
            "--retention", '{"delete_after_final": false}']
    assert ft.main(argv) == 0
    losses = _losses(json.loads((tmp_path / "log.json").read_text()))
    assert len(losses) == STEPS and all(math.isfinite(x) for x in losses) and _falling(losses), losses
    shutil.rmtree(tmp_path / "o")
    shutil.rmtree(tmp_path / "c" / f"checkpoint-{STEPS}")
    assert ft.main(argv) == 0
    assert json.loads((tmp_path / "log.json").read_text())["resumed_from_steps"] == [STEPS // 2]


def test_torchrun_two_processes_on_two_gpus(cuda, tmp_path):
    if torch.cuda.device_count() < 2:
        pytest.skip(f"needs 2 GPUs, {torch.cuda.device_count()} visible")
    init = build_tiny_encoder(tmp_path / "init")
    passages, queries = write_tiny_corpus(tmp_path / "data", documents=24)
    params = {"schema": "contrastive", "context": "query", "batch_size": 4, "max_steps": 4, "save_steps": 2,
              "logging_steps": 1, "grad_cache_chunk": 2}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--",
           str(ROOT / "scripts" / "qcpt.py"), "pretrain.driver", "--passages", str(passages), "--queries", str(queries),
           "--init", str(init), "--out", str(tmp_path / "model"), "--checkpoints", str(tmp_path / "ckpt"),
           "--log", str(tmp_path / "log.json"), "--params", json.dumps(params)]
    proc = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["world_size"] == 2 and log["parallel_mode"] == "distributed" and log["contrastive_negatives"] == 7
    assert all(math.isfinite(x) for x in _losses(log))


def test_fp16_autocast_encoding_is_close_to_fp32(cuda, tmp_path):
    from retrieval.test_retrieval_dense import DOCS, tiny_model_dir
    from transformers import AutoModel, BertTokenizerFast

    from qcpt.retrieval.vectors import encode_texts

    folder = tiny_model_dir(tmp_path)
    model = AutoModel.from_pretrained(folder).eval()
    tok = BertTokenizerFast.from_pretrained(folder)
    texts = [f"{t} {x}" for _, t, x in DOCS] * 8
    exact = encode_texts(model, tok, texts, max_len=40, pooling="mean", normalize=True, progress=False)
    half = encode_texts(model, tok, texts, max_len=40, pooling="mean", normalize=True, amp=True, progress=False)
    assert next(model.parameters()).device.type == "cuda"  # encode_texts put it on the GPU
    assert half.dtype == np.float32 and not np.array_equal(half, exact)
    np.testing.assert_allclose(half, exact, atol=5e-3)
    assert ((half * exact).sum(axis=1) > 0.9999).all()


def test_faiss_on_the_gpu_equals_faiss_on_the_cpu(cuda):
    import faiss

    from qcpt.retrieval import search, shard_index

    if not shard_index._gpu_faiss():
        pytest.skip(f"faiss {faiss.__version__} has no GPU support here (install faiss-gpu)")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((20_000, 64)).astype(np.float32)
    queries = rng.standard_normal((50, 64)).astype(np.float32)
    ids = [f"d{i}" for i in range(len(vectors))]
    cpu = faiss.IndexFlatIP(64)
    cpu.add(vectors)
    on_gpu = shard_index.build_index(vectors, log_size=False)
    assert type(on_gpu).__name__ != "IndexFlatIP"  # moved to the GPU(s)
    got = search.search_exact(on_gpu, queries, ids, 100)
    want = search.search_exact(cpu, queries, ids, 100)
    assert [[d for d, _ in r] for r in got] == [[d for d, _ in r] for r in want]
    np.testing.assert_allclose([[s for _, s in r] for r in got], [[s for _, s in r] for r in want], rtol=1e-4, atol=1e-4)
