"""Kill the workflow and rerun it: the trimmed demo, SIGKILLed (whole process group, as a node
failure or an out-of-memory kill would) at a random point, then unlocked and rerun with
``--rerun-incomplete``, completes with every artifact equal to a clean run's.

The kill point is random per run and printed; set QCPT_KILL_SEED to replay one.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import job_counts
from demo_runs import (
    ENV,
    EXACT_PATTERNS,
    MODEL_PATTERNS,
    clean_run,
    demo_config,
    differing_files,
    metrics_differences,
    run_demo,
    snakemake_command,
)

pytestmark = pytest.mark.slow

FINISHED = re.compile(r"^Finished jobid: \d+", re.MULTILINE)


def kill_when(config: Path, workdir: Path, ready, what: str, *targets: str, timeout: float = 1800) -> int:
    """Run the workflow, SIGKILL its process group once ``ready(log_text)`` holds; returns the
    number of jobs that had finished."""
    log = workdir / "killed-run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(snakemake_command(config, workdir, *targets), cwd=workdir, env=ENV, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not ready(log.read_text(errors="replace")):
            if proc.poll() is not None:
                raise AssertionError(f"the workflow ended ({proc.returncode}) before {what}:\n"
                                     f"{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"not killed ({proc.returncode}): {what}"
    return len(FINISHED.findall(log.read_text(errors="replace")))


def resume(config: Path, workdir: Path, *targets: str) -> None:
    # SIGKILL leaves Snakemake's lock behind; --unlock is what a user runs after a crash.
    run_demo(config, workdir, "--unlock")
    run_demo(config, workdir, "--rerun-incomplete", *targets)


def test_demo_killed_at_a_random_job_resumes_to_the_clean_result(tmp_path_factory, tmp_path):
    reference = clean_run(tmp_path_factory)
    config = demo_config(tmp_path, tmp_path / "results")
    total = sum(job_counts(run_demo(config, tmp_path, "-n").stdout).values())
    assert total > 10
    seed = int(os.environ.get("QCPT_KILL_SEED", random.SystemRandom().randrange(1_000_000)))
    rng = random.Random(seed)
    finished_before_kill = rng.randrange(1, total - 2)
    delay = rng.uniform(0.0, 5.0)  # into whatever job runs next
    print(f"QCPT_KILL_SEED={seed}: kill {delay:.1f}s after {finished_before_kill} of {total} jobs finished")

    state = {"seen_at": None}

    def ready(text: str) -> bool:
        if len(FINISHED.findall(text)) >= finished_before_kill and state["seen_at"] is None:
            state["seen_at"] = time.monotonic()
        return state["seen_at"] is not None and time.monotonic() - state["seen_at"] >= delay

    done = kill_when(config, tmp_path, ready, f"{finished_before_kill} finished jobs")
    assert done < total, "the workflow finished before the kill"
    resume(config, tmp_path)

    results = tmp_path / "results"
    differ, missing = differing_files(reference, results, EXACT_PATTERNS)
    context = f"(QCPT_KILL_SEED={seed}, killed after {done} jobs)"
    assert not missing, f"{context} built by one run only: {missing}"
    assert not differ, f"{context} differ from the clean run: {differ}"
    problems = metrics_differences(reference, results)
    assert not problems, context + "\n" + "\n".join(problems)
    differ, missing = differing_files(reference, results, MODEL_PATTERNS)
    assert not missing and not differ, f"{context} model weights differ: {differ} {missing}"
    # What the kill left behind beyond the clean run's files: at most hidden temporaries of the
    # atomic writers (never a name a rule or a person would take for an output).
    extra = all_files(results) - all_files(reference)
    assert all(any(part.startswith(".") and ".tmp" in part for part in Path(f).parts) for f in extra), \
        f"{context} the killed run left non-temporary files: {sorted(extra)[:10]}"


def all_files(results: Path) -> set[str]:
    return {str(p.relative_to(results)) for p in results.rglob("*")
            if p.is_file() and "logs" not in p.relative_to(results).parts[:1]
            and "checkpoints" not in p.relative_to(results).parts}


def test_pretraining_killed_after_a_checkpoint_resumes_to_the_same_encoder(tmp_path_factory, tmp_path):
    """The kill lands inside pre-training, after its first checkpoint: the rerun resumes from the
    checkpoint (the training log says so) and ends with the weights of an uninterrupted run."""
    reference = clean_run(tmp_path_factory)
    config = demo_config(tmp_path, tmp_path / "results")
    cell = "pretrain/demo/contrastive/span"
    target = str(tmp_path / "results" / cell / "model")
    checkpoints = tmp_path / "results" / cell / "checkpoints"  # (the rule may nest them per parameters)

    def first_checkpoint_saved(_: str) -> bool:
        return checkpoints.is_dir() and any(checkpoints.rglob("checkpoint-2/trainer_state.json"))

    kill_when(config, tmp_path, first_checkpoint_saved, "the first pre-training checkpoint", target)
    assert not (tmp_path / "results" / cell / "model").exists()
    resume(config, tmp_path, target)

    import json

    log = json.loads((tmp_path / "results" / cell / "train_log.json").read_text())
    assert log["resumed_from_steps"] == [2], log["resumed_from_steps"]
    ours = tmp_path / "results" / cell / "model" / "model.safetensors"
    theirs = reference / cell / "model" / "model.safetensors"
    assert ours.read_bytes() == theirs.read_bytes(), "resumed pre-training ended with other weights"
