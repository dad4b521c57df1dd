"""A training job longer than its SLURM allocation: at the time-limit signal it saves, SLURM requeues
it, and the chain of submissions ends with the weights of one unbroken run (qcpt/training/time_limit.py),
through profiles/slurm and the executor plugin against a fake SLURM that runs its jobs here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import fake_slurm
import pytest
import yaml
from conftest import ROOT, tiny_config
from demo_runs import ENV

from qcpt.training.time_limit import TIME_LIMIT_MARGIN_S, is_time_limit

CELL = "pretrain/demo/contrastive/span"


def test_sigusr1_is_always_the_time_limit_and_sigterm_only_near_the_end():
    now = 1_000_000.0
    assert is_time_limit("SIGUSR1", {}, now)
    assert is_time_limit("SIGTERM", {}, now)  # no end time: take it for the limit
    assert is_time_limit("SIGTERM", {"SLURM_JOB_END_TIME": str(now + 60)}, now)
    # long before the end: scancel or a preemption, which SLURM requeues itself or not at all
    assert not is_time_limit("SIGTERM", {"SLURM_JOB_END_TIME": str(now + 2 * TIME_LIMIT_MARGIN_S)}, now)
    assert not is_time_limit(None, {}, now)


def _config(folder: Path) -> Path:
    """The trimmed demo with a pre-training long enough to be signalled mid-way, results relative to
    the working folder (so a folder can be copied with its Snakemake records)."""
    cfg = yaml.safe_load(tiny_config(folder).read_text())
    cfg["results"] = "results"
    for spec in [cfg["corpus"], *cfg["collections"].values()]:
        spec["source"] = str(ROOT / spec["source"])
    for spec in [*cfg["evalsets"].values(), *cfg["finetune"]["datasets"].values()]:
        spec["topics"], spec["qrels"] = str(ROOT / spec["topics"]), str(ROOT / spec["qrels"])
    cfg["pretrain"]["schemas"]["contrastive"].update(max_steps=30, save_steps=2)
    path = folder / "time-limit.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _snakemake(workdir: Path, config: Path, *args: str, env: dict[str, str] | None = None,
               timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--configfile", str(config),
           "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, cwd=workdir, env=env or ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def test_a_pretraining_signalled_at_its_time_limit_is_requeued_and_ends_as_an_unbroken_run(tmp_path):
    unbroken, chained = tmp_path / "unbroken", tmp_path / "chained"
    unbroken.mkdir()
    config = _config(tmp_path)
    model = f"results/{CELL}/model"
    # Inputs of the cell, built once and copied with their records, so only the pre-training differs.
    _snakemake(unbroken, config, "--cores", "2", "results/corpus/demo/passages.jsonl",
               "results/corpus/demo/embedded-encoder")
    shutil.copytree(unbroken, chained, symlinks=True)
    _snakemake(unbroken, config, "--cores", "2", model)

    checkpoint = str(chained / "results" / CELL / "checkpoints" / "**" / "checkpoint-2" / "trainer_state.json")
    env = fake_slurm.install(tmp_path / "slurm", term_rule="pretrain", term_when=checkpoint, grace_s=120)
    env.update({k: v for k, v in ENV.items() if k.startswith(("HF_", "TRANSFORMERS_"))})
    out = _snakemake(chained, config, "--profile", str(ROOT / "profiles" / "slurm"), "--jobs", "1",
                     "--latency-wait", "1", "--slurm-init-seconds-before-status-checks", "1", model, env=env)
    jobs = fake_slurm.submissions(tmp_path / "slurm")
    assert [job["state"] for job in jobs] == ["COMPLETED"], (jobs, out.stdout[-3000:])
    assert jobs[0]["runs"] == 2, "the signalled job was not requeued once"
    assert (tmp_path / "slurm" / "state" / "requeues.log").read_text().split() == [str(jobs[0]["jobid"])]
    log = (chained / "results" / CELL / "train_log.json").read_text()
    assert '"resumed_from_steps"' in log
    ours = (chained / model / "model.safetensors").read_bytes()
    assert ours == (unbroken / model / "model.safetensors").read_bytes(), "the chained run ended with other weights"


@pytest.mark.parametrize("rule", ["pretrain", "finetune"])
def test_the_profile_asks_slurm_for_an_early_signal_on_training_rules(rule):
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    extra = profile["set-resources"][rule]["slurm_extra"]
    assert "--signal=TERM@" in extra and "B:" not in extra, extra
    assert profile.get("slurm-requeue") is True


def test_outside_slurm_a_signalled_training_exits_to_be_rerun(monkeypatch, capsys):
    from qcpt.training.time_limit import EXIT_RESUBMIT, TimeLimit, resubmit

    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    limit = TimeLimit()
    limit.received = "SIGTERM"
    with pytest.raises(SystemExit) as exit_:
        resubmit(limit, 7)
    assert exit_.value.code == EXIT_RESUBMIT
    assert "checkpoint at step 7" in capsys.readouterr().out
    assert os.environ.get("SLURM_JOB_ID") is None
