"""Kill the workflow and rerun it: the trimmed demo, SIGKILLed (whole process group, as a node
failure or an out-of-memory kill would) at a random point, then unlocked and rerun with
``--rerun-incomplete``, completes with every artifact equal to a clean run's.

The kill point is random per run and printed; set QCPT_KILL_SEED to replay one.
"""

from __future__ import annotations

import os
import random
import time

import demo_runs
import pytest
from conftest import job_counts

pytestmark = pytest.mark.slow

def test_demo_killed_at_a_random_job_resumes_to_the_clean_result(tmp_path_factory, tmp_path):
    reference = demo_runs.clean_run(tmp_path_factory)
    config = demo_runs.demo_config(tmp_path, tmp_path / "results")
    total = sum(job_counts(demo_runs.run_demo(config, tmp_path, "-n").stdout).values())
    assert total > 10
    seed = int(os.environ.get("QCPT_KILL_SEED", random.SystemRandom().randrange(1_000_000)))
    rng = random.Random(seed)
    finished_before_kill = rng.randrange(1, total - 2)
    delay = rng.uniform(0.0, 5.0)  # into whatever job runs next
    print(f"QCPT_KILL_SEED={seed}: kill {delay:.1f}s after {finished_before_kill} of {total} jobs finished")

    state = {"seen_at": None}

    def ready(text: str) -> bool:
        if len(demo_runs.FINISHED.findall(text)) >= finished_before_kill and state["seen_at"] is None:
            state["seen_at"] = time.monotonic()
        return state["seen_at"] is not None and time.monotonic() - state["seen_at"] >= delay

    done = demo_runs.kill_when(config, tmp_path, ready, f"{finished_before_kill} finished jobs")
    assert done < total, "the workflow finished before the kill"
    demo_runs.resume(config, tmp_path)

    results = tmp_path / "results"
    problems = demo_runs.resumed_run_problems(reference, results)
    assert not problems, f"(QCPT_KILL_SEED={seed}, killed after {done} jobs)\n" + "\n".join(problems)


def test_pretraining_killed_after_a_checkpoint_resumes_to_the_same_encoder(tmp_path_factory, tmp_path):
    """The kill lands inside pre-training, after its first checkpoint: the rerun resumes from the
    checkpoint (the training log says so) and ends with the weights of an uninterrupted run."""
    reference = demo_runs.clean_run(tmp_path_factory)
    config = demo_runs.demo_config(tmp_path, tmp_path / "results")
    cell = "pretrain/demo/contrastive/span"
    target = str(tmp_path / "results" / cell / "model")
    checkpoints = tmp_path / "results" / cell / "checkpoints"  # (the rule may nest them per parameters)

    def first_checkpoint_saved(_: str) -> bool:
        return checkpoints.is_dir() and any(checkpoints.rglob("checkpoint-2/trainer_state.json"))

    demo_runs.kill_when(config, tmp_path, first_checkpoint_saved, "the first pre-training checkpoint", target)
    assert not (tmp_path / "results" / cell / "model").exists()
    demo_runs.resume(config, tmp_path, target)

    import json

    log = json.loads((tmp_path / "results" / cell / "train_log.json").read_text())
    assert log["resumed_from_steps"] == [2], log["resumed_from_steps"]
    ours = tmp_path / "results" / cell / "model" / "model.safetensors"
    theirs = reference / cell / "model" / "model.safetensors"
    assert ours.read_bytes() == theirs.read_bytes(), "resumed pre-training ended with other weights"
