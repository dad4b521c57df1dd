"""The pre-training entry point under ``torchrun --nproc_per_node 2`` (CPU, gloo): DDP trains (with
gradient caching), and the contrastive loss draws its negatives from both processes' batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from transformers import AutoModel

from qcpt.pretrain.tiny import build_tiny_encoder, write_tiny_corpus

ROOT = Path(__file__).resolve().parents[2]


def test_two_process_contrastive_run_uses_the_global_batch(tmp_path):
    init = build_tiny_encoder(tmp_path / "init")
    passages, queries = write_tiny_corpus(tmp_path / "data", documents=12)
    per_device = 3
    params = {"schema": "contrastive", "context": "query", "batch_size": per_device, "max_steps": 3,
              "save_steps": 2, "logging_steps": 1,
              "grad_cache_chunk": 2}  # chunks of 2 + 1: gradient caching under DDP too
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # "--" ends torchrun's own options: without it, argparse would take the script's "--log" as an
    # ambiguous abbreviation of torchrun's --log-dir/--logs-specs.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--",
           str(ROOT / "scripts" / "qcpt.py"), "pretrain.driver", "--passages", str(passages), "--queries", str(queries),
           "--init", str(init), "--out", str(tmp_path / "model"), "--checkpoints", str(tmp_path / "ckpt"),
           "--log", str(tmp_path / "log.json"), "--params", json.dumps(params)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["world_size"] == 2 and log["parallel_mode"] == "distributed"
    assert log["global_batch_size"] == 2 * per_device
    assert log["contrastive_negatives"] == 2 * per_device - 1
    assert sorted(h["step"] for h in log["history"] if "loss" in h) == [1, 2, 3]
    assert AutoModel.from_pretrained(tmp_path / "model").config.model_type == "bert"
